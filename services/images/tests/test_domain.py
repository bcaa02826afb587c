"""The formats' validators, on real files Pillow writes, fed in pieces of every size; and the
image's rules: its description, its file name, who may change it and who may see it."""

from __future__ import annotations

import random
import struct
import zlib
from datetime import UTC, datetime

import pytest
from PIL import Image as Pillow

from chassis.errors import NotAllowed, RuleViolation
from images.domain import (
    Actor,
    Content,
    Image,
    ImageDeleted,
    ImageDescribed,
    ImageUploaded,
    filename_of,
)
from images.formats import BrokenImage, ImageKind, NotAnImage, Validator, sniff
from testkit.images import PNG_SIGNATURE, noise, png_chunk, saved

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def animated_gif() -> bytes:
    frames = [noise((16, 12), seed).convert("P") for seed in range(3)]
    return saved(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)


# Each format as encoders write it in its variants: a few hundred bytes to a few kilobytes.
FILES: dict[str, tuple[ImageKind, bytes]] = {
    "png rgb": (ImageKind.PNG, saved(noise((24, 16)), "PNG")),
    "png rgba": (ImageKind.PNG, saved(noise((9, 9), mode="RGBA"), "PNG")),
    "png palette": (ImageKind.PNG, saved(noise((20, 20)).convert("P"), "PNG")),
    "png one colour": (ImageKind.PNG, saved(Pillow.new("L", (300, 200), 128), "PNG")),
    "gif": (ImageKind.GIF, saved(noise((20, 10)).convert("P"), "GIF")),
    "gif animated": (ImageKind.GIF, animated_gif()),
    "gif 87a": (ImageKind.GIF, saved(Pillow.new("P", (5, 5)), "GIF")),
    "jpeg baseline": (ImageKind.JPEG, saved(noise((32, 24)), "JPEG", quality=90)),
    "jpeg progressive": (ImageKind.JPEG, saved(noise((33, 17)), "JPEG", progressive=True)),
    "jpeg grey": (ImageKind.JPEG, saved(noise((16, 16), mode="L"), "JPEG")),
    "jpeg restart markers": (
        ImageKind.JPEG,
        saved(noise((64, 64)), "JPEG", restart_marker_blocks=2),
    ),
}
NAMES = sorted(FILES)


def validated(kind: ImageKind, pieces: list[bytes]) -> None:
    validator = Validator(kind)
    for piece in pieces:
        validator.feed(piece)
    validator.finish()


def in_pieces(data: bytes, rng: random.Random, largest: int = 300) -> list[bytes]:
    pieces, at = [], 0
    while at < len(data):
        step = rng.randint(0, largest)  # an empty piece now and then, as a stream may give
        pieces.append(data[at : at + step])
        at += step
    return pieces


@pytest.mark.parametrize("name", NAMES)
def test_every_format_passes_whole_byte_by_byte_and_in_random_pieces(name: str) -> None:
    kind, data = FILES[name]
    assert sniff(data[:8]) is kind
    validated(kind, [data])
    validated(kind, [bytes([b]) for b in data])
    rng = random.Random(name)
    for _ in range(20):
        validated(kind, in_pieces(data, rng))


@pytest.mark.parametrize("name", NAMES)
def test_a_file_cut_anywhere_is_truncated(name: str) -> None:
    kind, data = FILES[name]
    for cut in range(1, len(data)):
        with pytest.raises(BrokenImage, match="truncated"):
            validated(kind, [data[:cut]])


@pytest.mark.parametrize("name", NAMES)
def test_bytes_after_the_end_are_refused(name: str) -> None:
    kind, data = FILES[name]
    for extra in (b"\x00", b"trailing garbage", data):
        with pytest.raises(BrokenImage, match="data after its end"):
            validated(kind, [data + extra])
        with pytest.raises(BrokenImage, match="data after its end"):
            validated(kind, [data, extra])
    with pytest.raises(BrokenImage, match="data after its end"):
        validated(kind, [bytes([b]) for b in data + b"!"])


@pytest.mark.parametrize(
    "head",
    [b"", b"hello, world", b"%PDF-1.7\n", b"\x89PNX\r\n\x1a\n", b"GIF90a", b"\xff\xd8", b"BM\x00"],
)
def test_anything_else_is_not_an_image(head: bytes) -> None:
    with pytest.raises(NotAnImage, match="not a JPEG, PNG or GIF"):
        sniff(head)


IHDR = png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
IDAT = png_chunk(b"IDAT", zlib.compress(b"\x00\x00"))
IEND = png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (PNG_SIGNATURE + IHDR + IDAT + IEND, None),
        (PNG_SIGNATURE + IDAT + IHDR + IEND, "does not start with its 13-byte header"),
        (PNG_SIGNATURE + IHDR + IEND, "no image data"),
        (PNG_SIGNATURE + IHDR + IDAT[:-1] + b"\x00" + IEND, "IDAT fails its CRC check"),
        (PNG_SIGNATURE + IHDR + png_chunk(b"ID4T", b"") + IEND, "no valid type"),
    ],
)
def test_png_chunks_are_walked(data: bytes, reason: str | None) -> None:
    if reason is None:
        validated(ImageKind.PNG, [data])
        return
    with pytest.raises(BrokenImage, match=reason):
        validated(ImageKind.PNG, [data])


