"""Default avatars: Gravatar's public avatar API (aiohttp), and none at all (offline).

https://docs.gravatar.com/api/avatars/images/: `GET /avatar/{SHA-256 of the trimmed,
lower-cased email}`; `d=404` asks for a 404 instead of a generated image when the address
has no avatar, `s` for the size in pixels. We cannot reach Gravatar from here:
`simulators.gravatar` speaks that contract for the tests and `make run`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import aiohttp

from chassis.errors import Unavailable
from chassis.parts import Check


def email_hash(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


class GravatarAvatars:
    """Asks Gravatar whether an address has an avatar, on one session opened by `start`."""

    def __init__(self, url: str, *, size: int = 200, timeout: float = 5.0) -> None:
        self._url = url.rstrip("/")
        self._size = size
        self._timeout = timeout
        self._http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        # Made here, in the running loop, not in __init__ (the app is built before it runs).
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout))

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def checks(self) -> Mapping[str, Check]:
        # Gravatar being away delays avatars only; the service is healthy without it.
        return {}

    def avatar_url(self, email: str) -> str:
        """Where the avatar is shown from (with no `d=404`: whoever shows it gets it)."""
        return f"{self._url}/avatar/{email_hash(email)}?s={self._size}"

    async def find(self, email: str) -> str | None:
        if self._http is None:
            raise RuntimeError("GravatarAvatars.find before start")
        shown = self.avatar_url(email)
        try:
            async with self._http.get(shown + "&d=404", allow_redirects=False) as response:
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"Gravatar did not answer: {exc!r}") from exc
        if status == 200:
            return shown
        if status == 404:
            return None
        raise Unavailable(f"Gravatar answered {status}")


class NoAvatars:
    """The offline mode: no address has a default avatar."""

    async def find(self, email: str) -> str | None:
        return None
