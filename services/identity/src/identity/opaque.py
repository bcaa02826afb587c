"""Opaque secrets handed to a person or program once (refresh tokens, API keys, emailed
confirmation, invitation and reset tokens) and kept only as their digest.

Each secret is 256 random bits, so a plain SHA-256 digest cannot be reversed or guessed
through, and finding one by its digest is a single indexed read.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Secret:
    """A new secret and its digest: the secret goes to its holder, the digest is stored."""

    value: str
    digest: str

    @classmethod
    def new(cls, prefix: str = "") -> Secret:
        value = prefix + secrets.token_urlsafe(32)
        return cls(value, digest(value))

    def __repr__(self) -> str:
        # Never in a log line or a traceback's locals.
        return f"Secret(digest={self.digest[:12]}...)"