def test_a_broken_gif_or_jpeg_says_what_broke() -> None:
    gif = FILES["gif"][1]
    # The first block after the colour table, made an unknown kind.
    table = 3 * 2 ** ((gif[10] & 7) + 1)
    broken = gif[: 13 + table] + b"\x99" + gif[14 + table :]
    with pytest.raises(BrokenImage, match="block of unknown kind"):
        validated(ImageKind.GIF, [broken])
    # The header, the screen with no colour table, the trailer.
    no_image = gif[:10] + b"\x00" + gif[11:13] + b"\x3b"
    with pytest.raises(BrokenImage, match="holds no image"):
        validated(ImageKind.GIF, [no_image])

    jpeg = FILES["jpeg baseline"][1]
    with pytest.raises(BrokenImage, match="ends before any image data"):
        validated(ImageKind.JPEG, [b"\xff\xd8\xff\xd9"])
    sos = jpeg.index(b"\xff\xda")
    with pytest.raises(BrokenImage, match="scan before its frame header"):
        validated(ImageKind.JPEG, [b"\xff\xd8" + jpeg[sos:]])
    with pytest.raises(BrokenImage, match="where a marker should be"):
        validated(ImageKind.JPEG, [b"\xff\xd8\x00" + jpeg[2:]])


def test_a_big_png_is_validated_in_bounded_memory() -> None:
    """A 20 MiB IDAT chunk passes a megabyte at a time: the validator keeps no piece."""
    body = bytes(1024 * 1024)
    crc = zlib.crc32(b"IDAT")
    for _ in range(20):
        crc = zlib.crc32(body, crc)
    validator = Validator(ImageKind.PNG)
    validator.feed(PNG_SIGNATURE + IHDR + struct.pack(">I", 20 * len(body)) + b"IDAT")
    for _ in range(20):
        validator.feed(body)
    validator.feed(struct.pack(">I", crc) + IEND)
    validator.finish()


# --- the image --------------------------------------------------------------------------------

UPLOADER = Actor("uploader", "org")


def uploaded(avatar_of: str | None = None, actor: Actor = UPLOADER) -> Image:
    content = Content("img1", "org", ImageKind.PNG, 120, "ab" * 32)
    return Image.upload(actor, content, "  A cat  ", "photos/cat.png", avatar_of, NOW)


def test_an_upload_is_recorded_with_its_description_trimmed() -> None:
    image = uploaded()
    assert (image.description, image.filename, image.key) == ("A cat", "cat.png", "org/img1")
    assert image.etag == '"' + "ab" * 32 + '"'
    assert image.recorded == (ImageUploaded(image),)


@pytest.mark.parametrize("description", ["", "   ", "x" * 251])
def test_a_description_is_1_to_250_characters(description: str) -> None:
    with pytest.raises(RuleViolation, match="1 to 250"):
        Image.upload(
            UPLOADER, Content("i", "org", ImageKind.GIF, 1, "00"), description, None, None, NOW
        )
    image = uploaded()
    with pytest.raises(RuleViolation):
        image.describe(UPLOADER, description)
    image.describe(UPLOADER, "y" * 250)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("cat.png", "cat.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ('a\x00b\nc"d<e>.gif', "a_b_c_d_e_.gif"),
        ("  ..hidden.  ", "hidden"),
        ("", "image.png"),
        (None, "image.png"),
        ("...", "image.png"),
        ("é" * 300 + ".png", "é" * 255),
    ],
)
def test_a_file_name_is_kept_safe(given: str | None, kept: str) -> None:
    assert filename_of(given, ImageKind.PNG) == kept


def test_who_may_change_an_image() -> None:
    image = uploaded()
    image.forget_recorded()
    for allowed in (UPLOADER, Actor("o", "org", owner=True), Actor("op", "org", operator=True)):
        image.describe(allowed, f"by {allowed.user_id}")
    with pytest.raises(NotAllowed):
        image.describe(Actor("member", "org"), "mine now")
    with pytest.raises(NotAllowed):
        image.delete(Actor("member", "org"))
    assert image.recorded == (ImageDescribed("img1"),) * 3
    image.describe(UPLOADER, "by op")  # unchanged: nothing to tell
    assert len(image.recorded) == 3

    avatar = uploaded(avatar_of="uploader")
    avatar.forget_recorded()
    avatar.uploaded_by = "operator"
    avatar.delete(Actor("uploader", "org"))
    assert avatar.recorded == (ImageDeleted("img1", "uploader"),)


def test_an_avatar_is_uploaded_by_its_user_or_an_operator() -> None:
    assert uploaded(avatar_of="uploader").avatar_of == "uploader"
    assert uploaded(avatar_of="u2", actor=Actor("op", "org", operator=True)).avatar_of == "u2"
    with pytest.raises(NotAllowed, match="its user, or by an operator"):
        uploaded(avatar_of="someone-else")


def test_only_avatars_are_seen_outside_their_organization() -> None:
    image, avatar = uploaded(), uploaded(avatar_of="uploader")
    assert image.visible_to("org") and not image.visible_to("other")
    assert not image.visible_to(None)
    assert avatar.visible_to(None) and avatar.visible_to("other")
