"""The IPIP 50-item test: its items and keys as the instrument publishes them, the keyed
scoring worked out by hand, and the refusal of anything but 50 answers from 1 to 5."""

from __future__ import annotations

from collections import Counter

import pytest

from personality import ITEMS, Factor, InvalidAnswers, Key, Trait, score
from personality.inventory import raw_to_score

# The instrument's scoring key, written out independently of the item table: per factor,
# the "+" keyed and the "-" keyed items.
KEY_TABLE: dict[Factor, tuple[set[str], set[str]]] = {
    Factor.EXTRAVERSION: (
        {
            "Am the life of the party.",
            "Feel comfortable around people.",
            "Start conversations.",
            "Talk to a lot of different people at parties.",
            "Don't mind being the center of attention.",
        },
        {
            "Don't talk a lot.",
            "Keep in the background.",
            "Have little to say.",
            "Don't like to draw attention to myself.",
            "Am quiet around strangers.",
        },
    ),
    Factor.AGREEABLENESS: (
        {
            "Am interested in people.",
            "Sympathize with others' feelings.",
            "Have a soft heart.",
            "Take time out for others.",
            "Feel others' emotions.",
            "Make people feel at ease.",
        },
        {
            "Am not really interested in others.",
            "Insult people.",
            "Am not interested in other people's problems.",
            "Feel little concern for others.",
        },
    ),
    Factor.CONSCIENTIOUSNESS: (
        {
            "Am always prepared.",
            "Pay attention to details.",
            "Get chores done right away.",
            "Like order.",
            "Follow a schedule.",
            "Am exacting in my work.",
        },
        {
            "Leave my belongings around.",
            "Make a mess of things.",
            "Often forget to put things back in their proper place.",
            "Shirk my duties.",
        },
    ),
    Factor.EMOTIONAL_STABILITY: (
        {"Am relaxed most of the time.", "Seldom feel blue."},
        {
            "Get stressed out easily.",
            "Worry about things.",
            "Am easily disturbed.",
            "Get upset easily.",
            "Change my mood a lot.",
            "Have frequent mood swings.",
            "Get irritated easily.",
            "Often feel blue.",
        },
    ),
    Factor.INTELLECT: (
        {
            "Have a rich vocabulary.",
            "Have a vivid imagination.",
            "Have excellent ideas.",
            "Am quick to understand things.",
            "Use difficult words.",
            "Spend time reflecting on things.",
            "Am full of ideas.",
        },
        {
            "Have difficulty understanding abstract ideas.",
            "Am not interested in abstract ideas.",
            "Do not have a good imagination.",
        },
    ),
}


def all_answered(answer: int) -> dict[int, int]:
    return {item.id: answer for item in ITEMS}


def test_50_items_numbered_1_to_50_with_distinct_texts() -> None:
    assert [item.id for item in ITEMS] == list(range(1, 51))
    assert len({item.text for item in ITEMS}) == 50


def test_10_items_per_factor_in_the_instruments_rotation() -> None:
    assert Counter(item.factor for item in ITEMS) == dict.fromkeys(Factor, 10)
    # The instrument cycles I, II, III, IV, V: item n belongs to factor (n - 1) mod 5.
    rotation = list(Factor)
    assert all(item.factor is rotation[(item.id - 1) % 5] for item in ITEMS)


def test_the_keys_are_the_instruments() -> None:
    for factor, (plus, minus) in KEY_TABLE.items():
        items = [item for item in ITEMS if item.factor is factor]
        assert {item.text for item in items if item.key is Key.PLUS} == plus, factor
        assert {item.text for item in items if item.key is Key.MINUS} == minus, factor
    assert Counter(item.key for item in ITEMS) == {Key.PLUS: 26, Key.MINUS: 24}


@pytest.mark.parametrize("answer", [1, 5])
def test_a_uniform_sheet_scores_as_the_key_says(answer: int) -> None:
    result = score(all_answered(answer))
    for factor, (plus, minus) in KEY_TABLE.items():
        # "+" items score the answer, "-" items 6 - answer.
        assert result.raw[factor] == answer * len(plus) + (6 - answer) * len(minus)
    expected_raw = (
        {
            Factor.EXTRAVERSION: 30,
            Factor.AGREEABLENESS: 34,
            Factor.CONSCIENTIOUSNESS: 34,
            Factor.EMOTIONAL_STABILITY: 18,
            Factor.INTELLECT: 38,
        }
        if answer == 5
        else {
            Factor.EXTRAVERSION: 30,
            Factor.AGREEABLENESS: 26,
            Factor.CONSCIENTIOUSNESS: 26,
            Factor.EMOTIONAL_STABILITY: 42,
            Factor.INTELLECT: 22,
        }
    )
    assert result.raw == expected_raw


