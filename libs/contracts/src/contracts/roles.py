"""Platform roles: what a token's `roles` claim may hold, whichever service reads it."""

from __future__ import annotations

from enum import StrEnum


class PlatformRole(StrEnum):
    # Every user keeps it.
    STANDARD = "standard"
    # The people who run the platform: may act on any user's records within a tenant.
    OPERATIONS = "operations"
