"""The short road for an ordinary signed token: PyJWT's own algorithm objects, without `jwt.decode`.

`jwt.decode` re-parses the token and checks its base64 one character at a time in Python,
which costs as much as an RS256 signature check. An ordinary token (canonical unpadded
base64url, no `b64` header, a key PyJWT does not warn about, ordinary claims) is checked
here instead with the same algorithm object, key preparation and claim checks; anything
else answers False and goes to `jwt.decode` (authcheck.core.tokens), so every unusual
refusal still carries PyJWT's reason. tests/test_tokens_parity.py compares the two roads.

This road leans on PyJWT APIs that are not part of `jwt.decode`: the import fails, naming
the version needed, when the installed PyJWT lacks one, rather than quietly slowing down.
"""

from __future__ import annotations

import binascii
import re
from typing import Any

import jwt
from jwt.algorithms import Algorithm
from jwt.exceptions import PyJWTError

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import InvalidToken
from authcheck.core.keys import SigningKey

REQUIRED_PYJWT = "PyJWT >= 2.13"
_NEEDED = ((jwt, "get_algorithm_by_name"), (Algorithm, "check_key_length"), (Algorithm, "prepare_key"))
if not all(callable(getattr(owner, name, None)) for owner, name in _NEEDED):
    raise ImportError(
        f"authcheck needs {REQUIRED_PYJWT} (jwt.get_algorithm_by_name and Algorithm.check_key_length); "
        f"PyJWT {getattr(jwt, '__version__', '?')} is installed: upgrade it (pip install 'PyJWT[crypto]>=2.13')"
    )

_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# An unpadded base64url segment: what every issuer writes. Anything else goes to PyJWT.
_BASE64URL = re.compile("[A-Za-z0-9_-]*").fullmatch
# Last characters whose unused low bits are zero, by segment length % 4: PyJWT refuses
# a segment that does not re-encode to itself, which is one that ends otherwise.
_CLEAN_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_REQUIRED = ("exp", "iss", "aud")


def base64url_decode(segment: str) -> bytes:
    """base64.urlsafe_b64decode(segment + padding), without its layers: same bytes, same errors."""
    return binascii.a2b_base64(segment.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(segment) % 4))


def verify_ordinary(
    token: str, header: dict[str, Any], claims: dict[str, Any], issuer: IssuerConfig, signing_key: SigningKey
) -> bool:
    """True when the signature of an ordinary token verifies and PyJWT's claim checks but the dates
    pass; raises InvalidToken for a bad signature; False when `jwt.decode` must decide (to name it).

    Mirrors `jwt.decode(..., algorithms=[alg], audience=..., issuer=...,
    options={"require": ["exp", "iss", "aud"]})`: same base64 rules, same algorithm object and
    key preparation, same claim checks. The header and claims are the token's own bytes through
    the same json.loads as PyJWT would read them. The dates are checked by the caller, with its clock.
    """
    if "b64" in header:
        return False
    header_segment, payload_segment, signature_segment = token.split(".")
    if not (
        _canonical_base64url(header_segment)
        and _canonical_base64url(payload_segment)
        and _canonical_base64url(signature_segment)
    ):
        return False
    try:
        algorithm = jwt.get_algorithm_by_name(header["alg"])
        key = algorithm.prepare_key(signing_key.key)
        if algorithm.check_key_length(key) is not None:
            return False  # PyJWT warns about short keys: let it
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode()
        valid = algorithm.verify(signing_input, key, base64url_decode(signature_segment))
    except (PyJWTError, NotImplementedError, ValueError):  # an odd key or algorithm: jwt.decode names it
        return False
    if not valid:
        raise InvalidToken("The token's signature does not verify.", "token_signature_invalid")
    return _ordinary_claims(claims, issuer)


def _canonical_base64url(segment: str) -> bool:
    """True when PyJWT reads the segment as base64url without complaint (and unpadded)."""
    rest = len(segment) % 4
    if rest == 1 or _BASE64URL(segment) is None:
        return False
    return rest == 0 or segment[-1] in _CLEAN_LAST[rest]


def _ordinary_claims(claims: dict[str, Any], issuer: IssuerConfig) -> bool:
    """True when PyJWT's claim checks other than the dates (required; iss; aud; sub; jti) all pass."""
    for name in _REQUIRED:
        if claims.get(name) is None:
            return False
    if claims["iss"] != issuer.issuer or not isinstance(claims["iss"], str):
        return False
    aud = claims["aud"]
    if isinstance(aud, str):
        if aud not in issuer.audiences:
            return False
    elif not (
        isinstance(aud, list) and all(isinstance(a, str) for a in aud) and any(a in aud for a in issuer.audiences)
    ):
        return False
    if "sub" in claims and not isinstance(claims["sub"], str):
        return False
    return "jti" not in claims or isinstance(claims["jti"], str)
