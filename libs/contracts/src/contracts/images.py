"""Images' events: an image stored, described anew, deleted. The bytes never travel: only
what another service needs to know of them."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from contracts.envelope import TenantEvent


class ImageType(StrEnum):
    """What an image is, by its content; the only kinds stored."""

    JPEG = "image/jpeg"
    PNG = "image/png"
    GIF = "image/gif"


class ImageUploaded(TenantEvent):
    """An image of the organization the envelope names is stored. `avatar_of` names the user
    whose avatar it was uploaded as: anyone may download it, without a token."""

    event_type: ClassVar[str] = "images.image_uploaded"

    image_id: str = Field(min_length=1)
    content_type: ImageType
    size: int = Field(ge=1)
    uploaded_by: str = Field(min_length=1)
    avatar_of: str | None = None


class ImageDescribed(TenantEvent):
    """An image's description changed."""

    event_type: ClassVar[str] = "images.image_described"

    image_id: str = Field(min_length=1)


class ImageDeleted(TenantEvent):
    """An image and its bytes are gone."""

    event_type: ClassVar[str] = "images.image_deleted"

    image_id: str = Field(min_length=1)
    avatar_of: str | None = None
