"""User profiles' events. A profile holds personal data (names, phone, address): the events
say what changed, never the values, since every service and the audit trail may read them."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from contracts.envelope import TenantEvent
from contracts.identity import UserKind


class ProfileCreated(TenantEvent):
    """A user's profile exists; the envelope names the organization they registered with."""

    event_type: ClassVar[str] = "profiles.profile_created"

    user_id: str = Field(min_length=1)
    kind: UserKind


class ProfileChanged(TenantEvent):
    """Some of a profile's names, phone number or time zone changed: `fields` names which."""

    event_type: ClassVar[str] = "profiles.profile_changed"

    user_id: str = Field(min_length=1)
    fields: list[str] = Field(min_length=1)


class ContactAddressChanged(TenantEvent):
    event_type: ClassVar[str] = "profiles.contact_address_changed"

    user_id: str = Field(min_length=1)
    country_code: str = Field(min_length=2, max_length=2)


class AvatarChanged(TenantEvent):
    """The profile shows a new avatar: the image `image_id` (uploaded through images), or, when
    that is None, one found elsewhere (Gravatar). `previous_image_id`, when set, is the image it
    showed before, which images deletes."""

    event_type: ClassVar[str] = "profiles.avatar_changed"

    user_id: str = Field(min_length=1)
    image_id: str | None = None
    previous_image_id: str | None = None


class AvatarRemoved(TenantEvent):
    """The profile shows no avatar any more; `image_id`, when set, is the image it showed,
    which images deletes."""

    event_type: ClassVar[str] = "profiles.avatar_removed"

    user_id: str = Field(min_length=1)
    image_id: str | None = None
