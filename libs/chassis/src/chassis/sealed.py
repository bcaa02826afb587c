"""Identifiers kept sealed at rest (a site viewer's device id): stored encrypted, as a JWE
(`dir`, A256GCM, python-jose), and found again through a keyed hash (HMAC-SHA256), never in
clear. A database that leaks shows neither the identifiers nor a way to test a guess
without the key.

Both keys come from one secret (`SEALING_KEY`) through HKDF-SHA256, each for its own use:
the digest a lookup matches on says nothing of the key that encrypts. Each JWE names its key
(`kid`), so that a later key can be told from this one.

    sealer = Sealer.of(settings)
    document = {"device": sealer.seal(device_id), "device_lookup": sealer.lookup(device_id)}
    found = await collection.find_one({"device_lookup": sealer.lookup(asked)})
    sealer.unseal(found["device"])
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Self

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jose import jwe
from jose.exceptions import JOSEError
from pydantic import Field, SecretStr

from chassis.config import ChassisSettings

ENCRYPTION = "A256GCM"
KEY_BYTES = 32
# Development only: every deployment sets its own (on Kubernetes, from the service's Secret).
DEVELOPMENT_SEALING_KEY = "development sealing key: set SEALING_KEY anywhere else"


class SealingSettings(ChassisSettings):
    # Any secret string of 16 characters or more; the keys are derived from it.
    sealing_key: SecretStr = Field(default=SecretStr(DEVELOPMENT_SEALING_KEY))


class Unsealable(ValueError):
    """Not a value this key sealed: another key's, tampered with, or not a JWE at all."""


class Sealer:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("a sealing key needs at least 16 characters")
        self._encryption = _derive(secret, b"sealed values: encryption")
        self._hashing = _derive(secret, b"sealed values: lookup")
        self.key_id = hashlib.sha256(self._encryption).hexdigest()[:16]

    @classmethod
    def of(cls, settings: SealingSettings) -> Self:
        return cls(settings.sealing_key.get_secret_value())

    def __repr__(self) -> str:
        return f"Sealer(key_id={self.key_id!r})"

    def seal(self, value: str) -> str:
        """`value` encrypted (a new nonce each time: the same value seals differently)."""
        token: bytes = jwe.encrypt(
            value.encode(),
            self._encryption,
            algorithm="dir",
            encryption=ENCRYPTION,
            kid=self.key_id,
        )
        return token.decode("ascii")

    def unseal(self, sealed: str) -> str:
        try:
            header = jwe.get_unverified_header(sealed)
        except (JOSEError, ValueError) as exc:
            raise Unsealable("not a sealed value") from exc
        if header.get("kid") != self.key_id or header.get("enc") != ENCRYPTION:
            raise Unsealable("sealed with another key")
        try:
            plain: bytes | None = jwe.decrypt(sealed, self._encryption)
        except JOSEError as exc:
            raise Unsealable("not a value this key sealed") from exc
        if plain is None:
            raise Unsealable("not a value this key sealed")
        return plain.decode()

    def lookup(self, value: str) -> str:
        """The keyed digest to find `value` by (equal values, equal digests)."""
        return hmac.new(self._hashing, value.encode(), hashlib.sha256).hexdigest()


def _derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(
        secret.encode()
    )
