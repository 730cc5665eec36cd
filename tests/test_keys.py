"""parse_jwks and KeySet.find: which published keys are trusted, and for which alg (pure).

Keys are generated per run with `cryptography` and published with PyJWT's to_jwk,
the way an issuer's JWKS would carry them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authcheck.config.model import ASYMMETRIC_ALGORITHMS
from authcheck.core.errors import InvalidToken, UnknownKeyId
from authcheck.core.keys import JwksError, KeySet, parse_jwks

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})


def _private(kind: str) -> Any:
    if kind == "P-256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "P-384":
        return ec.generate_private_key(ec.SECP384R1())
    if kind == "P-521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "secp256k1":
        return ec.generate_private_key(ec.SECP256K1())
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "Ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "Ed448":
        return ed448.Ed448PrivateKey.generate()
    raise ValueError(kind)


PRIVATE = {kind: _private(kind) for kind in ("P-256", "P-384", "P-521", "secp256k1", "RSA", "Ed25519", "Ed448")}
OTHER_P256 = _private("P-256")


def public_jwk(private: Any, **members: Any) -> dict[str, Any]:
    """The public JWK of a private key, with extra members (kid, alg, use...); None removes one."""
    public = private.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    jwk.update(members)
    return {name: value for name, value in jwk.items() if value is not None}


def private_jwk(private: Any, **members: Any) -> dict[str, Any]:
    if isinstance(private, ec.EllipticCurvePrivateKey):
        jwk = ECAlgorithm.to_jwk(private, as_dict=True)
    elif isinstance(private, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(private, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(private, as_dict=True)
    jwk.pop("key_ops", None)
    return {**jwk, **members}


def jwks(*keys: object) -> str:
    return json.dumps({"keys": list(keys)})


def raw(public: Any) -> bytes:
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


GOOD = public_jwk(PRIVATE["P-384"], kid="good", alg="ES384", use="sig")

PER_ALGORITHM = [
    pytest.param("P-256", "ES256", id="es256-key-kept"),
    pytest.param("P-384", "ES384", id="es384-key-kept"),
    pytest.param("P-521", "ES512", id="es512-key-kept"),
    pytest.param("secp256k1", "ES256K", id="es256k-key-kept"),
    pytest.param("RSA", "RS256", id="rs256-key-kept"),
    pytest.param("RSA", "PS256", id="ps256-key-kept"),
    pytest.param("RSA", "RS512", id="rs512-key-kept"),
    pytest.param("Ed25519", "EdDSA", id="ed25519-eddsa-key-kept"),
    pytest.param("Ed448", "EdDSA", id="ed448-eddsa-key-kept"),
]


@pytest.mark.parametrize(("kind", "alg"), PER_ALGORITHM)
def test_key_with_alg_is_kept_for_that_alg_only(kind: str, alg: str) -> None:
    keys = parse_jwks(jwks(public_jwk(PRIVATE[kind], kid="k1", alg=alg, use="sig")), ASYMMETRIC_ALGORITHMS)
    key = keys.by_kid["k1"]
    assert key.key_id == "k1"
    assert key.algorithms == {alg}
    assert raw(key.key) == raw(PRIVATE[kind].public_key())
    assert keys.skipped == ()
    assert keys.key_ids == {"k1"}
    assert keys.without_kid == ()


WITHOUT_ALG = [
    pytest.param("P-256", {"ES256"}, id="p256-without-alg-es256"),
    pytest.param("P-384", {"ES384"}, id="p384-without-alg-es384"),
    pytest.param("P-521", {"ES512"}, id="p521-without-alg-es512"),
    pytest.param("RSA", RSA_ALGORITHMS, id="rsa-without-alg-every-rsa-alg"),
    pytest.param("Ed25519", {"EdDSA"}, id="ed25519-without-alg-eddsa"),
]


@pytest.mark.parametrize(("kind", "algorithms"), WITHOUT_ALG)
def test_key_without_alg_gets_every_alg_its_type_fits(kind: str, algorithms: set[str]) -> None:
    keys = parse_jwks(jwks(public_jwk(PRIVATE[kind], kid="k1")), ASYMMETRIC_ALGORITHMS)
    assert keys.by_kid["k1"].algorithms == algorithms


ALLOWED = [
    pytest.param("RSA", None, ("RS256", "ES384"), {"RS256"}, id="rsa-narrowed-to-allowed-rs256"),
    pytest.param("RSA", None, ("PS256", "PS512"), {"PS256", "PS512"}, id="rsa-narrowed-to-allowed-ps"),
    pytest.param("RSA", "RS256", ("RS256", "PS256"), {"RS256"}, id="rsa-alg-and-allow-list-intersect"),
    pytest.param("P-384", "ES384", ("ES384",), {"ES384"}, id="es384-allowed"),
]


@pytest.mark.parametrize(("kind", "alg", "allowed", "algorithms"), ALLOWED)
def test_issuer_allow_list_narrows_key_algorithms(
    kind: str, alg: str | None, allowed: tuple[str, ...], algorithms: set[str]
) -> None:
    keys = parse_jwks(jwks(public_jwk(PRIVATE[kind], kid="k1", alg=alg)), allowed)
    assert keys.by_kid["k1"].algorithms == algorithms


RSA_PUBLIC = public_jwk(PRIVATE["RSA"], kid="bad")
P256_PUBLIC = public_jwk(PRIVATE["P-256"], kid="bad")
ED_PUBLIC = public_jwk(PRIVATE["Ed25519"], kid="bad")

SKIPPED = [
    pytest.param(
        {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "bad", "alg": "HS256"},
        "key type 'oct' is not an asymmetric signature key",
        id="symmetric-oct-key-skipped",
    ),
    pytest.param(
        {"kty": "oct", "k": "c2VjcmV0", "kid": "bad"},
        "key type 'oct' is not an asymmetric signature key",
        id="oct-key-without-alg-skipped",
    ),
    pytest.param(
        {**P256_PUBLIC, "crv": "P-192"}, "key type 'EC' is not an asymmetric signature key", id="unknown-curve-skipped"
    ),
    pytest.param(
        {**ED_PUBLIC, "crv": "X25519"},
        "key type 'OKP' is not an asymmetric signature key",
        id="x25519-key-agreement-curve-skipped",
    ),
    pytest.param(
        {k: v for k, v in P256_PUBLIC.items() if k != "kty"},
        "key type None is not an asymmetric signature key",
        id="no-kty-skipped",
    ),
    pytest.param({**RSA_PUBLIC, "use": "enc"}, "use is not sig", id="use-enc-skipped"),
    pytest.param({**P256_PUBLIC, "use": "enc"}, "use is not sig", id="ec-use-enc-skipped"),
    pytest.param(
        {**P256_PUBLIC, "alg": "ES384"}, "its alg does not fit its key type", id="p256-with-es384-alg-skipped"
    ),
    pytest.param({**RSA_PUBLIC, "alg": "ES256"}, "its alg does not fit its key type", id="rsa-with-es256-alg-skipped"),
    pytest.param(
        {**RSA_PUBLIC, "alg": "RSA-OAEP"}, "its alg does not fit its key type", id="rsa-encryption-alg-skipped"
    ),
    pytest.param({**RSA_PUBLIC, "alg": "HS256"}, "its alg does not fit its key type", id="rsa-with-hs256-alg-skipped"),
    pytest.param({**P256_PUBLIC, "alg": "none"}, "its alg does not fit its key type", id="alg-none-skipped"),
    pytest.param({**ED_PUBLIC, "alg": "ES256"}, "its alg does not fit its key type", id="okp-with-es256-alg-skipped"),
    pytest.param(
        private_jwk(PRIVATE["P-256"], kid="bad"),
        "it is a private key; a JWKS must publish public keys only",
        id="private-ec-key-skipped",
    ),
    pytest.param(
        private_jwk(PRIVATE["RSA"], kid="bad"),
        "it is a private key; a JWKS must publish public keys only",
        id="private-rsa-key-skipped",
    ),
    pytest.param(
        private_jwk(PRIVATE["Ed25519"], kid="bad"),
        "it is a private key; a JWKS must publish public keys only",
        id="private-okp-key-skipped",
    ),
    pytest.param("not a key", "not an object", id="string-entry-skipped"),
    pytest.param(["kty", "EC"], "not an object", id="list-entry-skipped"),
    pytest.param(None, "not an object", id="null-entry-skipped"),
]


@pytest.mark.parametrize(("bad", "reason"), SKIPPED)
def test_unusable_key_skipped_with_reason(bad: object, reason: str) -> None:
    keys = parse_jwks(jwks(GOOD, bad), ASYMMETRIC_ALGORITHMS)
    assert keys.skipped == (f"keys[1]: {reason}",)
    assert set(keys.by_kid) == {"good"}
    assert keys.without_kid == ()
    assert keys.key_ids == {"good"}


def test_key_with_no_allowed_algorithm_skipped() -> None:
    keys = parse_jwks(jwks(GOOD, public_jwk(PRIVATE["RSA"], kid="rsa")), ("ES384",))
    assert keys.skipped == ("keys[1]: none of its algorithms is allowed",)
    assert set(keys.by_kid) == {"good"}


MALFORMED = [
    pytest.param({**P256_PUBLIC, "x": "AAAA"}, id="ec-coordinate-too-short"),
    pytest.param({**P256_PUBLIC, "y": P256_PUBLIC["x"]}, id="ec-point-not-on-curve"),
    pytest.param({**P256_PUBLIC, "x": 5}, id="ec-coordinate-not-a-string"),
    pytest.param({k: v for k, v in P256_PUBLIC.items() if k != "y"}, id="ec-missing-y"),
    pytest.param({**RSA_PUBLIC, "n": "!!!"}, id="rsa-modulus-garbage"),
    pytest.param({**RSA_PUBLIC, "n": 5}, id="rsa-modulus-not-a-string"),
    pytest.param({k: v for k, v in RSA_PUBLIC.items() if k != "e"}, id="rsa-missing-exponent"),
    pytest.param({**ED_PUBLIC, "x": "AAAA"}, id="okp-key-too-short"),
]


@pytest.mark.parametrize("bad", MALFORMED)
def test_malformed_key_skipped_as_unreadable_and_others_kept(bad: dict[str, Any]) -> None:
    keys = parse_jwks(jwks(GOOD, bad), ASYMMETRIC_ALGORITHMS)
    assert len(keys.skipped) == 1
    assert keys.skipped[0].startswith("keys[1]: unreadable key (")
    assert set(keys.by_kid) == {"good"}


WRONG_MEMBER_TYPES = [
    pytest.param({**P256_PUBLIC, "alg": ["ES256"]}, id="alg-is-a-list"),
    pytest.param({**P256_PUBLIC, "kty": ["EC"]}, id="kty-is-a-list"),
    pytest.param({**P256_PUBLIC, "crv": ["P-256"]}, id="crv-is-a-list"),
    pytest.param({**P256_PUBLIC, "crv": {"name": "P-256"}}, id="crv-is-an-object"),
]


@pytest.mark.parametrize("bad", WRONG_MEMBER_TYPES)
def test_key_member_of_wrong_type_skipped_and_others_kept(bad: dict[str, Any]) -> None:
    keys = parse_jwks(jwks(GOOD, bad), ASYMMETRIC_ALGORITHMS)
    assert len(keys.skipped) == 1 and keys.skipped[0].startswith("keys[1]: ")
    assert set(keys.by_kid) == {"good"}


def test_duplicate_kid_keeps_the_first_and_says_so() -> None:
    first = public_jwk(PRIVATE["P-256"], kid="same", alg="ES256")
    second = public_jwk(OTHER_P256, kid="same", alg="ES256")
    keys = parse_jwks(jwks(first, second), ASYMMETRIC_ALGORITHMS)
    assert keys.skipped == ("keys[1]: duplicate kid",)
    assert raw(keys.by_kid["same"].key) == raw(PRIVATE["P-256"].public_key())
    assert keys.key_ids == {"same"}


NO_USABLE_KEY = [
    pytest.param(jwks(), "the JWKS has no usable signing key (it is empty)", id="empty-keys-list"),
    pytest.param(
        jwks({"kty": "oct", "k": "c2VjcmV0"}),
        "the JWKS has no usable signing key (keys[0]: key type 'oct' is not an asymmetric signature key)",
        id="only-symmetric-key",
    ),
    pytest.param(
        jwks({**RSA_PUBLIC, "use": "enc"}, {"kty": "oct", "k": "c2VjcmV0"}),
        "the JWKS has no usable signing key (keys[0]: use is not sig; "
        "keys[1]: key type 'oct' is not an asymmetric signature key)",
        id="every-reason-listed",
    ),
]


@pytest.mark.parametrize(("document", "message"), NO_USABLE_KEY)
def test_no_usable_key_is_a_jwks_error(document: str, message: str) -> None:
    with pytest.raises(JwksError) as caught:
        parse_jwks(document, ASYMMETRIC_ALGORITHMS)
    assert str(caught.value) == message


NOT_A_JWKS = [
    pytest.param(b"not json", "the JWKS is not valid JSON", id="not-json"),
    pytest.param(b"", "the JWKS is not valid JSON", id="empty-document"),
    pytest.param(b"\xff\xfe\x00{", "the JWKS is not valid JSON", id="not-utf8"),
    pytest.param(b"[]", 'the JWKS is not an object with a "keys" list', id="json-array"),
    pytest.param(b"null", 'the JWKS is not an object with a "keys" list', id="json-null"),
    pytest.param(b'"keys"', 'the JWKS is not an object with a "keys" list', id="json-string"),
    pytest.param(b"{}", 'the JWKS is not an object with a "keys" list', id="object-without-keys"),
    pytest.param(b'{"keys": {}}', 'the JWKS is not an object with a "keys" list', id="keys-is-an-object"),
    pytest.param(b'{"keys": null}', 'the JWKS is not an object with a "keys" list', id="keys-is-null"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, "the JWKS is not valid JSON", id="deeply-nested-json"),
]


@pytest.mark.parametrize(("document", "message"), NOT_A_JWKS)
def test_document_that_is_not_a_jwks_is_a_jwks_error(document: bytes, message: str) -> None:
    with pytest.raises(JwksError) as caught:
        parse_jwks(document, ASYMMETRIC_ALGORITHMS)
    assert str(caught.value) == message


def test_jwks_error_is_a_value_error() -> None:
    assert issubclass(JwksError, ValueError)


# -- kid-less keys and key_ids ------------------------------------------------------------


def test_key_without_kid_is_identified_by_thumbprint() -> None:
    keys = parse_jwks(jwks(public_jwk(PRIVATE["P-256"]), GOOD), ASYMMETRIC_ALGORITHMS)
    assert len(keys.without_kid) == 1
    key_id = keys.without_kid[0].key_id
    assert key_id.startswith("thumbprint:")
    assert keys.key_ids == {"good", key_id}


THUMBPRINT_STABLE = [
    pytest.param({"use": "sig"}, id="use-does-not-change-thumbprint"),
    pytest.param({"alg": "ES256"}, id="alg-does-not-change-thumbprint"),
    pytest.param({"x5t": "abc", "ext": True}, id="other-members-do-not-change-thumbprint"),
]


@pytest.mark.parametrize("extra", THUMBPRINT_STABLE)
def test_thumbprint_depends_on_the_key_only(extra: dict[str, Any]) -> None:
    plain = parse_jwks(jwks(public_jwk(PRIVATE["P-256"])), ASYMMETRIC_ALGORITHMS)
    decorated = parse_jwks(jwks(public_jwk(PRIVATE["P-256"], **extra)), ASYMMETRIC_ALGORITHMS)
    assert plain.key_ids == decorated.key_ids


def test_distinct_kidless_keys_have_distinct_ids() -> None:
    keys = parse_jwks(
        jwks(
            public_jwk(PRIVATE["P-256"]),
            public_jwk(OTHER_P256),
            public_jwk(PRIVATE["RSA"]),
            public_jwk(PRIVATE["Ed25519"]),
        ),
        ASYMMETRIC_ALGORITHMS,
    )
    assert len(keys.without_kid) == 4
    assert len(keys.key_ids) == 4


def test_non_string_kid_is_skipped_and_others_kept() -> None:
    """RFC 7517 §4.5: kid is a string; a key that breaks the format is not trusted."""
    keys = parse_jwks(
        jwks(public_jwk(PRIVATE["P-256"], kid=7), public_jwk(PRIVATE["P-384"], kid="ok")), ASYMMETRIC_ALGORITHMS
    )
    assert set(keys.by_kid) == {"ok"} and keys.without_kid == ()
    assert keys.skipped == ("keys[0]: its kid is not a string",)


# -- KeySet.find -------------------------------------------------------------------------


def key_set(*keys: dict[str, Any]) -> KeySet:
    return parse_jwks(jwks(*keys), ASYMMETRIC_ALGORITHMS)


ES256_K1 = public_jwk(PRIVATE["P-256"], kid="es256-1", alg="ES256")
ES384_K1 = public_jwk(PRIVATE["P-384"], kid="es384-1", alg="ES384")
RS_K1 = public_jwk(PRIVATE["RSA"], kid="rsa-1")  # no alg: every RSA alg
RS256_K1 = public_jwk(PRIVATE["RSA"], kid="rs256-1", alg="RS256")

FOUND = [
    pytest.param((ES256_K1, ES384_K1), "es384-1", "ES384", "es384-1", id="kid-and-alg-match"),
    pytest.param((RS_K1,), "rsa-1", "PS384", "rsa-1", id="alg-less-rsa-key-any-rsa-alg"),
    pytest.param((public_jwk(PRIVATE["P-256"], alg="ES256"),), None, "ES256", None, id="no-kid-one-kidless-key"),
    pytest.param((ES256_K1,), None, "ES256", "es256-1", id="no-kid-one-key-with-kid"),
    pytest.param((ES256_K1, ES384_K1), None, "ES384", "es384-1", id="no-kid-one-candidate-for-alg"),
]


@pytest.mark.parametrize(("keys", "kid", "alg", "expected"), FOUND)
def test_find_returns_the_signing_key(
    keys: tuple[dict[str, Any], ...], kid: str | None, alg: str, expected: str | None
) -> None:
    found = key_set(*keys).find(kid, alg)
    assert alg in found.algorithms
    if expected is None:
        assert found.key_id.startswith("thumbprint:")
    else:
        assert found.key_id == expected


NOT_FOUND = [
    pytest.param(
        (ES256_K1,),
        "nope",
        "ES256",
        UnknownKeyId,
        "token_kid_unknown",
        "The token's signing key (kid) is not in the issuer's key set.",
        id="unknown-kid-refused",
    ),
    pytest.param(
        (public_jwk(PRIVATE["P-256"]),),
        "anything",
        "ES256",
        UnknownKeyId,
        "token_kid_unknown",
        "The token's signing key (kid) is not in the issuer's key set.",
        id="kid-never-matches-a-kidless-key",
    ),
    pytest.param(
        (ES256_K1,),
        "es256-1",
        "ES384",
        InvalidToken,
        "token_alg_key_mismatch",
        "The token's algorithm does not match its signing key.",
        id="ec-key-wrong-curve-alg-refused",
    ),
    pytest.param(
        (ES256_K1,),
        "es256-1",
        "RS256",
        InvalidToken,
        "token_alg_key_mismatch",
        "The token's algorithm does not match its signing key.",
        id="ec-key-rsa-alg-refused",
    ),
    pytest.param(
        (RS256_K1,),
        "rs256-1",
        "PS256",
        InvalidToken,
        "token_alg_key_mismatch",
        "The token's algorithm does not match its signing key.",
        id="key-alg-rs256-refuses-ps256",
    ),
    pytest.param(
        (RS_K1,),
        "rsa-1",
        "HS256",
        InvalidToken,
        "token_alg_key_mismatch",
        "The token's algorithm does not match its signing key.",
        id="rsa-key-hs256-refused",
    ),
    pytest.param(
        (ES256_K1, public_jwk(OTHER_P256, kid="es256-2", alg="ES256")),
        None,
        "ES256",
        InvalidToken,
        "token_kid_missing",
        "The token has no kid and the issuer publishes several keys.",
        id="no-kid-two-candidates-refused",
    ),
    pytest.param(
        (public_jwk(PRIVATE["P-256"]), public_jwk(OTHER_P256)),
        None,
        "ES256",
        InvalidToken,
        "token_kid_missing",
        "The token has no kid and the issuer publishes several keys.",
        id="no-kid-two-kidless-candidates-refused",
    ),
]


@pytest.mark.parametrize(("keys", "kid", "alg", "denial", "reason", "message"), NOT_FOUND)
def test_find_refuses(
    keys: tuple[dict[str, Any], ...], kid: str | None, alg: str, denial: type[InvalidToken], reason: str, message: str
) -> None:
    with pytest.raises(InvalidToken) as caught:
        key_set(*keys).find(kid, alg)
    assert type(caught.value) is denial
    assert caught.value.reason == reason
    assert caught.value.message == message
    assert caught.value.status == 401


def test_find_without_kid_and_no_candidate_refused() -> None:
    with pytest.raises(InvalidToken) as caught:
        key_set(ES256_K1).find(None, "ES512")
    assert type(caught.value) is InvalidToken
    assert caught.value.reason == "token_kid_missing"
