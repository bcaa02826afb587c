"""How a flag is decided: stable per user, a rollout's share, allow lists, off."""

from __future__ import annotations

from flags.domain import Flag, Reason, bucket

USERS = [f"user-{n}" for n in range(10_000)]


def test_the_same_user_always_gets_the_same_answer() -> None:
    flag = Flag("checkout", True, rollout_percent=50)
    first = [flag.decide(user, "t-1") for user in USERS[:500]]
    assert [flag.decide(user, "t-1") for user in USERS[:500]] == first
    # A flag equal in all but identity decides the same: nothing of the process goes in.
    assert [
        Flag("checkout", True, rollout_percent=50).decide(u, "t-1") for u in USERS[:500]
    ] == first
    assert {d.reason for d in first} == {Reason.IN_ROLLOUT, Reason.NOT_IN_ROLLOUT}


def test_a_ten_percent_rollout_over_ten_thousand_users_lands_between_8_and_12_percent() -> None:
    flag = Flag("checkout", True, rollout_percent=10)
    share = sum(flag.decide(user, None).enabled for user in USERS) / len(USERS)
    assert 0.08 <= share <= 0.12, share


def test_a_rollout_takes_in_the_users_it_had_as_it_grows() -> None:
    small = {u for u in USERS if Flag("checkout", True, rollout_percent=10).decide(u, None).enabled}
    large = {u for u in USERS if Flag("checkout", True, rollout_percent=30).decide(u, None).enabled}
    assert small < large


def test_flags_roll_out_to_different_users() -> None:
    one = {u for u in USERS if Flag("one", True, rollout_percent=10).decide(u, None).enabled}
    two = {u for u in USERS if Flag("two", True, rollout_percent=10).decide(u, None).enabled}
    # Independent slices of about 10% overlap on about 1%; the same slice would be 10%.
    assert len(one & two) < 0.03 * len(USERS), len(one & two)


def test_buckets_spread_over_the_whole_range() -> None:
    buckets = [bucket("f", user) for user in USERS]
    assert min(buckets) < 100 and max(buckets) > 9_900


def test_allow_lists_win_over_the_rollout() -> None:
    nobody = Flag("beta", True, users=frozenset({"u-allowed"}), tenants=frozenset({"t-allowed"}))
    assert nobody.decide("u-allowed", "t-other").reason is Reason.USER_ALLOWED
    assert nobody.decide("u-other", "t-allowed").reason is Reason.TENANT_ALLOWED
    assert nobody.decide("u-other", "t-other").enabled is False
    assert nobody.decide("u-other", None).reason is Reason.NOT_IN_ROLLOUT
    # Users the rollout leaves out are on when allowed.
    left_out = [
        u for u in USERS if not Flag("beta", True, rollout_percent=10).decide(u, None).enabled
    ]
    allowed = Flag("beta", True, users=frozenset(left_out[:5]), rollout_percent=10)
    assert all(allowed.decide(u, None).enabled for u in left_out[:5])


def test_off_beats_everything() -> None:
    off = Flag(
        "beta",
        False,
        users=frozenset({"u-1"}),
        tenants=frozenset({"t-1"}),
        rollout_percent=100,
    )
    assert {off.decide(u, "t-1").reason for u in ["u-1", *USERS[:100]]} == {Reason.OFF}
    assert not any(off.decide(u, "t-1").enabled for u in ["u-1", *USERS[:100]])


def test_zero_and_a_hundred_percent() -> None:
    assert not any(Flag("f", True, rollout_percent=0).decide(u, None).enabled for u in USERS)
    assert all(Flag("f", True, rollout_percent=100).decide(u, None).enabled for u in USERS)
