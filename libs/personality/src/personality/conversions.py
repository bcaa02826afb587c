"""How a conversion (a viewer acting on a campaign) updates the viewer's scores.

A campaign is tagged with the traits it appeals to: a `CampaignTraits` weight from -1 to 1
per trait (0 = no bearing, the default; +1 = appeals strongly to people high in the trait;
-1 = to people low in it). A conversion is evidence that the viewer resembles the people the
campaign appeals to, so each score moves toward that pole by a fixed share of the distance:

    target = 100 if weight > 0 else 0
    new    = score + rate * |weight| * (target - score),   clamped to 0..100

with ``rate = LEARNING_RATE = 0.05`` (5 % of the distance at full weight). Since
``rate * |weight| <= 1`` a score never passes its target; repeated conversions approach it
geometrically, and a zero weight leaves the trait unchanged. The rule is pure and
deterministic: the same scores, campaign and rate always give the same result. The type is
not stored by the rule; it follows from the new scores (`BigFive.type_code`).

Worked example, rate 0.05, scores openness 60, conscientiousness 40, extraversion 50,
agreeableness 80, neuroticism 30, campaign openness +1, extraversion +0.5,
neuroticism -0.5 (others 0):

* openness: 60 + 0.05 * 1 * (100 - 60) = 62
* extraversion: 50 + 0.05 * 0.5 * (100 - 50) = 51.25
* neuroticism: 30 + 0.05 * 0.5 * (0 - 30) = 29.25
* conscientiousness 40 and agreeableness 80 unchanged (weight 0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from personality.traits import MAX_SCORE, MIN_SCORE, BigFive, Trait

LEARNING_RATE = 0.05
MIN_WEIGHT = -1.0
MAX_WEIGHT = 1.0


class InvalidCampaignTraits(ValueError):
    """A campaign weight that is not a number from -1 to 1, or a rate not in (0, 1]."""


@dataclass(frozen=True, slots=True)
class CampaignTraits:
    """The traits a campaign appeals to: a weight from -1 to 1 per trait, 0 by default."""

    openness: float = 0.0
    conscientiousness: float = 0.0
    extraversion: float = 0.0
    agreeableness: float = 0.0
    neuroticism: float = 0.0

    def __post_init__(self) -> None:
        for trait in Trait:
            value = getattr(self, trait.value)
            # bool is an int to Python, but True is no weight.
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or not MIN_WEIGHT <= value <= MAX_WEIGHT
            ):
                raise InvalidCampaignTraits(f"{trait}: weight {value!r} is not from -1 to 1")
            object.__setattr__(self, trait.value, float(value))

    @classmethod
    def from_mapping(cls, weights: Mapping[Trait, float]) -> CampaignTraits:
        """Weights keyed by trait; traits left out weigh 0."""
        unknown = [repr(key) for key in weights if key not in set(Trait)]
        if unknown:
            raise InvalidCampaignTraits(f"unknown traits: {', '.join(unknown)}")
        return cls(**{Trait(key).value: weight for key, weight in weights.items()})

    def weight(self, trait: Trait) -> float:
        return float(getattr(self, trait.value))


def apply_conversion(
    scores: BigFive, campaign: CampaignTraits, rate: float = LEARNING_RATE
) -> BigFive:
    """The scores after one conversion on `campaign` (rule and worked example: module
    docstring)."""
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 < rate <= 1:
        raise InvalidCampaignTraits(f"rate {rate!r} is not in (0, 1]")
    updated: dict[Trait, float] = {}
    for trait in Trait:
        score, weight = scores.score(trait), campaign.weight(trait)
        target = MAX_SCORE if weight > 0 else MIN_SCORE
        moved = score + rate * abs(weight) * (target - score)
        updated[trait] = min(MAX_SCORE, max(MIN_SCORE, moved))
    return BigFive.from_mapping(updated)
