"""Roles: what a token's `roles` (platform) and `org_roles` (in its tenant) claims may hold,
whichever service reads them."""

from __future__ import annotations

from enum import StrEnum


class PlatformRole(StrEnum):
    # Every user keeps it.
    STANDARD = "standard"
    # The people who run the platform: may act on any user's records within a tenant.
    OPERATIONS = "operations"


class OrganizationRole(StrEnum):
    """A member's role in the organization (tenant) their token acts for."""

    MEMBER = "member"
    # Runs the organization: its users, keys, billing, and its emails and audit trail.
    OWNER = "owner"
    # Looks after the organization's billing details.
    BILLING_ADMIN = "billing_admin"
