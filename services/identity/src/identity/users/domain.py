"""End users, people and machines, their platform roles and their memberships of
organizations; no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from zoneinfo import available_timezones

from chassis.aggregate import Aggregate
from chassis.errors import Conflict, NotFound, RuleViolation
from chassis.logging import new_id
from contracts.roles import OrganizationRole, PlatformRole

# What the founder of an organization holds in it.
FOUNDER_ROLES = frozenset(
    {OrganizationRole.OWNER, OrganizationRole.BILLING_ADMIN, OrganizationRole.MEMBER}
)
MEMBER_ROLES = frozenset({OrganizationRole.MEMBER})


class UserKind(StrEnum):
    PERSON = "person"
    MACHINE = "machine"


class UnknownTimezone(RuleViolation):
    pass


class UnknownRole(RuleViolation):
    pass


class StandardRoleKept(RuleViolation):
    pass


class AlreadyMember(Conflict):
    pass


class NotMember(NotFound):
    pass


@dataclass(frozen=True)
class Membership:
    organization_id: str
    roles: frozenset[str]


@dataclass(frozen=True)
class UserRegistered:
    user_id: str
    kind: UserKind
    email: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    organization_id: str


@dataclass(frozen=True)
class MembershipAdded:
    organization_id: str
    user_id: str
    roles: frozenset[str]


@dataclass(frozen=True)
class RolesChanged:
    user_id: str
    roles: frozenset[str]
    assigned: frozenset[str]
    unassigned: frozenset[str]


def platform_roles(roles: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(roles)
    unknown = wanted - set(PlatformRole)
    if unknown:
        raise UnknownRole(
            f"unknown platform roles {sorted(unknown)}; known: {sorted(PlatformRole)}"
        )
    return wanted


def checked_timezone(timezone: str | None) -> str | None:
    if timezone is not None and timezone not in available_timezones():
        raise UnknownTimezone(f"unknown timezone {timezone!r}; use an IANA name (Europe/Paris)")
    return timezone


@dataclass
class EndUser(Aggregate):
    id: str
    kind: UserKind
    email: str | None
    first_name: str | None
    last_name: str | None
    timezone: str | None
    roles: frozenset[str]
    default_organization_id: str
    registered_at: datetime
    memberships: list[Membership] = field(default_factory=list)

    @classmethod
    def register(
        cls,
        kind: UserKind,
        organization_id: str,
        organization_roles: frozenset[str],
        now: datetime,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        timezone: str | None = None,
        operator: bool = False,
        user_id: str | None = None,
    ) -> EndUser:
        """A new person or machine, member of `organization_id` from the start (its own
        personal organization, or the one a signed-in user registers a machine in)."""
        roles = {PlatformRole.STANDARD} | ({PlatformRole.OPERATIONS} if operator else set())
        user = cls(
            user_id or new_id(),
            kind,
            email,
            first_name,
            last_name,
            checked_timezone(timezone),
            frozenset(roles),
            organization_id,
            now,
        )
        user.record(
            UserRegistered(user.id, kind, email, first_name, last_name, timezone, organization_id)
        )
        user.join(organization_id, organization_roles)
        return user

    @property
    def display_name(self) -> str:
        names = " ".join(n for n in (self.first_name, self.last_name) if n)
        return names or self.email or self.id

    def roles_in(self, organization_id: str) -> frozenset[str]:
        for membership in self.memberships:
            if membership.organization_id == organization_id:
                return membership.roles
        return frozenset()

    def is_member(self, organization_id: str) -> bool:
        return bool(self.roles_in(organization_id))

    def join(self, organization_id: str, roles: frozenset[str]) -> None:
        if self.is_member(organization_id):
            raise AlreadyMember(f"user {self.id} is already a member of {organization_id}")
        self.memberships.append(Membership(organization_id, roles))
        self.record(MembershipAdded(organization_id, self.id, roles))

    def choose_default_organization(self, organization_id: str) -> None:
        """The organization the user's tokens act for from their next one."""
        if not self.is_member(organization_id):
            raise NotMember(f"user {self.id} is not a member of organization {organization_id}")
        self.default_organization_id = organization_id

    def assign(self, roles: Iterable[str]) -> None:
        wanted = platform_roles(roles)
        self._change_roles(self.roles | wanted)

    def unassign(self, roles: Iterable[str]) -> None:
        unwanted = platform_roles(roles)
        if PlatformRole.STANDARD in unwanted:
            raise StandardRoleKept("every user keeps the standard role; it cannot be removed")
        self._change_roles(self.roles - unwanted)

    def _change_roles(self, roles: frozenset[str]) -> None:
        if roles == self.roles:
            return
        assigned, unassigned = roles - self.roles, self.roles - roles
        self.roles = roles
        self.record(RolesChanged(self.id, roles, assigned, unassigned))
