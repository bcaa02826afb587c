"""How data providers' personality scores map into the model (`BigFive`, 0..100 per trait).

IBM Watson Personality Insights (API v3, ``POST /v3/profile``)
-------------------------------------------------------------
The profile's ``personality`` array holds one entry per Big Five trait::

    {"trait_id": "big5_openness", "name": "Openness", "category": "personality",
     "percentile": 0.81, "raw_score": 0.77, "significant": true, "children": [...]}

The five ``trait_id`` values are ``big5_openness``, ``big5_conscientiousness``,
``big5_extraversion``, ``big5_agreeableness`` and ``big5_neuroticism`` (the last is named
"Emotional range" in v3; a high percentile is a reactive person, the same pole as the
model's neuroticism, so it is not inverted). Rule: ``score = percentile * 100``.

The percentile (0..1, the person's standing against the provider's norm sample) is used
rather than ``raw_score``: it is always present (``raw_score`` only with ``raw_scores=true``)
and it is what the 0..100 scale and the type threshold of 50 (the median) are meant for.
The ``children`` (facets), ``needs``, ``values`` and ``consumption_preferences`` are not used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from personality.traits import BigFive, Trait

WATSON_TRAITS: dict[str, Trait] = {
    "big5_openness": Trait.OPENNESS,
    "big5_conscientiousness": Trait.CONSCIENTIOUSNESS,
    "big5_extraversion": Trait.EXTRAVERSION,
    "big5_agreeableness": Trait.AGREEABLENESS,
    "big5_neuroticism": Trait.NEUROTICISM,
}


class InvalidProviderScores(ValueError):
    """A provider's answer that does not carry the five traits in the documented form."""


def from_watson_profile(profile: Mapping[str, object]) -> BigFive:
    """The model's scores from a Watson Personality Insights v3 profile (parsed JSON):
    each ``big5_*`` trait's ``percentile`` (0..1) times 100."""
    entries = profile.get("personality")
    if not isinstance(entries, list):
        raise InvalidProviderScores("the profile has no 'personality' list")
    scores: dict[Trait, float] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise InvalidProviderScores(f"a 'personality' entry is not an object: {entry!r}")
        trait = WATSON_TRAITS.get(str(entry.get("trait_id")))
        if trait is None:
            continue
        if trait in scores:
            raise InvalidProviderScores(f"{entry.get('trait_id')} appears twice")
        percentile = entry.get("percentile")
        if (
            isinstance(percentile, bool)
            or not isinstance(percentile, int | float)
            or not math.isfinite(percentile)
            or not 0 <= percentile <= 1
        ):
            raise InvalidProviderScores(
                f"{entry.get('trait_id')}: percentile {percentile!r} is not from 0 to 1"
            )
        scores[trait] = percentile * 100
    missing = [trait_id for trait_id, trait in WATSON_TRAITS.items() if trait not in scores]
    if missing:
        raise InvalidProviderScores(f"the profile lacks {', '.join(missing)}")
    return BigFive.from_mapping(scores)
