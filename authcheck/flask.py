"""Flask: `Authcheck(app, "authcheck.yaml")` and its `@auth.requires_auth` decorator.

    auth = Authcheck(app, "authcheck.yaml")      # or Authcheck(app, guard=guard); or init_app(app)

    @app.get("/orders/<int:order_id>")
    @auth.requires_auth                          # the config's rules decide this request
    def order(order_id): return {"by": g.auth.subject}

    @app.post("/orders")
    @auth.requires_auth(scopes=["write:orders"]) # this view's own requirement; rules not consulted
    def create_order(): ...

A denied request gets /verify's answer (status, JSON body, WWW-Authenticate, Retry-After)
and the view does not run. Install with the `flask` extra.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, overload

from flask import Flask, Response, current_app, g, request

from authcheck.config.model import Config
from authcheck.library.guard import Guard, Requirement
from authcheck.library.server_request import wsgi_request

__all__ = ["Authcheck"]

View = TypeVar("View", bound=Callable[..., Any])
ConfigLike = str | os.PathLike[str] | Mapping[str, Any] | Config

_EXTENSION = "authcheck"


class Authcheck:
    """The Flask extension: one Guard per app, in `app.extensions["authcheck"]`."""

    def __init__(self, app: Flask | None = None, config: ConfigLike | None = None, *, guard: Guard | None = None):
        self._config = config
        self._guard = guard
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, config: ConfigLike | None = None, *, guard: Guard | None = None) -> None:
        """`config` (a file path or the config as a mapping) or `guard`; else the constructor's,
        else `app.config["AUTHCHECK_CONFIG"]`."""
        chosen = guard or self._guard
        if chosen is None:
            source = config or self._config or app.config.get("AUTHCHECK_CONFIG")
            if source is None:
                raise ValueError(
                    "authcheck needs its config: Authcheck(app, 'authcheck.yaml'), Authcheck(app, guard=guard), "
                    "or app.config['AUTHCHECK_CONFIG'] = 'authcheck.yaml' before init_app(app)"
                )
            chosen = Guard.of(source)
        app.extensions[_EXTENSION] = chosen

    @property
    def guard(self) -> Guard:
        """The Guard of the app handling the current request."""
        guard = current_app.extensions.get(_EXTENSION)
        if not isinstance(guard, Guard):
            raise RuntimeError("authcheck is not set up for this app: call Authcheck(app, ...) or auth.init_app(app)")
        return guard

    @overload
    def requires_auth(self, view: View) -> View: ...

    @overload
    def requires_auth(
        self, *, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None
    ) -> Callable[[View], View]: ...

    def requires_auth(
        self,
        view: View | None = None,
        *,
        scopes: Iterable[str] | None = None,
        any_scopes: Iterable[str] | None = None,
    ) -> View | Callable[[View], View]:
        """Bare: the config's rules decide. With `scopes` (every one) or `any_scopes` (at
        least one): a valid token holding them, whatever the rules say. The caller is `g.auth`."""
        requirement = Requirement.of(scopes, any_scopes)
        if view is None:
            return lambda view: self._wrap(view, requirement)
        return self._wrap(view, requirement)

    def _wrap(self, view: View, requirement: Requirement | None) -> View:
        @functools.wraps(view)
        def checked(*args: Any, **kwargs: Any) -> Any:
            outcome = self.guard.check(*wsgi_request(request.environ), requirement)
            if not outcome.allowed:
                status, headers, body = outcome.answer()
                return Response(body, status, headers)
            g.auth = outcome.auth
            return current_app.ensure_sync(view)(*args, **kwargs)

        return checked  # type: ignore[return-value]
