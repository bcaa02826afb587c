"""The scores' validation and the four-letter type rule, at and around its threshold."""

from __future__ import annotations

import math
from itertools import product

import pytest

from personality import PERSONALITY_TYPES, BigFive, InvalidScore, Trait, UnknownType
from personality import personality_type as type_named


def scores(**overrides: float) -> BigFive:
    values: dict[str, float] = {trait.value: 20.0 for trait in Trait}
    values.update(overrides)
    return BigFive(**values)


def test_exactly_50_is_high_and_just_below_is_low() -> None:
    at_threshold = scores(extraversion=50, openness=50, agreeableness=50, conscientiousness=50)
    assert at_threshold.type_code == "ENFJ"
    below = scores(
        extraversion=49.999, openness=49.999, agreeableness=49.999, conscientiousness=49.999
    )
    assert below.type_code == "ISTP"


@pytest.mark.parametrize(
    ("trait", "position", "high", "low"),
    [
        (Trait.EXTRAVERSION, 0, "E", "I"),
        (Trait.OPENNESS, 1, "N", "S"),
        (Trait.AGREEABLENESS, 2, "F", "T"),
        (Trait.CONSCIENTIOUSNESS, 3, "J", "P"),
    ],
)
def test_each_letter_follows_its_own_trait(
    trait: Trait, position: int, high: str, low: str
) -> None:
    assert scores(**{trait.value: 50.0}).type_code[position] == high
    assert scores(**{trait.value: 100.0}).type_code[position] == high
    assert scores(**{trait.value: 49.5}).type_code[position] == low
    assert scores(**{trait.value: 0.0}).type_code[position] == low


def test_neuroticism_takes_no_part_in_the_type() -> None:
    assert scores(neuroticism=0).type_code == scores(neuroticism=100).type_code == "ISTP"


def test_the_docstring_example() -> None:
    example = scores(extraversion=72, openness=50, agreeableness=31.5, conscientiousness=49.9)
    assert example.type_code == "ENTP"
    assert example.personality_type == type_named("ENTP")


def test_all_16_types_are_reachable_and_described() -> None:
    reached = set()
    for e, n, f, j in product((True, False), repeat=4):
        big_five = scores(
            extraversion=75 if e else 25,
            openness=75 if n else 25,
            agreeableness=75 if f else 25,
            conscientiousness=75 if j else 25,
        )
        expected = ("E" if e else "I") + ("N" if n else "S") + ("F" if f else "T")
        expected += "J" if j else "P"
        assert big_five.type_code == expected
        reached.add(big_five.personality_type)
    assert reached == set(PERSONALITY_TYPES)
    assert len(PERSONALITY_TYPES) == 16
    assert len({kind.name for kind in PERSONALITY_TYPES}) == 16
    for kind in PERSONALITY_TYPES:
        assert kind.description and "\n" not in kind.description


@pytest.mark.parametrize("code", ["XXXX", "enfj", "ENF", ""])
def test_an_unknown_code_is_refused(code: str) -> None:
    with pytest.raises(UnknownType, match="not a personality type"):
        type_named(code)


@pytest.mark.parametrize("bad", [-0.1, 100.1, math.nan, math.inf, True, "50", None])
def test_a_score_outside_0_to_100_or_not_a_number_is_refused(bad: object) -> None:
    with pytest.raises(InvalidScore, match="agreeableness"):
        scores(agreeableness=bad)  # type: ignore[arg-type]


def test_the_bounds_are_scores_and_ints_become_floats() -> None:
    big_five = scores(openness=0, neuroticism=100)
    assert big_five.openness == 0.0 and isinstance(big_five.openness, float)
    assert big_five.neuroticism == 100.0 and isinstance(big_five.neuroticism, float)


def test_from_mapping_needs_exactly_the_five_traits() -> None:
    full = {trait: 10.0 * number for number, trait in enumerate(Trait, start=1)}
    big_five = BigFive.from_mapping(full)
    assert big_five.as_mapping() == full
    without: dict[Trait, float] = {
        trait: value for trait, value in full.items() if trait is not Trait.NEUROTICISM
    }
    with pytest.raises(InvalidScore, match="missing neuroticism"):
        BigFive.from_mapping(without)
    with pytest.raises(InvalidScore, match="unknown 'honesty'"):
        BigFive.from_mapping({**full, "honesty": 50.0})  # type: ignore[dict-item]
