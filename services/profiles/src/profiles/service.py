"""Use cases of the profiles service, each one unit of work; its ports (the avatar finder,
images); and what its events tell others.

A profile belongs to the organization its user registered with: every change is published
for that tenant, whichever organization the caller's token acts for. Only the user and
operators see or change it; to anyone else it does not exist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Protocol

from chassis.clock import Clock, utc_now
from chassis.errors import NotFound
from chassis.logging import get_logger
from chassis.messaging.delivery import PoisonMessage
from chassis.messaging.subscriptions import EventContext, TenantEventContext
from chassis.records import told
from chassis.storage.unit_of_work import UnitOfWork
from chassis.web.auth import Caller
from contracts import IntegrationEvent
from contracts import profiles as published
from contracts.identity import UserKind, UserRegistered
from contracts.images import ImageDeleted
from profiles.domain import (
    AvatarChanged,
    AvatarRemoved,
    ContactAddress,
    ContactAddressChanged,
    Kind,
    Profile,
    ProfileChanged,
    ProfileCreated,
    ProfileEdit,
)
from profiles.repository import ProfileRepository

log = get_logger(__name__)


class ProfileNotFound(NotFound):
    pass


# --- ports ------------------------------------------------------------------------------------


class AvatarFinder(Protocol):
    """Where a person's default avatar is looked for (Gravatar)."""

    async def find(self, email: str) -> str | None:
        """The URL of the avatar shown for `email`; None when there is none. Unavailable
        when the provider did not answer (worth trying again later)."""
        ...


@dataclass(frozen=True)
class Upload:
    """An image file as it arrives, read piece by piece, never whole."""

    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


@dataclass(frozen=True)
class UploadedImage:
    id: str
    url: str


class AvatarImages(Protocol):
    """The images service, called on behalf of the caller (`authorization`: their
    Authorization header, which images checks)."""

    async def upload(self, user_id: str, upload: Upload, authorization: str) -> UploadedImage:
        """Store `upload` as `user_id`'s avatar; images' refusals come back as a Problem of
        the same status, and Unavailable when images does not answer."""
        ...

    async def delete(self, image_id: str, authorization: str) -> None: ...


class ProfileReader(Protocol):
    async def profile(self, user_id: str) -> Profile | None: ...


class ProfilesTransaction(Protocol):
    @property
    def profiles(self) -> ProfileRepository: ...


# --- use cases --------------------------------------------------------------------------------


