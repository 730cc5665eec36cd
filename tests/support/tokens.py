"""Signing keys and token minting for the tests (keys are generated per run, never stored)."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

AUDIENCE = "https://api.example.com"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg.startswith("ES"):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg == "EdDSA":
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk.pop("key_ops", None)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


def new_key(alg: str = "ES384", kid: str | None = None) -> SigningKey:
    if alg == "ES384":
        private: Any = ec.generate_private_key(ec.SECP384R1())
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg in ("RS256", "PS256"):
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(alg)
    return SigningKey(kid or f"{alg.lower()}-{id(private):x}", alg, private)


def claims(issuer: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": "user-1",
        "client_id": "client-1",
        "scope": "read:orders profile",
        "iat": now,
        "exp": now + 600,
        "jti": f"jti-{time.time_ns()}",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(key: SigningKey, issuer: str, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
    header = {"kid": key.kid, "typ": "at+jwt", **(headers or {})}
    header = {k: v for k, v in header.items() if v is not None}
    return jwt.encode(claims(issuer, **overrides), key.private, algorithm=key.alg, headers=header)


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A hand-built token with whatever header and signature an attacker picks."""
    return f"{b64(header)}.{b64(payload)}.{b64(signature) if signature else ''}"


def sign_raw(key: SigningKey, header: bytes, payload: bytes) -> str:
    """A validly signed token over JSON bytes as given (jwt.encode cannot write some, e.g. nested 2,000 deep)."""
    algorithm = jwt.get_algorithm_by_name(key.alg)
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    return f"{signing_input.decode()}.{b64(algorithm.sign(signing_input, algorithm.prepare_key(key.private)))}"
