"""User profiles: one per end user, the rules, with no I/O.

A profile is made once, when identity tells of a new user, for the organization the user
registered with. A person's profile looks for a default avatar once (Gravatar, by email)
after it is made; an avatar uploaded since wins over whatever that lookup finds. Every
change records what changed, never the values: the events leave the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum, StrEnum
from functools import cache
from zoneinfo import available_timezones

import phonenumbers
import pycountry

from chassis.aggregate import Aggregate
from chassis.errors import RuleViolation

MAX_NAME = 100
MAX_ADDRESS_LINE = 200


class ProfileRuleViolation(RuleViolation):
    pass


class Kind(StrEnum):
    PERSON = "person"
    MACHINE = "machine"


class AvatarSource(StrEnum):
    GRAVATAR = "gravatar"
    UPLOAD = "upload"


class Lookup(StrEnum):
    """Where a person's default-avatar lookup stands; machines have none."""

    PENDING = "pending"
    DONE = "done"


class Keep(Enum):
    """A field an edit leaves as it is (absent from the request)."""

    KEEP = "keep"


KEEP = Keep.KEEP


# --- values, each checked where it is made ----------------------------------------------------


def checked_name(value: str, what: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise ProfileRuleViolation(f"{what} must not be blank")
    if len(name) > MAX_NAME:
        raise ProfileRuleViolation(f"{what} must be at most {MAX_NAME} characters")
    return name


def checked_phone_number(value: str) -> str:
    """The number as E.164 (+4930123456), if it is a possible international number."""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ProfileRuleViolation(
            f"phone number {value!r} is not an international number (E.164: +4930123456)"
        ) from exc
    if not phonenumbers.is_possible_number(number):
        raise ProfileRuleViolation(f"phone number {value!r} is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def checked_timezone(value: str) -> str:
    if value not in _timezones():
        raise ProfileRuleViolation(f"unknown time zone {value!r}; use an IANA name (Europe/Paris)")
    return value


def checked_country_code(value: str) -> str:
    """The ISO 3166-1 alpha-2 code, upper case, if it names a country."""
    code = value.strip().upper()
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise ProfileRuleViolation(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
    return code


def _line(value: str | None, what: str, *, required: bool = False) -> str | None:
    line = " ".join(value.split()) if value is not None else ""
    if not line:
        if required:
            raise ProfileRuleViolation(f"{what} is required")
        return None
    if len(line) > MAX_ADDRESS_LINE:
        raise ProfileRuleViolation(f"{what} must be at most {MAX_ADDRESS_LINE} characters")
    return line


@dataclass(frozen=True)
class ContactAddress:
    line1: str
    city: str
    country_code: str
    line2: str | None = None
    state: str | None = None
    zip: str | None = None

    def normalised(self) -> ContactAddress:
        """The address as kept (spaces collapsed, the country code upper case), if valid."""
        return ContactAddress(
            line1=_line(self.line1, "line1", required=True) or "",
            city=_line(self.city, "city", required=True) or "",
            country_code=checked_country_code(self.country_code),
            line2=_line(self.line2, "line2"),
            state=_line(self.state, "state"),
            zip=_line(self.zip, "zip"),
        )


@dataclass(frozen=True)
class Avatar:
    """What the profile shows: an image uploaded through images (`image_id`), or one found
    elsewhere (Gravatar), which is no image of ours."""

    url: str
    source: AvatarSource
    image_id: str | None = None

    @classmethod
    def uploaded(cls, image_id: str, url: str) -> Avatar:
        return cls(url, AvatarSource.UPLOAD, image_id)

    @classmethod
    def found(cls, url: str) -> Avatar:
        return cls(url, AvatarSource.GRAVATAR)


@dataclass(frozen=True)
class ProfileEdit:
    """A change of names, phone number and time zone; KEEP leaves a field as it is. None
    clears the phone number or the time zone, and sets the display name back to the
    default (the names)."""

    first_name: str | Keep = KEEP
    last_name: str | Keep = KEEP
    display_name: str | Keep | None = KEEP
    phone_number: str | Keep | None = KEEP
    timezone: str | Keep | None = KEEP


# --- what happens to a profile (domain events) ------------------------------------------------


@dataclass(frozen=True)
class ProfileCreated:
    user_id: str
    kind: Kind


@dataclass(frozen=True)
class ProfileChanged:
    user_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class ContactAddressChanged:
    user_id: str
    country_code: str


@dataclass(frozen=True)
class AvatarChanged:
    user_id: str
    avatar: Avatar
    previous_image_id: str | None


@dataclass(frozen=True)
class AvatarRemoved:
    """`image_id`: the uploaded image it showed, to be deleted; None when there is nothing
    to delete (a found avatar, or an image deleted already)."""

    user_id: str
    image_id: str | None
    because_deleted: bool = False


# --- the aggregate ----------------------------------------------------------------------------


@dataclass
class Profile(Aggregate):
    user_id: str
    tenant_id: str
    kind: Kind
    email: str | None
    first_name: str | None
    last_name: str | None
    display_name: str
    created_at: datetime
    phone_number: str | None = None
    timezone: str | None = None
    contact: ContactAddress | None = None
    avatar: Avatar | None = None
    # None for machines: they have no default avatar to look for.
    avatar_lookup: Lookup | None = None
    updated_at: datetime | None = field(default=None)

    @classmethod
    def create(
        cls,
        user_id: str,
        tenant_id: str,
        kind: Kind,
        now: datetime,
        *,
        email: str | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        timezone: str | None = None,
    ) -> Profile:
        """The profile of a user identity registered. Identity checked what it sent; a time
        zone this host does not know is left out rather than losing the profile."""
        first = " ".join(first_name.split())[:MAX_NAME] if first_name else None
        last = " ".join(last_name.split())[:MAX_NAME] if last_name else None
        profile = cls(
            user_id=user_id,
            tenant_id=tenant_id,
            kind=kind,
            email=email if kind is Kind.PERSON else None,
            first_name=first or None,
            last_name=last or None,
            display_name="",
            created_at=now,
            timezone=timezone if timezone in _timezones() else None,
            avatar_lookup=Lookup.PENDING if kind is Kind.PERSON and email else None,
        )
        profile.display_name = profile.default_display_name
        profile.record(ProfileCreated(user_id, kind))
        return profile

    @property
    def default_display_name(self) -> str:
        """ "First Last", or the machine's name; a person with no names shows their email."""
        names = " ".join(n for n in (self.first_name, self.last_name) if n)
        return names or self.email or self.user_id

    @property
    def looks_for_avatar(self) -> bool:
        return self.avatar_lookup is Lookup.PENDING

    def change(self, edit: ProfileEdit, now: datetime) -> tuple[str, ...]:
        """Apply `edit`; the fields whose values changed (none: nothing is recorded)."""
        before = replace(self)
        followed_default = self.display_name == self.default_display_name
        if edit.first_name is not KEEP:
            self.first_name = checked_name(edit.first_name, "first_name")
        if edit.last_name is not KEEP:
            self.last_name = checked_name(edit.last_name, "last_name")
        if edit.display_name is None:
            self.display_name = self.default_display_name
        elif edit.display_name is not KEEP:
            self.display_name = checked_name(edit.display_name, "display_name")
        elif followed_default:
            # A display name nobody chose follows the names.
            self.display_name = self.default_display_name
        if edit.phone_number is not KEEP:
            self.phone_number = (
                None if edit.phone_number is None else checked_phone_number(edit.phone_number)
            )
        if edit.timezone is not KEEP:
            self.timezone = None if edit.timezone is None else checked_timezone(edit.timezone)
        watched = ("first_name", "last_name", "display_name", "phone_number", "timezone")
        changed = tuple(f for f in watched if getattr(before, f) != getattr(self, f))
        if changed:
            self.updated_at = now
            self.record(ProfileChanged(self.user_id, changed))
        return changed

    def change_contact(self, address: ContactAddress, now: datetime) -> None:
        address = address.normalised()
        if address == self.contact:
            return
        self.contact = address
        self.updated_at = now
        self.record(ContactAddressChanged(self.user_id, address.country_code))

    def show_uploaded(self, image_id: str, url: str, now: datetime) -> None:
        """Show an image uploaded through images; the one it replaces, if uploaded too, is
        named in the event so that images deletes it."""
        previous = self.avatar.image_id if self.avatar else None
        if previous == image_id:
            return
        self.avatar = Avatar.uploaded(image_id, url)
        self.updated_at = now
        self.record(AvatarChanged(self.user_id, self.avatar, previous))

    def avatar_found(self, url: str | None, now: datetime) -> bool:
        """The default-avatar lookup's answer: shown only if the profile still shows none
        (an upload meanwhile wins). Whether it is shown."""
        if not self.looks_for_avatar:
            return False
        self.avatar_lookup = Lookup.DONE
        if url is None or self.avatar is not None:
            return False
        self.avatar = Avatar.found(url)
        self.updated_at = now
        self.record(AvatarChanged(self.user_id, self.avatar, None))
        return True

    def remove_avatar(self, now: datetime) -> None:
        """Show no avatar; one already showing none stays as it is (nothing recorded)."""
        if self.avatar is None:
            return
        image_id = self.avatar.image_id
        self.avatar = None
        self.updated_at = now
        self.record(AvatarRemoved(self.user_id, image_id))

    def image_deleted(self, image_id: str, now: datetime) -> bool:
        """The image is gone: if it is the avatar, the profile shows none any more."""
        if self.avatar is None or self.avatar.image_id != image_id:
            return False
        self.avatar = None
        self.updated_at = now
        self.record(AvatarRemoved(self.user_id, None, because_deleted=True))
        return True
