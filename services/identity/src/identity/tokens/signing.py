"""Signing keys: RS256 keys that sign access tokens, rotated so that every verifier can
always check every token. A new key is published in the JWKS some time before it signs
anything (verifiers refetch the set on an unknown kid only so often), and the key it replaces
keeps signing until then and stays published until every token it signed has expired; no
I/O."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt
from jose.backends.base import Key

from chassis.aggregate import Aggregate
from chassis.logging import new_id

ALGORITHM = "RS256"
KEY_BITS = 2048
# Verifiers allow this much clock skew past a token's expiry; the key stays published as long.
VERIFY_LEEWAY = timedelta(seconds=60)


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKeyCreated:
    kid: str
    replaces: tuple[str, ...]


@dataclass
class SigningKey(Aggregate):
    kid: str
    private_key: rsa.RSAPrivateKey
    created_at: datetime
    # It signs from then on (published before), until `retired_at` if it is retired.
    active_from: datetime
    retired_at: datetime | None = None

    @classmethod
    def generate(
        cls, now: datetime, active_from: datetime, replaces: Iterable[str] = ()
    ) -> SigningKey:
        key = cls(new_id()[:16], rsa.generate_private_key(65537, KEY_BITS), now, active_from)
        key.record(SigningKeyCreated(key.kid, tuple(replaces)))
        return key

    def signs_at(self, now: datetime) -> bool:
        return self.active_from <= now and (self.retired_at is None or now < self.retired_at)

    def published(self, now: datetime, token_lifetime: timedelta) -> bool:
        """Whether verifiers need it: not retired, or retired no longer ago than a token it
        signed may live."""
        return self.retired_at is None or now < self.retired_at + token_lifetime + VERIFY_LEEWAY

    def private_pem(self, passphrase: bytes) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )

    @staticmethod
    def load_private(pem: bytes, passphrase: bytes) -> rsa.RSAPrivateKey:
        key = serialization.load_pem_private_key(pem, password=passphrase)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a signing key must be RSA")
        return key

    def jwk(self) -> dict[str, str]:
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "kid": self.kid,
            "n": _b64(numbers.n),
            "e": _b64(numbers.e),
        }


class Keyring:
    """The keys in use: the newest one active at the time signs; every published one
    verifies."""

    def __init__(self, token_lifetime: timedelta) -> None:
        self._lifetime = token_lifetime
        self._keys: list[SigningKey] = []
        # Each key built once for python-jose, not parsed from PEM on every token signed.
        self._built: dict[str, Key] = {}

    def replace(self, keys: Iterable[SigningKey]) -> None:
        self._keys = sorted(keys, key=lambda k: k.active_from)
        self._built = {k.kid: self._built.get(k.kid) or _built(k) for k in self._keys}

    @property
    def newest(self) -> SigningKey | None:
        """The key that signs now or will next: the one a rotation replaces."""
        current = [k for k in self._keys if k.retired_at is None]
        return current[-1] if current else None

    def jwks(self, now: datetime) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self._keys if k.published(now, self._lifetime)]}

    def sign(self, claims: Mapping[str, Any], now: datetime) -> str:
        signing = [k for k in self._keys if k.signs_at(now)]
        if not signing:
            raise RuntimeError("no signing key is active: the keyring was never loaded")
        kid = signing[-1].kid
        token: str = jwt.encode(
            dict(claims), self._built[kid], algorithm=ALGORITHM, headers={"kid": kid}
        )
        return token


def _built(key: SigningKey) -> Key:
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return jwk.construct(pem, ALGORITHM)