def test_all_5s_give_the_docstring_scores() -> None:
    result = score(all_answered(5))
    assert result.scores.as_mapping() == {
        Trait.EXTRAVERSION: 50.0,
        Trait.AGREEABLENESS: 60.0,
        Trait.CONSCIENTIOUSNESS: 60.0,
        Trait.NEUROTICISM: 80.0,
        Trait.OPENNESS: 70.0,
    }
    assert result.personality_type.code == "ENFJ"


def test_a_realistic_extraversion_sheet_by_hand() -> None:
    answers = all_answered(3)
    # Items 1..46 step 5 are extraversion; keys alternate + - + - ...
    answers.update({1: 4, 6: 2, 11: 5, 16: 3, 21: 4, 26: 1, 31: 2, 36: 4, 41: 3, 46: 5})
    # Scored: 4, 6-2=4, 5, 6-3=3, 4, 6-1=5, 2, 6-4=2, 3, 6-5=1 -> 33 -> (33-10)/40*100 = 57.5
    result = score(answers)
    assert result.raw[Factor.EXTRAVERSION] == 33
    assert result.scores.extraversion == 57.5
    # Every other factor answered 3 throughout: 30 -> 50, whatever the keys.
    assert result.scores.openness == result.scores.agreeableness == 50.0
    assert result.scores.conscientiousness == result.scores.neuroticism == 50.0
    assert result.personality_type.code == "ENFJ"


def test_emotional_stability_becomes_neuroticism_inverted() -> None:
    answers = all_answered(3)
    # Emotional stability: items 4-, 9+, 14-, 19+, 24-, 29-, 34-, 39-, 44-, 49-.
    answers.update({4: 5, 9: 1, 14: 4, 19: 2, 24: 5, 29: 4, 34: 3, 39: 5, 44: 4, 49: 3})
    # Scored: 1, 1, 2, 2, 1, 2, 3, 1, 2, 3 -> 18 -> stability 20 -> neuroticism 80.
    result = score(answers)
    assert result.raw[Factor.EMOTIONAL_STABILITY] == 18
    assert result.scores.neuroticism == 80.0


def test_the_linear_map_from_raw_to_0_100() -> None:
    assert [raw_to_score(raw) for raw in (10, 11, 30, 49, 50)] == [0.0, 2.5, 50.0, 97.5, 100.0]
    for raw in (9, 51):
        with pytest.raises(ValueError, match="raw score"):
            raw_to_score(raw)


def test_a_missing_item_is_refused_by_name() -> None:
    answers = all_answered(3)
    del answers[17]
    with pytest.raises(InvalidAnswers) as refused:
        score(answers)
    assert refused.value.problems == ("item 17 is not answered",)


def test_an_extra_item_is_refused_by_name() -> None:
    with pytest.raises(InvalidAnswers, match="item 51 is not an item of the test"):
        score({**all_answered(3), 51: 3})


@pytest.mark.parametrize("answer", [0, 6, -1])
def test_an_answer_out_of_1_to_5_is_refused(answer: int) -> None:
    with pytest.raises(InvalidAnswers) as refused:
        score({**all_answered(3), 23: answer})
    assert refused.value.problems == (f"item 23: {answer} is not from 1 to 5",)


@pytest.mark.parametrize("answer", [3.0, 3.5, "3", True, None])
def test_an_answer_that_is_no_whole_number_is_refused(answer: object) -> None:
    with pytest.raises(InvalidAnswers, match=r"item 8: .* is not a whole number from 1 to 5"):
        score({**all_answered(3), 8: answer})  # type: ignore[dict-item]


def test_every_problem_is_listed_at_once() -> None:
    answers: dict[object, object] = {item: 3 for item in range(2, 51)}
    answers.update({2: 9, "1": 3})
    with pytest.raises(InvalidAnswers) as refused:
        score(answers)  # type: ignore[arg-type]
    assert refused.value.problems == (
        "item '1' is not an item of the test (1 to 50)",
        "item 1 is not answered",
        "item 2: 9 is not from 1 to 5",
    )
    assert str(refused.value) == "; ".join(refused.value.problems)
