"""The gate's decision, completed with the one I/O step it leaves to its caller.

A token may name a `kid` its issuer's key set does not have yet (a key rotated in since
the last fetch). The gate then answers as if the key were unknown and names the issuer;
here the issuer's keys are refreshed once (throttled and shared, see key_store) and the
request is decided again.
"""

from __future__ import annotations

from collections.abc import Callable

from authcheck.core.errors import KeysUnavailable
from authcheck.core.gate import Decision
from authcheck.service.key_store import KeyStore


async def decide_with_refresh(decide: Callable[[], Decision], key_store: KeyStore) -> Decision:
    decision = decide()
    if decision.refresh_issuer is None:
        return decision
    keys = key_store.issuers.get(decision.refresh_issuer)
    if keys is None:
        return decision  # a reload removed the issuer since the gate looked: nothing to refresh
    try:
        refreshed = await keys.refresh_for_unknown_kid()
    except KeysUnavailable as unavailable:
        if decision.denial is None:
            return decision  # an anonymous rule answers without the token's identity
        # The kid may be a key rotated in during the outage: "retry", not "sign in again".
        return decision._replace(status=unavailable.status, denial=unavailable, refresh_issuer=None)
    return decide() if refreshed else decision
