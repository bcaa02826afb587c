"""Images: who may do what to one, and what its description and file name may be. No I/O.

An image belongs to the organization it was uploaded in; its bytes are a blob under the key
`<organization>/<image id>`, kept apart from this record. An image uploaded as a user's avatar
(`avatar_of`) is that user's too, and anyone may download it.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from chassis.aggregate import Aggregate
from chassis.errors import NotAllowed, NotFound, RuleViolation
from images.formats import BrokenImage, ImageKind

MAX_DESCRIPTION = 250
MAX_FILENAME = 255


class ImageNotFound(NotFound):
    def __init__(self, image_id: str) -> None:
        super().__init__(f"There is no image {image_id}.")


class TooLarge(RuleViolation):
    """The content is over the size allowed (the web answers 413)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"An image may be at most {max_bytes} bytes.")
        self.max_bytes = max_bytes


class EmptyFile(BrokenImage):
    def __init__(self) -> None:
        super().__init__("the file is empty")


@dataclass(frozen=True)
class Actor:
    """Who acts, as far as images care: in which organization, and with what standing there."""

    user_id: str
    tenant_id: str
    owner: bool = False
    operator: bool = False


def new_image_id() -> str:
    return uuid.uuid4().hex


def blob_key(tenant_id: str, image_id: str) -> str:
    return f"{tenant_id}/{image_id}"


def description_of(text: str) -> str:
    """The description as kept: trimmed, 1 to 250 characters."""
    trimmed = text.strip()
    if not 1 <= len(trimmed) <= MAX_DESCRIPTION:
        raise RuleViolation(f"the description must be 1 to {MAX_DESCRIPTION} characters")
    return trimmed


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def filename_of(name: str | None, kind: ImageKind) -> str:
    """The file name as kept and served: its last path segment, without control characters
    or characters file systems refuse, at most 255 characters; `image.<ext>` when nothing of
    it is left."""
    last = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]
    cleaned = _UNSAFE.sub("_", last).strip().strip(".")
    return cleaned[:MAX_FILENAME] or f"image.{kind.name.lower()}"


def may_upload_as_avatar(actor: Actor, user_id: str) -> None:
    if user_id != actor.user_id and not actor.operator:
        raise NotAllowed("An avatar is uploaded by its user, or by an operator.")


@dataclass(frozen=True)
class Content:
    """An upload's bytes as stored: under `key`, of `kind`, `size` bytes, with `sha256`."""

    image_id: str
    tenant_id: str
    kind: ImageKind
    size: int
    sha256: str

    @property
    def key(self) -> str:
        return blob_key(self.tenant_id, self.image_id)


class Chore(StrEnum):
    """Why a blob may have to be deleted: an upload not finished yet, or an image deleted."""

    UPLOADING = "uploading"
    DELETING = "deleting"


@dataclass(frozen=True)
class BlobChore:
    """A blob that goes, unless an upload ends well first: recorded before it is written (an
    upload) or with the image's deletion, removed once done."""

    key: str
    tenant_id: str
    chore: Chore
    since: datetime


# --- what happens to an image (domain events) -------------------------------------------------


@dataclass(frozen=True)
class ImageUploaded:
    image: Image


@dataclass(frozen=True)
class ImageDescribed:
    image_id: str


@dataclass(frozen=True)
class ImageDeleted:
    image_id: str
    avatar_of: str | None


# --- the aggregate ----------------------------------------------------------------------------


@dataclass
class Image(Aggregate):
    id: str
    organization_id: str
    kind: ImageKind
    size: int
    sha256: str
    description: str
    filename: str
    uploaded_by: str
    avatar_of: str | None
    created_utc: datetime

    @classmethod
    def upload(
        cls,
        actor: Actor,
        content: Content,
        description: str,
        filename: str | None,
        avatar_of: str | None,
        now: datetime,
    ) -> Image:
        if avatar_of is not None:
            may_upload_as_avatar(actor, avatar_of)
        image = cls(
            content.image_id,
            content.tenant_id,
            content.kind,
            content.size,
            content.sha256,
            description_of(description),
            filename_of(filename, content.kind),
            actor.user_id,
            avatar_of,
            now,
        )
        image.record(ImageUploaded(image))
        return image

    @property
    def key(self) -> str:
        return blob_key(self.organization_id, self.id)

    @property
    def etag(self) -> str:
        """A strong entity tag: the content's SHA-256, so equal bytes, equal tags."""
        return f'"{self.sha256}"'

    def visible_to(self, tenant_id: str | None) -> bool:
        """Downloadable by a caller acting for `tenant_id` (None: no token)."""
        return self.avatar_of is not None or tenant_id == self.organization_id

    def may_change(self, actor: Actor) -> bool:
        return actor.user_id in (self.uploaded_by, self.avatar_of) or actor.owner or actor.operator

    def describe(self, actor: Actor, description: str) -> None:
        self._changed_by(actor)
        kept = description_of(description)
        if kept != self.description:
            self.description = kept
            self.record(ImageDescribed(self.id))

    def delete(self, actor: Actor | None) -> None:
        """Deleted by `actor`, or by the platform (None) when its avatar is replaced."""
        if actor is not None:
            self._changed_by(actor)
        self.record(ImageDeleted(self.id, self.avatar_of))

    def _changed_by(self, actor: Actor) -> None:
        if not self.may_change(actor):
            raise NotAllowed(
                "Only its uploader (or, for an avatar, its user), the organization's owners "
                "and operators may change an image."
            )
