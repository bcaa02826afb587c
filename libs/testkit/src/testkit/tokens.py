"""A test signing key: mints RS256 access tokens and publishes their JWKS, for the tests of
token verification itself (the chassis', the gateway's), which need tokens identity would
never issue. Everything else gets its tokens from identity: the services' own tests from the
session's (testkit.fixtures), everything run whole (`make run`, the end-to-end tests,
`make token`) from the one running.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

ISSUER = "platform-identity"
AUDIENCE = "platform"


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class DevSigningKey:
    def __init__(self, private_pem: bytes, kid: str) -> None:
        self.private_pem = private_pem
        self.kid = kid
        key = serialization.load_pem_private_key(private_pem, password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._public = key.public_key().public_numbers()

    @classmethod
    def generate(cls) -> Self:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return cls(pem, uuid.uuid4().hex[:16])

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.kid,
                    "n": _b64(self._public.n),
                    "e": _b64(self._public.e),
                }
            ]
        }

    def write_jwks(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.jwks()))
        return path

    def claims(
        self,
        *,
        user_id: str | None = None,
        tenant_id: str | None = "tenant-dev",
        roles: list[str] | None = None,
        org_roles: list[str] | None = None,
        expires_in: timedelta = timedelta(hours=1),
        not_before: timedelta | None = None,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
    ) -> dict[str, Any]:
        """An access token's claims, issued now; `not_before` from now sets `nbf`."""
        now = datetime.now(UTC)
        claims: dict[str, Any] = {
            "sub": user_id or f"user-{uuid.uuid4().hex[:8]}",
            "iss": issuer,
            "aud": audience,
            "iat": int(now.timestamp()),
            "exp": int((now + expires_in).timestamp()),
            "roles": roles if roles is not None else ["standard"],
        }
        if tenant_id:
            claims["tenant_id"] = tenant_id
        if org_roles:
            claims["org_roles"] = org_roles
        if not_before is not None:
            claims["nbf"] = int((now + not_before).timestamp())
        return claims

    def sign(self, claims: Mapping[str, Any]) -> str:
        """`claims` signed as they are, whatever they hold or lack."""
        token: str = jwt.encode(
            dict(claims), self.private_pem.decode(), algorithm="RS256", headers={"kid": self.kid}
        )
        return token

    def mint(self, *, without: Collection[str] = (), **claims: Any) -> str:
        """A signed access token with the claims `claims(**claims)` makes, less those named in
        `without`."""
        made = self.claims(**claims)
        for name in without:
            made.pop(name, None)
        return self.sign(made)


def tampered_token(token: str) -> str:
    """`token` with `operations` written into its roles and its signature left as it was."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["operations"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def unsigned_token(claims: dict[str, Any]) -> str:
    """A token with `alg: none` and no signature, as an attacker would send it."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def hs256_with_public_key(key: DevSigningKey, claims: Mapping[str, Any]) -> str:
    """`claims` under `alg: HS256` and `key`'s kid, the MAC keyed with `key`'s public PEM: the
    forgery a verifier falls for when it lets the token choose the algorithm."""
    public_pem = (
        serialization.load_pem_private_key(key.private_pem, password=None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    def part(data: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{part(claims)}"
    mac = hmac.new(public_pem, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


# Tokens every verifier must refuse, by what is wrong with them: `REFUSED_TOKENS[kind](key)`, where
# `key` is the verifier's own signing key. The gateway and the services are each tested on all.
REFUSED_TOKENS: dict[str, Callable[[DevSigningKey], str]] = {
    "garbage": lambda key: "not-a-jwt",
    "expired": lambda key: key.mint(expires_in=timedelta(minutes=-5)),
    "alg none": lambda key: unsigned_token(
        {"sub": "admin", "iss": ISSUER, "aud": AUDIENCE, "exp": 4102444800}
    ),
    "tampered": lambda key: tampered_token(key.mint()),
    "other key": lambda key: DevSigningKey(DevSigningKey.generate().private_pem, key.kid).mint(),
    "wrong audience": lambda key: key.mint(audience="someone-else"),
    "no audience": lambda key: key.mint(without=["aud"]),
    "no issuer": lambda key: key.mint(without=["iss"]),
    "no subject": lambda key: key.mint(without=["sub"]),
    "no expiry": lambda key: key.mint(without=["exp"]),
    "no issued at": lambda key: key.mint(without=["iat"]),
    "not yet valid": lambda key: key.mint(not_before=timedelta(minutes=5)),
    "tenant not a string": lambda key: key.sign({**key.claims(), "tenant_id": 7}),
    "subject not a string": lambda key: key.sign({**key.claims(), "sub": 7}),
    "expiry not a number": lambda key: key.sign({**key.claims(), "exp": None}),
    "organization roles not a list": lambda key: key.sign({**key.claims(), "org_roles": "owner"}),
}
