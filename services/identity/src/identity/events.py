"""What the other services are told of each thing that happens in identity, with its audit
record; secrets leave only inside the email that carries them to their owner."""

from __future__ import annotations

from collections.abc import Iterator

from chassis.records import noted, refused, told
from contracts import IntegrationEvent
from contracts import identity as published
from contracts.audits import AuditRecorded
from contracts.emails import EmailRequested, PasswordReset, RegistrationConfirmation
from contracts.emails import Invitation as InvitationEmail
from identity.apikeys.domain import ApiKeyCreated, ApiKeyDeleted, ApiKeyRegenerated
from identity.credentials.domain import (
    ConfirmationRequested,
    LockedOut,
    LoggedIn,
    LoginRefused,
    PasswordChanged,
    RegistrationConfirmed,
    ResetRequested,
)
from identity.invitations.domain import InvitationAccepted, InvitationSent
from identity.organizations.domain import OrganizationCreated, OrganizationProvisioned
from identity.sso.domain import SsoLinked, SsoSignedIn
from identity.tokens.domain import FamilyRevoked
from identity.tokens.signing import SigningKeyCreated
from identity.users.domain import MembershipAdded, RolesChanged, UserRegistered


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    match event:
        case UserRegistered(user_id, kind, email, first_name, last_name, timezone, _):
            yield from told(
                published.UserRegistered(
                    user_id=user_id,
                    kind=published.UserKind(kind.value),
                    email=email,
                    first_name=first_name,
                    last_name=last_name,
                    timezone=timezone,
                ),
                target=f"user:{user_id}",
                usage={"kind": kind.value},
            )
        case MembershipAdded(organization_id, user_id, roles):
            yield from told(
                published.MembershipAdded(
                    organization_id=organization_id, user_id=user_id, roles=sorted(roles)
                ),
                target=f"user:{user_id}",
                detail=f"joined organization {organization_id} as {', '.join(sorted(roles))}",
            )
        case RolesChanged(user_id, roles, assigned, unassigned):
            yield from told(
                published.RolesChanged(
                    user_id=user_id,
                    roles=sorted(roles),
                    assigned=sorted(assigned),
                    unassigned=sorted(unassigned),
                ),
                target=f"user:{user_id}",
            )
        case OrganizationCreated(organization_id, name, kind, created_by):
            yield from told(
                published.OrganizationCreated(
                    organization_id=organization_id, name=name, created_by=created_by
                ),
                target=f"organization:{organization_id}",
                usage={"kind": kind.value},
            )
        case OrganizationProvisioned(organization_id):
            yield _audit("organization_provisioned", f"organization:{organization_id}")
        case ConfirmationRequested(user_id, email, first_name, token, expires_at):
            yield from told(
                published.RegistrationConfirmationRequested(
                    user_id=user_id, email=email, expires_utc=expires_at
                ),
                target=f"user:{user_id}",
            )
            yield EmailRequested(
                to=email,
                to_name=first_name,
                message=RegistrationConfirmation(first_name=first_name, token=token),
                tags=["registration"],
            )
        case RegistrationConfirmed(user_id):
            yield _audit("registration_confirmed", f"user:{user_id}")
        case LoggedIn(user_id):
            yield _audit("logged_in", f"user:{user_id}")
        case LoginRefused(user_id, reason):
            yield refused("identity.login_refused", target=f"user:{user_id}", detail=reason)
        case LockedOut(user_id, until):
            yield _audit("account_locked", f"user:{user_id}", f"until {until.isoformat()}")
        case ResetRequested(user_id, email, first_name, token, expires_at):
            yield from told(
                published.PasswordResetRequested(
                    user_id=user_id, email=email, expires_utc=expires_at
                ),
                target=f"user:{user_id}",
            )
            yield EmailRequested(
                to=email,
                to_name=first_name,
                message=PasswordReset(first_name=first_name, token=token),
                tags=["password-reset"],
            )
        case PasswordChanged(user_id):
            yield _audit("password_changed", f"user:{user_id}")
        case FamilyRevoked(user_id, family_id, reason):
            yield _audit("refresh_tokens_revoked", f"user:{user_id}", f"{family_id}: {reason}")
        case SsoLinked(user_id, provider):
            yield _audit("sso_linked", f"user:{user_id}", f"signs in with {provider}")
        case SsoSignedIn(user_id, provider):
            yield _audit("logged_in", f"user:{user_id}", f"through {provider}")
        case SigningKeyCreated(kid, replaces):
            yield _audit("signing_key_rotated", f"signing_key:{kid}", f"replaces {list(replaces)}")
        case ApiKeyCreated(key_id, user_id, description, expires_at):
            yield from told(
                published.ApiKeyCreated(
                    api_key_id=key_id,
                    user_id=user_id,
                    description=description,
                    expires_utc=expires_at,
                ),
                target=f"api_key:{key_id}",
                detail=f"of user {user_id}",
            )
        case ApiKeyRegenerated(key_id, user_id):
            yield _audit("api_key_regenerated", f"api_key:{key_id}", f"of user {user_id}")
        case ApiKeyDeleted(key_id, user_id):
            yield from told(
                published.ApiKeyDeleted(api_key_id=key_id, user_id=user_id),
                target=f"api_key:{key_id}",
                detail=f"of user {user_id}",
            )
        case InvitationSent() as sent:
            target = f"invitation:{sent.invitation_id}"
            if sent.resent:
                yield _audit("invitation_resent", target, sent.email)
            else:
                yield from told(
                    published.GuestInvited(
                        invitation_id=sent.invitation_id,
                        email=sent.email,
                        invited_by=sent.invited_by,
                        expires_utc=sent.expires_at,
                    ),
                    target=target,
                    usage={},
                )
            yield EmailRequested(
                to=sent.email,
                to_name=sent.first_name,
                message=InvitationEmail(
                    inviter_name=sent.inviter_name,
                    organization_name=sent.organization_name,
                    token=sent.token,
                ),
                tags=["invitation"],
            )
        case InvitationAccepted(invitation_id, _, user_id):
            yield _audit("invitation_accepted", f"invitation:{invitation_id}", f"by user {user_id}")
        case _:
            raise TypeError(f"no integration event for {event!r}")


def _audit(action: str, target: str, detail: str | None = None) -> AuditRecorded:
    return noted(f"identity.{action}", target=target, detail=detail)
