"""The personality model: pure rules, no I/O, standard library only.

* `personality.traits`: the Big Five traits, `BigFive` (five scores, each a float 0..100;
  the fifth trait is neuroticism, high = reactive) and the type rule: a four-letter code,
  E/I from extraversion, N/S from openness, F/T from agreeableness, J/P from
  conscientiousness, the first letter when the score is >= 50 (exactly 50 is high); the 16
  types with a name and a one-line description.
* `personality.inventory`: the personality test, the 50-item set of IPIP Big-Five Factor
  Markers (the International Personality Item Pool, Goldberg, 1992, public domain) and its
  keyed scoring: answers 1..5, "-" keyed items scored 6 - answer, a factor's raw sum 10..50
  mapped to (raw - 10) / 40 * 100; emotional stability becomes neuroticism = 100 - stability.
* `personality.providers`: provider scores into the model; Watson Personality Insights v3
  ``big5_*`` percentiles (0..1) times 100.
* `personality.conversions`: a conversion on a campaign tagged with trait weights (-1..1)
  moves each score toward 100 (positive weight) or 0 (negative) by 5 % of the distance
  times the weight.
"""

from personality.conversions import CampaignTraits, InvalidCampaignTraits, apply_conversion
from personality.inventory import (
    ANSWER_LABELS,
    ITEMS,
    Factor,
    InvalidAnswers,
    InventoryResult,
    Item,
    Key,
    score,
)
from personality.providers import InvalidProviderScores, from_watson_profile
from personality.traits import (
    PERSONALITY_TYPES,
    BigFive,
    InvalidScore,
    PersonalityType,
    Trait,
    UnknownType,
    personality_type,
)

__all__ = [
    "ANSWER_LABELS",
    "ITEMS",
    "PERSONALITY_TYPES",
    "BigFive",
    "CampaignTraits",
    "Factor",
    "InvalidAnswers",
    "InvalidCampaignTraits",
    "InvalidProviderScores",
    "InvalidScore",
    "InventoryResult",
    "Item",
    "Key",
    "PersonalityType",
    "Trait",
    "UnknownType",
    "apply_conversion",
    "from_watson_profile",
    "personality_type",
    "score",
]
