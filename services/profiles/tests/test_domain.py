"""A profile's rules and what it records."""

from __future__ import annotations

from datetime import datetime

import pytest

from profiles.domain import (
    Avatar,
    AvatarChanged,
    AvatarRemoved,
    AvatarSource,
    ContactAddress,
    ContactAddressChanged,
    Kind,
    Lookup,
    Profile,
    ProfileChanged,
    ProfileCreated,
    ProfileEdit,
    ProfileRuleViolation,
)


def person(now: datetime, **fields: str | None) -> Profile:
    details: dict[str, str | None] = {
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "timezone": "Europe/London",
        **fields,
    }
    profile = Profile.create("u1", "org1", Kind.PERSON, now, **details)
    profile.forget_recorded()
    return profile


def test_a_person_is_shown_by_their_names_and_looks_for_an_avatar(now: datetime) -> None:
    profile = Profile.create(
        "u1",
        "org1",
        Kind.PERSON,
        now,
        email="ada@example.com",
        first_name=" Ada ",
        last_name="Lovelace",
        timezone="Europe/London",
    )
    assert (profile.display_name, profile.first_name, profile.timezone) == (
        "Ada Lovelace",
        "Ada",
        "Europe/London",
    )
    assert profile.avatar_lookup is Lookup.PENDING and profile.looks_for_avatar
    assert profile.recorded == (ProfileCreated("u1", Kind.PERSON),)


def test_a_machine_is_shown_by_its_name_and_looks_for_no_avatar(now: datetime) -> None:
    profile = Profile.create("m1", "org1", Kind.MACHINE, now, first_name="build-bot")
    assert (profile.display_name, profile.email, profile.avatar_lookup) == ("build-bot", None, None)
    assert profile.recorded == (ProfileCreated("m1", Kind.MACHINE),)


def test_a_time_zone_identity_sent_that_is_unknown_here_is_left_out(now: datetime) -> None:
    assert person(now, timezone="Mars/Olympus").timezone is None


def test_changes_are_checked_normalised_and_recorded_by_field(now: datetime) -> None:
    profile = person(now)
    changed = profile.change(
        ProfileEdit(
            first_name="  Augusta  Ada ", phone_number="+44 20 7946 0958", timezone="Asia/Tokyo"
        ),
        now,
    )
    assert changed == ("first_name", "display_name", "phone_number", "timezone")
    assert profile.first_name == "Augusta Ada"
    # The display name nobody chose follows the names.
    assert profile.display_name == "Augusta Ada Lovelace"
    assert profile.phone_number == "+442079460958"
    assert profile.recorded == (ProfileChanged("u1", changed),)
    assert profile.updated_at == now


def test_a_chosen_display_name_stays_until_set_back_to_the_default(now: datetime) -> None:
    profile = person(now)
    profile.change(ProfileEdit(display_name="The Countess"), now)
    profile.change(ProfileEdit(last_name="King"), now)
    assert profile.display_name == "The Countess"
    profile.change(ProfileEdit(display_name=None), now)
    assert profile.display_name == "Ada King"


def test_null_clears_the_phone_number_and_time_zone(now: datetime) -> None:
    profile = person(now)
    profile.change(ProfileEdit(phone_number="+14155552671"), now)
    profile.forget_recorded()
    assert profile.change(ProfileEdit(phone_number=None, timezone=None), now) == (
        "phone_number",
        "timezone",
    )
    assert (profile.phone_number, profile.timezone) == (None, None)


def test_an_edit_that_changes_nothing_records_nothing(now: datetime) -> None:
    profile = person(now)
    assert profile.change(ProfileEdit(first_name="Ada", timezone="Europe/London"), now) == ()
    assert profile.recorded == () and profile.updated_at is None


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (ProfileEdit(phone_number="020 7946 0958"), "not an international number"),
        (ProfileEdit(phone_number="+44 12"), "not a possible number"),
        (ProfileEdit(timezone="Europe/Atlantis"), "unknown time zone"),
        (ProfileEdit(first_name="   "), "must not be blank"),
        (ProfileEdit(last_name="x" * 101), "at most 100"),
    ],
)
def test_invalid_changes_are_refused_and_change_nothing(
    now: datetime, edit: ProfileEdit, message: str
) -> None:
    profile = person(now)
    with pytest.raises(ProfileRuleViolation, match=message):
        profile.change(edit, now)
    assert profile.recorded == ()


