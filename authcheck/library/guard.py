"""`Guard`: the /verify decision for the requests a Python web app serves itself.

One Guard holds what one authcheck worker holds: the config's rules, the issuers' keys
(fetched by threads, see library.keys) and the verified-token cache, and decides
through the same core Gate. It is safe to share between threads, usable from sync and
async code, and the framework adapters (authcheck.flask, .starlette, .fastapi, .django)
are thin layers over it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from authcheck.config.file import load_config, parse_config
from authcheck.config.model import Access, Config, Match, Rule
from authcheck.core.answers import denial_answer
from authcheck.core.authenticator import Authenticator
from authcheck.core.errors import DecisionFailed, Denial, KeysUnavailable
from authcheck.core.gate import Decision, Gate
from authcheck.core.original_request import OriginalRequest, named_request
from authcheck.library.forks import reset_after_fork
from authcheck.library.identity import Auth
from authcheck.library.keys import KeyStore

log = logging.getLogger("authcheck")

_MEMO_LIMIT = 4096  # requests remembered by (method, host, target); targets are client-chosen


@dataclass(frozen=True, slots=True)
class Requirement:
    """A view's own requirement (`requires_auth(scopes=...)`): a valid token holding every
    one of `scopes`, or at least one of `any_scopes`; the config's rules are not consulted."""

    scopes: tuple[str, ...] = ()
    any_scopes: tuple[str, ...] = ()

    @classmethod
    def of(cls, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None) -> Requirement | None:
        """None (the rules decide) when neither is given."""
        if scopes is None and any_scopes is None:
            return None
        if scopes is not None and any_scopes is not None:
            raise ValueError(
                "requires_auth takes scopes=[...] (all of them) or any_scopes=[...] (one of them), not both"
            )
        for given in (scopes, any_scopes):
            if isinstance(given, str):
                raise TypeError(f"scopes are a list of scope names: write [{given!r}], not {given!r}")
        return cls(tuple(scopes or ()), tuple(any_scopes or ()))

    def rule(self) -> Rule:
        if self.any_scopes:
            return Rule("requires_auth", Match(), Access.ANY_SCOPE, self.any_scopes)
        if self.scopes:
            return Rule("requires_auth", Match(), Access.ALL_SCOPES, self.scopes)
        return Rule("requires_auth", Match(), Access.AUTHENTICATED)


