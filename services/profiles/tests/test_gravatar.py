"""The Gravatar adapter against the simulator served for real: an avatar found, none, and
Gravatar failing or too slow (Unavailable: the lookup is tried again later)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from chassis.errors import Unavailable
from profiles.gravatar import GravatarAvatars, NoAvatars
from testkit.gravatar import GravatarSimulator, email_with_avatar, email_without_avatar


@pytest.fixture
async def avatars(gravatar: GravatarSimulator) -> AsyncIterator[GravatarAvatars]:
    adapter = GravatarAvatars(gravatar.url, size=64, timeout=0.5)
    await adapter.start()
    yield adapter
    await adapter.stop()


async def test_an_address_with_an_avatar_gets_its_url_which_serves_the_image(
    avatars: GravatarAvatars, gravatar: GravatarSimulator
) -> None:
    email = email_with_avatar()
    url = await avatars.find(f"  {email.upper()} ")
    digest = hashlib.sha256(email.encode()).hexdigest()
    assert url == f"{gravatar.url}/avatar/{digest}?s=64"
    assert await gravatar.requests_for(email) == [{"hash": digest, "size": 64, "default": "404"}]
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert (response.status, response.content_type) == (200, "image/png")


async def test_an_address_without_an_avatar_has_none(avatars: GravatarAvatars) -> None:
    assert await avatars.find(email_without_avatar()) is None


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_gravatar_failing_is_unavailable(
    avatars: GravatarAvatars, gravatar: GravatarSimulator, status: int
) -> None:
    await gravatar.fail(status)
    with pytest.raises(Unavailable, match=str(status)):
        await avatars.find(email_with_avatar())


async def test_gravatar_too_slow_is_unavailable(
    avatars: GravatarAvatars, gravatar: GravatarSimulator
) -> None:
    await gravatar.slow(1.5)
    with pytest.raises(Unavailable, match="did not answer"):
        await avatars.find(email_with_avatar())


async def test_gravatar_unreachable_is_unavailable() -> None:
    adapter = GravatarAvatars("http://127.0.0.1:9", timeout=0.5)
    await adapter.start()
    try:
        with pytest.raises(Unavailable):
            await adapter.find(email_with_avatar())
    finally:
        await adapter.stop()


async def test_offline_no_address_has_an_avatar() -> None:
    assert await NoAvatars().find(email_with_avatar()) is None
