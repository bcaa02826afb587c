"""HTTP routes of the profiles service: parse with pydantic, call the use case, answer JSON.

A profile is its user's and the operators': anyone else is told there is none (404), so
whether a user exists leaks to no one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Literal

from aiohttp import BodyPartReader, MultipartReader, hdrs, web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from chassis.web.auth import require_caller
from chassis.web.openapi import Route
from chassis.web.parsing import json_response, multipart_form, read_json
from chassis.web.problems import invalid
from profiles.domain import (
    MAX_ADDRESS_LINE,
    MAX_NAME,
    ContactAddress,
    Profile,
    ProfileEdit,
    checked_country_code,
    checked_name,
    checked_phone_number,
    checked_timezone,
)
from profiles.service import ProfileService, Upload

# A user's id is uuid4 hex (identity's); `/profiles/me` is not one.
PROFILE = "/profiles/{user_id:[0-9a-f]{32}}"
# Read from the upload and sent on to images a piece at a time.
CHUNK_BYTES = 64 * 1024

Name = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(lambda v: checked_name(v, "name"))
]
PhoneNumber = Annotated[
    str,
    Field(min_length=2, max_length=32, description="E.164, e.g. +4930123456"),
    AfterValidator(checked_phone_number),
]
Timezone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="an IANA name, e.g. Europe/Paris"),
    AfterValidator(checked_timezone),
]
CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE"),
    AfterValidator(checked_country_code),
]
Line = Annotated[str, Field(min_length=1, max_length=MAX_ADDRESS_LINE)]


class ProfileChanges(BaseModel):
    """Fields left out stay as they are. `null` clears the phone number or the time zone,
    and sets the display name back to "first last"; names cannot be cleared."""

    model_config = ConfigDict(extra="forbid")

    first_name: Name | None = None
    last_name: Name | None = None
    display_name: Name | None = None
    phone_number: PhoneNumber | None = None
    timezone: Timezone | None = None

    @field_validator("first_name", "last_name")
    @classmethod
    def _not_cleared(cls, value: str | None) -> str | None:
        # Runs only for a value sent: a name left out is not checked.
        if value is None:
            raise ValueError("a name cannot be cleared")
        return value

    def edit(self) -> ProfileEdit:
        return ProfileEdit(**{name: getattr(self, name) for name in self.model_fields_set})


class ContactFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line1: Line
    line2: Line | None = None
    city: Line
    state: Line | None = None
    country_code: CountryCode
    zip: Annotated[str, Field(min_length=1, max_length=20)] | None = None


class AvatarOut(BaseModel):
    url: str
    image_id: str | None
    source: Literal["gravatar", "upload"]


class AvatarForm(BaseModel):
    """The form of `PUT /profiles/{user_id}/avatar`, as the API document describes it; it is
    read as a stream, not by this model."""

    file: bytes = Field(description="The image: JPEG, PNG or GIF, told by its content")


class ProfileOut(BaseModel):
    user_id: str
    organization_id: str
    kind: Literal["person", "machine"]
    email: str | None
    first_name: str | None
    last_name: str | None
    display_name: str
    phone_number: str | None
    timezone: str | None
    contact: ContactFields | None
    avatar: AvatarOut | None
    # A person's default-avatar lookup: pending until Gravatar (or the offline mode) answered.
    avatar_lookup: Literal["pending", "done"] | None
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(cls, profile: Profile) -> ProfileOut:
        contact, avatar = profile.contact, profile.avatar
        return cls(
            user_id=profile.user_id,
            organization_id=profile.tenant_id,
            kind=profile.kind.value,
            email=profile.email,
            first_name=profile.first_name,
            last_name=profile.last_name,
            display_name=profile.display_name,
            phone_number=profile.phone_number,
            timezone=profile.timezone,
            contact=ContactFields.model_validate(vars(contact)) if contact else None,
            avatar=(
                AvatarOut(url=avatar.url, image_id=avatar.image_id, source=avatar.source.value)
                if avatar
                else None
            ),
            avatar_lookup=profile.avatar_lookup.value if profile.avatar_lookup else None,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )


async def _chunks(part: BodyPartReader) -> AsyncIterator[bytes]:
    while chunk := await part.read_chunk(CHUNK_BYTES):
        yield chunk


async def _file_part(reader: MultipartReader) -> BodyPartReader:
    """The `file` part of a multipart/form-data body, its bytes not read yet; the parts
    before it are skipped."""
    while (part := await reader.next()) is not None:
        if isinstance(part, BodyPartReader) and part.name == "file":
            return part
        await part.release()
    raise invalid([{"field": "file", "message": "the image goes in the field `file`"}])


def routes(profiles: ProfileService) -> list[Route]:
    async def mine(request: web.Request) -> web.Response:
        caller = require_caller(request)
        return json_response(ProfileOut.of(await profiles.profile(caller, caller.user_id)))

    async def inspect(request: web.Request) -> web.Response:
        caller = require_caller(request)
        profile = await profiles.profile(caller, request.match_info["user_id"])
        return json_response(ProfileOut.of(profile))

    async def change(request: web.Request) -> web.Response:
        caller = require_caller(request)
        body = await read_json(request, ProfileChanges)
        profile = await profiles.change(caller, request.match_info["user_id"], body.edit())
        return json_response(ProfileOut.of(profile))

    async def change_contact(request: web.Request) -> web.Response:
        caller = require_caller(request)
        body = await read_json(request, ContactFields)
        address = ContactAddress(**body.model_dump())
        profile = await profiles.change_contact(caller, request.match_info["user_id"], address)
        return json_response(ProfileOut.of(profile))

    async def upload_avatar(request: web.Request) -> web.Response:
        caller = require_caller(request)
        user_id = request.match_info["user_id"]
        # Refused before a byte of the image is read.
        await profiles.check_changeable(caller, user_id)
        authorization = request.headers[hdrs.AUTHORIZATION]
        how = "Send the image as multipart/form-data, in the field `file`."
        async with multipart_form(request, how) as reader:
            part = await _file_part(reader)
            upload = Upload(part.filename, part.headers.get(hdrs.CONTENT_TYPE), _chunks(part))
            profile = await profiles.upload_avatar(caller, user_id, upload, authorization)
        return json_response(ProfileOut.of(profile))

    async def remove_avatar(request: web.Request) -> web.Response:
        caller = require_caller(request)
        profile = await profiles.remove_avatar(caller, request.match_info["user_id"])
        return json_response(ProfileOut.of(profile))

    return [
        Route(
            "GET",
            "/profiles/me",
            mine,
            "The caller's own profile",
            response=ProfileOut,
            errors=(404,),
        ),
        Route(
            "GET",
            PROFILE,
            inspect,
            "A user's profile (the user's own, or any for an operator)",
            response=ProfileOut,
            errors=(404,),
        ),
        Route(
            "PATCH",
            PROFILE,
            change,
            "Change names, display name, phone number (E.164), time zone (IANA)",
            body=ProfileChanges,
            response=ProfileOut,
            errors=(404,),
        ),
        Route(
            "PATCH",
            PROFILE + "/contact",
            change_contact,
            "Set the contact address (ISO 3166-1 alpha-2 country code)",
            body=ContactFields,
            response=ProfileOut,
            errors=(404,),
        ),
        Route(
            "PUT",
            PROFILE + "/avatar",
            upload_avatar,
            "Upload an avatar: multipart/form-data, the image (jpeg, png, gif) in `file`; "
            "stored through images",
            form=AvatarForm,
            response=ProfileOut,
            errors=(403, 404, 503),
        ),
        Route(
            "DELETE",
            PROFILE + "/avatar",
            remove_avatar,
            "Show no avatar; an uploaded image is deleted",
            response=ProfileOut,
            errors=(404,),
        ),
    ]
