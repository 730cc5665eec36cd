"""The decision: original request -> rule -> token -> identity -> requirement -> answer.

Everything here is pure except the key refresh an unknown kid may trigger, so the
service, `authcheck explain` and the tests all decide through this one path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from authcheck.authenticator import Authenticator
from authcheck.bearer import extract_bearer
from authcheck.config import Access, Config, Rule
from authcheck.errors import Denial
from authcheck.identity import Identity, anonymous_headers
from authcheck.original_request import Headers, OriginalRequest, read_original_request
from authcheck.rules import RuleSet, authorize


@dataclass(frozen=True, slots=True)
class Decision:
    status: int
    request: OriginalRequest | None = None
    rule: Rule | None = None
    identity: Identity | None = None
    denial: Denial | None = None
    headers: tuple[tuple[bytes, bytes], ...] = ()  # on 200: the identity headers


class Gate:
    def __init__(self, config: Config, authenticator: Authenticator) -> None:
        self._ingress = config.ingress
        self._rules = RuleSet(config)
        self._authenticator = authenticator
        self._anonymous_headers = anonymous_headers(config.headers)

    async def decide(
        self, headers: Headers, verify_method: str, envoy_subpath: str | None, verify_query: str
    ) -> Decision:
        try:
            request = read_original_request(headers, verify_method, envoy_subpath, verify_query, self._ingress)
        except Denial as denial:
            return Decision(denial.status, denial=denial)
        return await self.decide_for(request, headers.get("authorization", ()))

    async def decide_for(self, request: OriginalRequest, authorization: Sequence[str]) -> Decision:
        """The decision for an original request already read from the proxy's headers."""
        rule = identity = None
        try:
            rule = self._rules.match(request)
            if rule.access is Access.ANONYMOUS:
                identity = await self._identity_if_any(authorization)
                allowed_headers = identity.headers if identity else self._anonymous_headers
                return Decision(200, request, rule, identity, None, allowed_headers)
            identity = await self._authenticator.authenticate(extract_bearer(authorization))
            authorize(rule, identity)
            return Decision(200, request, rule, identity, None, identity.headers)
        except Denial as denial:
            return Decision(denial.status, request, rule, identity, denial)

    async def _identity_if_any(self, authorization: Sequence[str]) -> Identity | None:
        """On an anonymous rule a valid token still names the caller; anything else is ignored."""
        if not authorization:
            return None
        try:
            return await self._authenticator.authenticate(extract_bearer(authorization))
        except Denial:
            return None