def test_the_contact_address_is_normalised_and_its_country_recorded(now: datetime) -> None:
    profile = person(now)
    address = ContactAddress(line1=" 12  Downing St ", city="London", country_code="gb")
    profile.change_contact(address, now)
    assert profile.contact == ContactAddress("12 Downing St", "London", "GB")
    recorded = profile.recorded
    profile.change_contact(address, now)
    assert recorded == (ContactAddressChanged("u1", "GB"),)
    # The same address again changes nothing.
    assert profile.recorded == recorded


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (ContactAddress("1 Main St", "Springfield", "XX"), "not an ISO 3166-1"),
        (ContactAddress("1 Main St", "Springfield", "USA"), "not an ISO 3166-1"),
        (ContactAddress("  ", "Springfield", "US"), "line1 is required"),
        (ContactAddress("1 Main St", "Springfield", "US", zip="9" * 201), "at most 200"),
    ],
)
def test_an_invalid_address_is_refused(
    now: datetime, address: ContactAddress, message: str
) -> None:
    profile = person(now)
    with pytest.raises(ProfileRuleViolation, match=message):
        profile.change_contact(address, now)
    assert profile.contact is None


def test_a_found_avatar_is_shown_once_and_not_over_an_upload(now: datetime) -> None:
    profile = person(now)
    assert profile.avatar_found("https://g/avatar/x", now)
    assert profile.avatar == Avatar("https://g/avatar/x", AvatarSource.GRAVATAR)
    assert profile.avatar_lookup is Lookup.DONE
    assert profile.recorded == (AvatarChanged("u1", profile.avatar, None),)
    assert not profile.avatar_found("https://g/avatar/y", now)

    uploaded_first = person(now)
    uploaded_first.show_uploaded("img1", "/images/img1/download", now)
    uploaded_first.forget_recorded()
    assert not uploaded_first.avatar_found("https://g/avatar/x", now)
    assert uploaded_first.avatar == Avatar.uploaded("img1", "/images/img1/download")
    assert uploaded_first.avatar_lookup is Lookup.DONE and uploaded_first.recorded == ()


def test_no_avatar_found_ends_the_lookup(now: datetime) -> None:
    profile = person(now)
    assert not profile.avatar_found(None, now)
    assert (profile.avatar, profile.avatar_lookup, profile.recorded) == (None, Lookup.DONE, ())


def test_an_upload_replacing_an_upload_names_the_image_to_delete(now: datetime) -> None:
    profile = person(now)
    profile.avatar_found("https://g/avatar/x", now)
    profile.show_uploaded("img1", "/images/img1/download", now)
    profile.show_uploaded("img2", "/images/img2/download", now)
    assert profile.recorded[1:] == (
        AvatarChanged("u1", Avatar.uploaded("img1", "/images/img1/download"), None),
        AvatarChanged("u1", Avatar.uploaded("img2", "/images/img2/download"), "img1"),
    )


def test_removing_an_uploaded_avatar_names_its_image_and_removing_none_is_nothing(
    now: datetime,
) -> None:
    profile = person(now)
    profile.show_uploaded("img1", "/images/img1/download", now)
    profile.forget_recorded()
    profile.remove_avatar(now)
    profile.remove_avatar(now)
    assert profile.avatar is None
    assert profile.recorded == (AvatarRemoved("u1", "img1"),)
    found = person(now)
    found.avatar_found("https://g/avatar/x", now)
    found.forget_recorded()
    found.remove_avatar(now)
    assert found.recorded == (AvatarRemoved("u1", None),)


def test_a_deleted_image_clears_the_avatar_showing_it_only(now: datetime) -> None:
    profile = person(now)
    profile.show_uploaded("img1", "/images/img1/download", now)
    profile.forget_recorded()
    assert not profile.image_deleted("img0", now)
    assert profile.image_deleted("img1", now)
    assert profile.avatar is None
    assert profile.recorded == (AvatarRemoved("u1", None, because_deleted=True),)