class ProfileService:
    def __init__(
        self,
        uow: UnitOfWork[ProfilesTransaction],
        reader: ProfileReader,
        finder: AvatarFinder,
        images: AvatarImages,
        clock: Clock = utc_now,
    ) -> None:
        self._uow = uow
        self._reader = reader
        self._finder = finder
        self._images = images
        self._clock = clock

    async def user_registered(
        self, tx: ProfilesTransaction, event: UserRegistered, context: EventContext
    ) -> None:
        """The user's profile, made once: the same event redelivered, or told again, finds it
        made already (the inbox skips the first; `_id` is the user's id for the rest)."""
        if context.tenant_id is None:
            raise PoisonMessage(f"user {event.user_id} registered with no organization")
        if await tx.profiles.exists(event.user_id):
            log.info("profile.exists_already", user_id=event.user_id)
            return
        profile = Profile.create(
            event.user_id,
            context.tenant_id,
            Kind(event.kind.value),
            self._clock(),
            email=str(event.email) if event.email else None,
            first_name=event.first_name,
            last_name=event.last_name,
            timezone=event.timezone,
        )
        await tx.profiles.add(profile)

    async def profile_created(self, event: published.ProfileCreated, _: EventContext) -> None:
        """Look for a person's default avatar once, outside any transaction (the provider
        may be slow); then, in one, show it unless the profile shows an avatar by now, and
        mark the lookup done. Idempotent by the profile's state: a lookup done is not done
        again. A provider that did not answer raises Unavailable, and the queue retries."""
        profile = await self._reader.profile(event.user_id)
        if profile is None or not profile.looks_for_avatar or profile.email is None:
            return
        url = await self._finder.find(profile.email)

        async def work(tx: ProfilesTransaction) -> None:
            current = await tx.profiles.get(event.user_id)
            if current is not None and current.looks_for_avatar:
                current.avatar_found(url, self._clock())
                await tx.profiles.save(current)

        await self._uow.run(work, tenant_id=profile.tenant_id)

    async def image_deleted(
        self, tx: ProfilesTransaction, event: ImageDeleted, _: TenantEventContext
    ) -> None:
        """An avatar's image is gone: its profile shows none any more."""
        profile = await tx.profiles.showing_image(event.image_id)
        if profile is not None and profile.image_deleted(event.image_id, self._clock()):
            await tx.profiles.save(profile)

    async def profile(self, caller: Caller, user_id: str) -> Profile:
        return await self._visible(caller, user_id)

    async def change(self, caller: Caller, user_id: str, edit: ProfileEdit) -> Profile:
        """Change names, display name, phone number, time zone; nothing changed records
        nothing."""

        def apply(profile: Profile) -> None:
            profile.change(edit, self._clock())

        return await self._changing(caller, user_id, apply)

    async def change_contact(
        self, caller: Caller, user_id: str, address: ContactAddress
    ) -> Profile:
        def apply(profile: Profile) -> None:
            profile.change_contact(address, self._clock())

        return await self._changing(caller, user_id, apply)

    async def check_changeable(self, caller: Caller, user_id: str) -> None:
        """ProfileNotFound unless `caller` may change the profile: asked before an upload's
        body is read."""
        await self._visible(caller, user_id)

    async def upload_avatar(
        self, caller: Caller, user_id: str, upload: Upload, authorization: str
    ) -> Profile:
        """Store the image through images, then show it. Should showing it fail, the image
        is deleted again (it would be no one's)."""
        await self._visible(caller, user_id)
        image = await self._images.upload(user_id, upload, authorization)

        def apply(profile: Profile) -> None:
            profile.show_uploaded(image.id, image.url, self._clock())

        try:
            return await self._changing(caller, user_id, apply)
        except Exception:
            try:
                await self._images.delete(image.id, authorization)
            except Exception as exc:
                log.error("avatar.orphan_image", image_id=image.id, error=repr(exc))
            raise

    async def remove_avatar(self, caller: Caller, user_id: str) -> Profile:
        """Show no avatar; an uploaded one's image is deleted by images, told by the event."""

        def apply(profile: Profile) -> None:
            profile.remove_avatar(self._clock())

        return await self._changing(caller, user_id, apply)

    async def _visible(self, caller: Caller, user_id: str) -> Profile:
        """The profile, if `caller` is its user or an operator; to anyone else there is none."""
        profile = await self._reader.profile(user_id)
        if profile is None or not (caller.user_id == user_id or caller.is_operator):
            raise ProfileNotFound(f"there is no profile {user_id}")
        return profile

    async def _changing(self, caller: Caller, user_id: str, apply: _Change) -> Profile:
        profile = await self._visible(caller, user_id)

        async def work(tx: ProfilesTransaction) -> Profile:
            current = await tx.profiles.get(user_id)
            if current is None:
                raise ProfileNotFound(f"there is no profile {user_id}")
            apply(current)
            await tx.profiles.save(current)
            return current

        # Published for the profile's organization, read above; read again inside.
        return await self._uow.run(work, tenant_id=profile.tenant_id, actor_id=caller.user_id)


class _Change(Protocol):
    def __call__(self, profile: Profile) -> None: ...


def integration_events(event: object) -> Iterator[IntegrationEvent]:
    """What the other services are told of each thing that happens to a profile (what
    changed, never the values), with its audit record and, for what people do with the
    product, its usage record."""
    match event:
        case ProfileCreated(user_id, kind):
            yield from told(
                published.ProfileCreated(user_id=user_id, kind=UserKind(kind.value)),
                target=f"profile:{user_id}",
                usage={"kind": kind.value},
            )
        case ProfileChanged(user_id, fields):
            yield from told(
                published.ProfileChanged(user_id=user_id, fields=list(fields)),
                target=f"profile:{user_id}",
                usage={"fields": ",".join(fields)},
                detail=", ".join(fields),
            )
        case ContactAddressChanged(user_id, country_code):
            yield from told(
                published.ContactAddressChanged(user_id=user_id, country_code=country_code),
                target=f"profile:{user_id}",
                usage={},
            )
        case AvatarChanged(user_id, avatar, previous_image_id):
            yield from told(
                published.AvatarChanged(
                    user_id=user_id,
                    image_id=avatar.image_id,
                    previous_image_id=previous_image_id,
                ),
                target=f"profile:{user_id}",
                usage={"source": avatar.source.value},
                detail=avatar.source.value,
            )
        case AvatarRemoved(user_id, image_id, because_deleted):
            # A removal the deleted image caused is no one's action with the product.
            yield from told(
                published.AvatarRemoved(user_id=user_id, image_id=image_id),
                target=f"profile:{user_id}",
                usage=None if because_deleted else {},
                detail="its image was deleted" if because_deleted else None,
            )
        case _:
            raise TypeError(f"no integration event for {event!r}")
