"""The conversion rule: toward 100 or 0 by rate * |weight| of the distance, clamped."""

from __future__ import annotations

import pytest

from personality import BigFive, CampaignTraits, InvalidCampaignTraits, Trait, apply_conversion

START = BigFive(
    openness=60, conscientiousness=40, extraversion=50, agreeableness=80, neuroticism=30
)


def test_the_worked_example_of_the_docstring() -> None:
    campaign = CampaignTraits(openness=1, extraversion=0.5, neuroticism=-0.5)
    after = apply_conversion(START, campaign)
    assert after.openness == pytest.approx(62.0, abs=1e-12)
    assert after.extraversion == pytest.approx(51.25, abs=1e-12)
    assert after.neuroticism == pytest.approx(29.25, abs=1e-12)
    assert after.conscientiousness == 40.0
    assert after.agreeableness == 80.0


def test_a_positive_weight_moves_up_a_negative_one_down_in_proportion() -> None:
    up = apply_conversion(START, CampaignTraits(agreeableness=1))
    half_up = apply_conversion(START, CampaignTraits(agreeableness=0.5))
    down = apply_conversion(START, CampaignTraits(agreeableness=-1))
    assert START.agreeableness < half_up.agreeableness < up.agreeableness
    assert up.agreeableness - START.agreeableness == pytest.approx(0.05 * 20)
    assert half_up.agreeableness - START.agreeableness == pytest.approx(0.05 * 0.5 * 20)
    assert down.agreeableness == pytest.approx(80 - 0.05 * 80)


def test_zero_weights_change_nothing() -> None:
    assert apply_conversion(START, CampaignTraits()) == START


def test_scores_stay_within_0_to_100_and_never_pass_their_target() -> None:
    edges = BigFive(
        openness=100, conscientiousness=0, extraversion=99.9, agreeableness=0.1, neuroticism=50
    )
    campaign = CampaignTraits(
        openness=1, conscientiousness=-1, extraversion=1, agreeableness=-1, neuroticism=1
    )
    after = apply_conversion(edges, campaign, rate=1)
    assert after.as_mapping() == dict.fromkeys(Trait, 0.0) | {
        Trait.OPENNESS: 100.0,
        Trait.EXTRAVERSION: 100.0,
        Trait.NEUROTICISM: 100.0,
    }
    scores = START
    for _ in range(500):
        scores = apply_conversion(scores, campaign)
        assert all(0.0 <= value <= 100.0 for value in scores.as_mapping().values())
    assert scores.openness == pytest.approx(100.0, abs=1e-6)
    assert scores.conscientiousness == pytest.approx(0.0, abs=1e-6)


def test_the_rule_is_deterministic() -> None:
    campaign = CampaignTraits(openness=0.3, neuroticism=-0.7)
    assert apply_conversion(START, campaign) == apply_conversion(START, campaign)


@pytest.mark.parametrize("weight", [1.01, -1.5, float("nan"), True, "1"])
def test_a_weight_outside_minus_1_to_1_is_refused(weight: object) -> None:
    with pytest.raises(InvalidCampaignTraits, match="openness: weight"):
        CampaignTraits(openness=weight)  # type: ignore[arg-type]


@pytest.mark.parametrize("rate", [0, -0.1, 1.5, float("nan"), True])
def test_a_rate_outside_0_to_1_is_refused(rate: float) -> None:
    with pytest.raises(InvalidCampaignTraits, match="rate"):
        apply_conversion(START, CampaignTraits(openness=1), rate=rate)


def test_from_mapping_defaults_to_zero_and_refuses_unknown_traits() -> None:
    campaign = CampaignTraits.from_mapping({Trait.OPENNESS: 0.5})
    assert campaign == CampaignTraits(openness=0.5)
    with pytest.raises(InvalidCampaignTraits, match="unknown traits: 'honesty'"):
        CampaignTraits.from_mapping({"honesty": 0.5})  # type: ignore[dict-item]
