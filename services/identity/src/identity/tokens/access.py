"""Access tokens: RS256 JWTs naming the user, the organization (tenant) they act for, their
platform roles and their roles in that organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chassis.logging import new_id
from identity.tokens.signing import Keyring
from identity.users.domain import EndUser


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime


class AccessTokens:
    def __init__(
        self, keyring: Keyring, *, issuer: str, audience: str, lifetime: timedelta
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._audience = audience
        self.lifetime = lifetime

    def issue(self, user: EndUser, now: datetime, lifetime: timedelta | None = None) -> AccessToken:
        """A token acting for the user's default organization, valid from `now`."""
        # Whole seconds, as the `exp` claim says it.
        expires = (now + (lifetime or self.lifetime)).replace(microsecond=0)
        organization = user.default_organization_id
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user.id,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": new_id(),
            "kind": user.kind.value,
            "tenant_id": organization,
            "roles": sorted(user.roles),
            "org_roles": sorted(user.roles_in(organization)),
        }
        return AccessToken(self._keyring.sign(claims, now), expires)
