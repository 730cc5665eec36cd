"""Django: `AuthcheckMiddleware` (the config's rules on every request) and `@requires_auth`.

    # settings.py
    AUTHCHECK = {"config": BASE_DIR / "authcheck.yaml"}      # or {"config": {...the config as a dict...}}
    MIDDLEWARE = [..., "authcheck.django.AuthcheckMiddleware"]

    # views.py
    @requires_auth(scopes=["write:orders"])                   # this view's own requirement
    def create_order(request): return JsonResponse({"by": request.auth.subject})

The caller is `request.auth` (None on an anonymous rule without a token). A denial is
/verify's answer (status, JSON body, WWW-Authenticate, Retry-After); the view does not
run. Sync and async (ASGI) both work. Install with the `django` extra.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, overload

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from authcheck.library.guard import Guard, Outcome, Requirement
from authcheck.library.server_request import AppRequest, asgi_request, wsgi_request

__all__ = ["AuthcheckMiddleware", "get_guard", "requires_auth"]

View = TypeVar("View", bound=Callable[..., Any])

_guard: Guard | None = None
_guard_lock = threading.Lock()


def get_guard() -> Guard:
    """The process's Guard, built from `settings.AUTHCHECK` on first use."""
    global _guard
    if _guard is None:
        with _guard_lock:
            if _guard is None:
                _guard = _guard_from_settings()
    return _guard


def _guard_from_settings() -> Guard:
    options = getattr(settings, "AUTHCHECK", None)
    if not isinstance(options, dict) or ("config" in options) == ("guard" in options):
        raise ImproperlyConfigured(
            'authcheck needs settings.AUTHCHECK = {"config": "path/to/authcheck.yaml"} '
            '(or {"config": {...the config as a dict...}}, or {"guard": a Guard})'
        )
    if "guard" in options:
        guard = options["guard"]
        if not isinstance(guard, Guard):
            raise ImproperlyConfigured('settings.AUTHCHECK["guard"] must be an authcheck.Guard')
        return guard
    return Guard.of(options["config"])


def _app_request(request: HttpRequest) -> AppRequest:
    scope = getattr(request, "scope", None)  # an ASGIRequest
    return asgi_request(scope) if isinstance(scope, dict) else wsgi_request(request.META)


def _denial_response(outcome: Outcome) -> HttpResponse:
    status, headers, body = outcome.answer()
    return HttpResponse(body, status=status, headers=dict(headers))


class AuthcheckMiddleware:
    """Decides every request by the config's rules before any view runs."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.guard = get_guard()
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self._acall(request)
        outcome = self.guard.check(*_app_request(request))
        if not outcome.allowed:
            return _denial_response(outcome)
        request.auth = outcome.auth  # type: ignore[attr-defined]
        return self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        outcome = await self.guard.check_async(*_app_request(request))
        if not outcome.allowed:
            return _denial_response(outcome)
        request.auth = outcome.auth  # type: ignore[attr-defined]
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response


@overload
def requires_auth(view: View) -> View: ...


@overload
def requires_auth(
    *, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None
) -> Callable[[View], View]: ...


def requires_auth(
    view: View | None = None, *, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None
) -> View | Callable[[View], View]:
    """Bare: the config's rules decide this request. With `scopes` (every one) or
    `any_scopes` (at least one): a valid token holding them, whatever the rules say."""
    requirement = Requirement.of(scopes, any_scopes)
    if view is None:
        return lambda view: _wrap(view, requirement)
    return _wrap(view, requirement)


def _wrap(view: View, requirement: Requirement | None) -> View:
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def checked_async(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            outcome = await get_guard().check_async(*_app_request(request), requirement)
            if not outcome.allowed:
                return _denial_response(outcome)
            request.auth = outcome.auth  # type: ignore[attr-defined]
            return await view(request, *args, **kwargs)

        return checked_async  # type: ignore[return-value]

    @functools.wraps(view)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        outcome = get_guard().check(*_app_request(request), requirement)
        if not outcome.allowed:
            return _denial_response(outcome)
        request.auth = outcome.auth  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return checked  # type: ignore[return-value]
