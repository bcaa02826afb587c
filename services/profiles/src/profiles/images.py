"""Avatars stored through the images service, over its HTTP API (aiohttp), as the caller.

Images' contract: `POST /images`, multipart/form-data with `description`, `avatar_of` (the
user whose avatar it is: images lets only that user or an operator name them) and `file`,
answered 201 `{id, urls: {download}, ...}` or a problem (401, 403, 413, 415, 422);
`DELETE /images/{id}`. The caller's Authorization header goes along, so images judges the
caller itself, with the request and correlation ids of the request being served.
"""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp
from pydantic import BaseModel, ValidationError

from chassis.errors import Unavailable
from chassis.logging import CORRELATION_ID_HEADER, REQUEST_ID_HEADER, current_ids, get_logger
from chassis.parts import Check
from chassis.web.problems import Problem
from profiles.service import Upload, UploadedImage

log = get_logger(__name__)

AVATAR_DESCRIPTION = "Avatar"


class ImageUrls(BaseModel):
    download: str


class StoredImage(BaseModel):
    id: str
    urls: ImageUrls


class ImagesProblem(BaseModel):
    title: str | None = None
    detail: str | None = None
    errors: list[dict[str, str]] | None = None


class HttpAvatarImages:
    """On one session opened by `start`; `timeout`: how long images may stay silent while
    an upload streams or its answer is awaited (no bound on the whole: files are large)."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        self._url = url.rstrip("/")
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(
                total=None, connect=self._timeout, sock_read=self._timeout
            )
        )

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def checks(self) -> Mapping[str, Check]:
        # Without images only uploads fail (503); the rest of the service works.
        return {}

    async def upload(self, user_id: str, upload: Upload, authorization: str) -> UploadedImage:
        form = aiohttp.MultipartWriter("form-data")
        form.append(AVATAR_DESCRIPTION).set_content_disposition("form-data", name="description")
        form.append(user_id).set_content_disposition("form-data", name="avatar_of")
        # Streamed as it arrives: never held whole.
        payload = aiohttp.AsyncIterablePayload(
            upload.chunks, content_type=upload.content_type or "application/octet-stream"
        )
        form.append_payload(payload).set_content_disposition(
            "form-data", name="file", filename=upload.filename or "avatar"
        )
        status, content_type, raw = await self._send("POST", "/images", authorization, form)
        if status == 201:
            try:
                stored = StoredImage.model_validate_json(raw)
            except ValidationError as exc:
                raise Unavailable(f"images answered 201 with {raw[:200]!r}") from exc
            return UploadedImage(stored.id, stored.urls.download)
        raise _refusal(status, content_type, raw)

    async def delete(self, image_id: str, authorization: str) -> None:
        status, content_type, raw = await self._send("DELETE", f"/images/{image_id}", authorization)
        if status not in (204, 404):
            raise _refusal(status, content_type, raw)

    async def _send(
        self,
        method: str,
        path: str,
        authorization: str,
        form: aiohttp.MultipartWriter | None = None,
    ) -> tuple[int, str, bytes]:
        """(status, content type, body) of images' answer; Unavailable if none came."""
        if self._http is None:
            raise RuntimeError("HttpAvatarImages used before start")
        headers = {"Authorization": authorization, "Accept": "application/json"}
        request_id, correlation_id = current_ids()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if correlation_id:
            headers[CORRELATION_ID_HEADER] = correlation_id
        try:
            async with self._http.request(
                method, self._url + path, headers=headers, data=form
            ) as response:
                return response.status, response.content_type, await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"images did not answer: {exc!r}") from exc


def _refusal(status: int, content_type: str, raw: bytes) -> Exception:
    """Images' 4xx as the same problem for the caller; anything else Unavailable."""
    if 400 <= status < 500:
        problem = ImagesProblem()
        if content_type in ("application/problem+json", "application/json"):
            try:
                problem = ImagesProblem.model_validate_json(raw)
            except ValidationError:
                log.warning("images.unreadable_problem", status=status, body=raw[:200])
        return Problem(status, problem.detail, title=problem.title, errors=problem.errors)
    log.warning("images.failed", status=status, body=raw[:200])
    return Unavailable(f"images answered {status}")
