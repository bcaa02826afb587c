"""Sealed identifiers: encrypted at rest, found by a keyed digest, opened only with their key."""

from __future__ import annotations

import pytest

from chassis.sealed import DEVELOPMENT_SEALING_KEY, Sealer, SealingSettings, Unsealable

DEVICE = "device-7f3a9c-viewer"


def test_a_sealed_value_opens_with_its_key_and_shows_nothing_in_clear() -> None:
    sealer = Sealer("a secret of our own, long enough")
    sealed = sealer.seal(DEVICE)
    assert DEVICE not in sealed and sealer.unseal(sealed) == DEVICE
    # A new nonce each time: two seals of one value cannot be matched with each other.
    assert sealer.seal(DEVICE) != sealed
    assert sealer.unseal(sealer.seal("")) == ""
    assert sealer.unseal(sealer.seal("ünïcødé ✓")) == "ünïcødé ✓"


def test_the_lookup_digest_is_the_same_for_a_value_and_depends_on_the_key() -> None:
    sealer, other = Sealer("a secret of our own, long enough"), Sealer("another secret, long too")
    assert sealer.lookup(DEVICE) == sealer.lookup(DEVICE)
    assert sealer.lookup(DEVICE) != sealer.lookup(DEVICE + "x")
    assert sealer.lookup(DEVICE) != other.lookup(DEVICE)
    assert len(sealer.lookup(DEVICE)) == 64 and DEVICE not in sealer.lookup(DEVICE)


def test_what_this_key_did_not_seal_does_not_open() -> None:
    sealer, other = Sealer("a secret of our own, long enough"), Sealer("another secret, long too")
    sealed = sealer.seal(DEVICE)
    with pytest.raises(Unsealable, match="another key"):
        other.unseal(sealed)
    header, key, nonce, text, tag = sealed.split(".")
    flipped = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    for tampered in (".".join([header, key, nonce, flipped, tag]), "garbage", ""):
        with pytest.raises(Unsealable):
            sealer.unseal(tampered)


def test_the_keys_come_from_the_settings_and_never_show() -> None:
    sealer = Sealer.of(SealingSettings(service_name="profiles"))
    assert sealer.key_id == Sealer(DEVELOPMENT_SEALING_KEY).key_id
    assert "sealing key" not in repr(sealer) and "secret" not in repr(sealer)
    with pytest.raises(ValueError, match="16 characters"):
        Sealer("too short")
