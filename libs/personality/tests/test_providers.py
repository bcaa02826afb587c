"""Watson Personality Insights v3 profiles into the model: percentile times 100."""

from __future__ import annotations

from typing import Any

import pytest

from personality import InvalidProviderScores, Trait, from_watson_profile


def trait(trait_id: str, name: str, percentile: Any) -> dict[str, Any]:
    return {
        "trait_id": trait_id,
        "name": name,
        "category": "personality",
        "percentile": percentile,
        "raw_score": 0.61,
        "significant": True,
        "children": [
            {
                "trait_id": "facet_x",
                "name": "Facet",
                "category": "personality",
                "percentile": 0.99,
                "significant": True,
            }
        ],
    }


def profile(**percentiles: Any) -> dict[str, Any]:
    values = {
        "big5_openness": 0.81,
        "big5_conscientiousness": 0.25,
        "big5_extraversion": 0.5,
        "big5_agreeableness": 1,
        "big5_neuroticism": 0.0,
    }
    values.update(percentiles)
    return {
        "word_count": 1365,
        "processed_language": "en",
        "personality": [
            trait(key, key.removeprefix("big5_"), value) for key, value in values.items()
        ],
        "needs": [trait("need_challenge", "Challenge", 0.7)],
        "values": [trait("value_hedonism", "Hedonism", 0.2)],
        "warnings": [],
    }


def test_each_percentile_becomes_a_score_out_of_100() -> None:
    scores = from_watson_profile(profile())
    assert scores.as_mapping() == {
        Trait.OPENNESS: pytest.approx(81.0),
        Trait.CONSCIENTIOUSNESS: 25.0,
        Trait.EXTRAVERSION: 50.0,
        Trait.AGREEABLENESS: 100.0,
        Trait.NEUROTICISM: 0.0,
    }


def test_emotional_range_is_neuroticism_not_inverted() -> None:
    assert from_watson_profile(profile(big5_neuroticism=0.9)).neuroticism == 90.0


def test_a_missing_trait_is_refused() -> None:
    incomplete = profile()
    incomplete["personality"] = incomplete["personality"][:4]
    with pytest.raises(InvalidProviderScores, match="lacks big5_neuroticism"):
        from_watson_profile(incomplete)


@pytest.mark.parametrize("bad", [1.2, -0.01, "0.5", None, True, float("nan")])
def test_a_percentile_outside_0_to_1_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidProviderScores, match="big5_openness: percentile"):
        from_watson_profile(profile(big5_openness=bad))


def test_a_trait_twice_or_no_personality_list_is_refused() -> None:
    doubled = profile()
    doubled["personality"].append(trait("big5_openness", "Openness", 0.3))
    with pytest.raises(InvalidProviderScores, match="appears twice"):
        from_watson_profile(doubled)
    with pytest.raises(InvalidProviderScores, match="no 'personality' list"):
        from_watson_profile({"word_count": 3})
