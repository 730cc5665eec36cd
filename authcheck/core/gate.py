"""The decision: original request -> rule -> token -> identity -> requirement -> answer.

Everything here is pure and synchronous, so the service, the gRPC server, library mode,
`authcheck explain` and `authcheck test` all decide through this one path. The one step
that needs I/O, refreshing an issuer's keys for a token whose `kid` is unknown, is left
to the caller: such a decision names the issuer in `refresh_issuer`, and the caller may
refresh once and decide again (service.decisions does, for the async edges).

Report_only rules (see RuleSet.matching) are judged on the way, with the same caller,
and only reported in `Decision.report_only`: they never change the answer.

`decide_known` is the same decision for the requests the service sees most: an original
request read before (from the same header lines) with one plain `Bearer <token>`. A token
in the verified-token cache is answered from its digest alone; any other token goes the
full token road without the header lines being read again. It answers None whenever a step
would need more (an await for an unknown kid's keys included), and the caller then asks
`decide`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import NamedTuple, TypeVar

from authcheck.config.model import Access, Config, Rule
from authcheck.core.authenticator import Authenticator, token_digest
from authcheck.core.bearer import extract_bearer
from authcheck.core.captures import NO_CAPTURES, Captures
from authcheck.core.errors import Denial, RouteDenied, UnknownKeyId
from authcheck.core.expiring_cache import LRU
from authcheck.core.identity import Identity, anonymous_headers
from authcheck.core.original_request import Headers, OriginalRequest, read_original_request
from authcheck.core.rules import Matched, RuleSet, authorize

_D = TypeVar("_D", bound=Denial)
_MEMO_LIMIT = 4096  # original requests remembered by the header lines they were read from


class ReportOnly(NamedTuple):
    """What a report_only rule would have answered: logged and counted, never sent."""

    rule: str
    status: int
    code: str  # "ok" for 200


class Decision(NamedTuple):
    status: int
    request: OriginalRequest | None = None
    rule: Rule | None = None
    identity: Identity | None = None
    denial: Denial | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()  # on 200: the identity headers
    refresh_issuer: str | None = None  # a token of this issuer named an unknown kid
    captures: Captures = NO_CAPTURES  # what the deciding rule's `{name}`s took
    report_only: tuple[ReportOnly, ...] = ()  # report_only rules matched before the deciding one


class Gate:
    def __init__(self, config: Config, authenticator: Authenticator) -> None:
        self._ingress = config.ingress
        self._rules = RuleSet(config)
        self._authenticator = authenticator
        self._anonymous_headers = anonymous_headers(config.headers)
        # raw header lines -> (original request, what it matched), or the request's refusal
        self._requests: LRU[Hashable, tuple[OriginalRequest, Matched] | Denial] = LRU(_MEMO_LIMIT)

    @property
    def authenticator(self) -> Authenticator:
        return self._authenticator

    def decide(
        self,
        headers: Headers,
        verify_method: str,
        envoy_subpath: str | None,
        *,
        raw_headers: Hashable = None,
    ) -> Decision:
        """`raw_headers`, when given, is everything `headers` was read from (the /verify
        request's method, path and header lines, less Authorization and X-Request-Id):
        reading the original request is pure, so its outcome is remembered by it. The
        /verify query string is never read (SPEC: Caddy appends the client's)."""
        known = self._requests.get(raw_headers) if raw_headers is not None else None
        if known is None:
            try:
                request = read_original_request(headers, verify_method, envoy_subpath, self._ingress)
            except Denial as denial:
                known = _kept(denial)
            else:
                known = request, self._rules.matching(request)
            if raw_headers is not None:
                self._requests.put(raw_headers, known)
        if isinstance(known, Denial):
            return Decision(known.status, denial=known)
        return self._decide_matched(known[0], known[1], headers.get("authorization", ()))

    def decide_known(self, raw_headers: Hashable, authorization: bytes | None) -> Decision | None:
        """`decide`, for a request read before and when it needs no await: see the module
        docstring. `authorization` is the one Authorization header's raw value (None when
        there is not exactly one)."""
        known = self._requests.get(raw_headers)
        if known is None or authorization is None or isinstance(known, Denial):
            return None
        request, matched = known
        rule = matched.rule
        if rule is None or rule.access is Access.ANONYMOUS:
            return None
        if not authorization.startswith(b"Bearer "):
            return None
        identity = None
        try:
            # A hit means the rest of the header is a token extract_bearer once returned: no
            # space, comma or tab, not too long. So extract_bearer reads this header as it.
            identity = self._authenticator.recall_verified(token_digest(authorization[7:]))
        except Denial as denial:
            _kept(denial)
            return None  # the full road answers it, with its report_only rules
        if identity is None:  # the token road from its start, on the request already read
            decision = self._decide_matched(request, matched, (authorization.decode("latin-1"),))
            return None if decision.refresh_issuer is not None else decision
        reports = _reports(matched, identity) if matched.report_only else ()
        try:
            authorize(rule, identity, matched.captures)
            return Decision(200, request, rule, identity, None, identity.headers, None, matched.captures, reports)
        except Denial as denial:
            return Decision(denial.status, request, rule, identity, _kept(denial), (), None, matched.captures, reports)

    def decide_for(self, request: OriginalRequest, authorization: Sequence[str]) -> Decision:
        """The decision for an original request already read from the proxy's headers."""
        return self._decide_matched(request, self._rules.matching(request), authorization)

    def _decide_matched(self, request: OriginalRequest, matched: Matched, authorization: Sequence[str]) -> Decision:
        caller = _Caller(self._authenticator, authorization)
        reports = _reports(matched, caller) if matched.report_only else ()
        rule, captures = matched.rule, matched.captures
        identity = None
        try:
            if rule is None:
                raise RouteDenied("No rule allows this request.")
            if rule.access is Access.ANONYMOUS:
                return self._anonymous(request, rule, caller, captures, reports)
            identity = caller.identity()
            authorize(rule, identity, captures)
            return Decision(200, request, rule, identity, None, identity.headers, None, captures, reports)
        except UnknownKeyId as unknown:
            return Decision(unknown.status, request, rule, None, _kept(unknown), (), unknown.issuer, captures, reports)
        except Denial as denial:
            return Decision(denial.status, request, rule, identity, _kept(denial), (), None, captures, reports)

    def _anonymous(
        self, request: OriginalRequest, rule: Rule, caller: _Caller, captures: Captures, reports: tuple[ReportOnly, ...]
    ) -> Decision:
        """On an anonymous rule a valid token still names the caller; anything else is ignored."""
        identity = refresh_issuer = None
        if caller.authorization:
            try:
                identity = caller.identity()
            except UnknownKeyId as unknown:
                refresh_issuer = _kept(unknown).issuer
            except Denial as denial:
                _kept(denial)
        allowed_headers = identity.headers if identity else self._anonymous_headers
        return Decision(200, request, rule, identity, None, allowed_headers, refresh_issuer, captures, reports)


def _kept(denial: _D) -> _D:
    """The denial without its traceback and the exception it replaced. Caught, a denial still
    holds the frames it passed through (the replaced one: its own, which link to the frames
    below), and they hold the denial (the caller's `_outcome`, a local): a reference cycle that
    only the cycle collector frees, which a stream of refused tokens would keep busy (see
    tests/test_gate_cycles.py). Each raise gives it a traceback again: every catch drops it."""
    denial.__context__ = denial.__cause__ = None
    return denial.with_traceback(None)


class _Caller:
    """The request's bearer token, authenticated at most once however many rules ask."""

    def __init__(self, authenticator: Authenticator, authorization: Sequence[str]) -> None:
        self.authorization = authorization
        self._authenticator = authenticator
        self._outcome: Identity | Denial | None = None

    def identity(self) -> Identity:
        """The caller's identity; raises the same Denial each time it is asked (one request's
        few raises: its traceback does not outlive the request)."""
        if self._outcome is None:
            try:
                self._outcome = self._authenticator.authenticate(extract_bearer(self.authorization))
            except Denial as denial:
                self._outcome = _kept(denial)
        if isinstance(self._outcome, Denial):
            raise self._outcome
        return self._outcome


def _reports(matched: Matched, caller: _Caller | Identity) -> tuple[ReportOnly, ...]:
    return tuple(_report(rule, captures, caller) for rule, captures in matched.report_only)


def _report(rule: Rule, captures: Captures, caller: _Caller | Identity) -> ReportOnly:
    """What a report_only rule would have answered. It asks for the token as an answering
    rule would, but an unknown kid only reports 401: a refresh is for answers that count."""
    if rule.access is Access.ANONYMOUS:
        return ReportOnly(rule.name, 200, "ok")
    try:
        authorize(rule, caller if isinstance(caller, Identity) else caller.identity(), captures)
    except Denial as denial:
        return ReportOnly(rule.name, _kept(denial).status, denial.code)
    return ReportOnly(rule.name, 200, "ok")