class Outcome:
    """A decision as the app sees it: allowed with `auth` (None on an anonymous rule
    without a token), or denied with the answer /verify would give."""

    __slots__ = ("auth", "denial", "status")

    def __init__(self, status: int, auth: Auth | None = None, denial: Denial | None = None) -> None:
        self.status = status
        self.auth = auth
        self.denial = denial

    @property
    def allowed(self) -> bool:
        return self.denial is None

    def answer(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """The denial's status, headers (WWW-Authenticate, Retry-After...) and JSON body, as /verify's."""
        if self.denial is None:
            raise ValueError("an allowed request has no denial to answer with")
        status, headers, body = denial_answer(self.denial, head=False)
        return status, [(name.decode(), value.decode("latin-1")) for name, value in headers], body

    def __repr__(self) -> str:
        return f"Outcome(status={self.status}, auth={self.auth!r}, denial={self.denial!r})"


class Guard:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.keys = KeyStore(config.issuers)
        self._authenticator = Authenticator(config, self.keys.issuers, _log_dropped_header)
        self._gate = Gate(config, self._authenticator)  # the config's rules
        self._gates: dict[Requirement, Gate] = {}  # a view's own requirement instead
        # (method, host, target) -> the request it names, or its refusal: reading it is pure
        self._requests: dict[tuple[str, str | None, str], OriginalRequest | Denial] = {}
        self._forked()
        reset_after_fork(self)

    def _forked(self) -> None:
        # The caches behind a decision are plain dicts, built for one event loop: one
        # decision at a time (a lock held for microseconds, never during I/O).
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Guard:
        """From an authcheck config file (YAML or TOML); raises ConfigError listing every problem."""
        return cls(load_config(path))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], source: str = "<mapping>") -> Guard:
        """From the config file's content as Python data; raises ConfigError listing every problem."""
        return cls(parse_config(dict(data), source))

    @classmethod
    def of(cls, config: str | os.PathLike[str] | Mapping[str, Any] | Config | Guard) -> Guard:
        """What the framework adapters take: a Guard, a Config, a mapping or a file path."""
        if isinstance(config, Guard):
            return config
        if isinstance(config, Config):
            return cls(config)
        if isinstance(config, Mapping):
            return cls.from_mapping(config)
        return cls.from_file(config)

    # -- deciding ------------------------------------------------------------------------

    def check(
        self,
        method: str,
        host: str | None,
        target: str,
        authorization: Sequence[str] = (),
        requirement: Requirement | None = None,
    ) -> Outcome:
        """Decide one request: its method, Host header, raw request target (path, query
        allowed) and Authorization header values. Blocks at most ~2 s (an unknown kid)."""
        if not self.keys.ready:
            self.keys.start()
            self.keys.wait_first_fetch()  # a process's first requests: its keys are on their way
        request = self._read(method, host, target)
        if isinstance(request, Denial):
            return Outcome(request.status, None, request)
        gate = self._gate if requirement is None else self._gate_for(requirement)
        decision = self._decide(gate, request, authorization)
        if decision.refresh_issuer is not None:
            refreshed = _attempt(self.keys.issuers[decision.refresh_issuer].refresh_for_unknown_kid)
            decision = self._after_refresh(decision, refreshed, gate, request, authorization)
        return _outcome(decision, authorization)

    async def check_async(
        self,
        method: str,
        host: str | None,
        target: str,
        authorization: Sequence[str] = (),
        requirement: Requirement | None = None,
    ) -> Outcome:
        """`check` for async code: a key refresh is waited for in a worker thread, not the loop."""
        if not self.keys.ready:
            self.keys.start()
            await asyncio.to_thread(self.keys.wait_first_fetch)
        request = self._read(method, host, target)
        if isinstance(request, Denial):
            return Outcome(request.status, None, request)
        gate = self._gate if requirement is None else self._gate_for(requirement)
        decision = self._decide(gate, request, authorization)
        if decision.refresh_issuer is not None:
            refresh = self.keys.issuers[decision.refresh_issuer].refresh_for_unknown_kid
            refreshed = await asyncio.to_thread(_attempt, refresh)
            decision = self._after_refresh(decision, refreshed, gate, request, authorization)
        return _outcome(decision, authorization)

    def _read(self, method: str, host: str | None, target: str) -> OriginalRequest | Denial:
        """The request the app names, or its refusal; remembered, as reading it is pure."""
        key = (method, host, target)
        request = self._requests.get(key)
        if request is None:
            try:
                request = named_request(method, target, host)
            except Denial as denial:
                request = denial.with_traceback(None)
            if len(self._requests) >= _MEMO_LIMIT:
                self._requests.clear()
            self._requests[key] = request
        return request

    def _gate_for(self, requirement: Requirement) -> Gate:
        """A gate whose one rule is the requirement, sharing the keys and the token cache."""
        gate = self._gates.get(requirement)
        if gate is None:
            gate = self._gates[requirement] = Gate(
                replace(self.config, rules=(requirement.rule(),)), self._authenticator
            )
        return gate

    def _decide(self, gate: Gate, request: OriginalRequest, authorization: Sequence[str]) -> Decision:
        try:
            with self._lock:
                return gate.decide_for(request, authorization)
        except Exception:  # a bug must never become a 500 or an open door
            log.exception("authcheck: failed to decide")
            return Decision(503, request, denial=DecisionFailed())

    def _after_refresh(
        self,
        decision: Decision,
        refreshed: bool | KeysUnavailable,
        gate: Gate,
        request: OriginalRequest,
        authorization: Sequence[str],
    ) -> Decision:
        """As service.decisions.decide_with_refresh, once the refresh is over."""
        if isinstance(refreshed, KeysUnavailable):
            if decision.denial is None:
                return decision  # an anonymous rule answers without the token's identity
            # The kid may be a key rotated in during the outage: "retry", not "sign in again".
            return decision._replace(status=refreshed.status, denial=refreshed, refresh_issuer=None)
        return self._decide(gate, request, authorization) if refreshed else decision

    # -- life ----------------------------------------------------------------------------

    def not_ready(self) -> dict[str, str]:
        """Issuers without usable keys, with the reason: for the app's readiness check."""
        return self.keys.not_ready()

    def close(self) -> None:
        """Stop refreshing keys (decisions go on with the keys held, until they are too old)."""
        self.keys.close()

    def __enter__(self) -> Guard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _attempt(step: Callable[[], bool]) -> bool | KeysUnavailable:
    try:
        return step()
    except KeysUnavailable as unavailable:
        return unavailable


def _outcome(decision: Decision, authorization: Sequence[str]) -> Outcome:
    if decision.denial is not None:
        return Outcome(decision.status, None, decision.denial)
    if decision.identity is None:
        return Outcome(decision.status)
    return Outcome(decision.status, Auth(decision.identity, authorization))


def _log_dropped_header(header: str, why: str) -> None:
    # Identity headers are for proxies; in library mode they travel nowhere, so say nothing.
    pass
