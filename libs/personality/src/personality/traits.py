"""The Big Five traits, a person's scores on them, and the personality type derived from them.

Traits and scale
----------------
Five traits, each scored as a float from 0 to 100 inclusive (0 = lowest, 100 = highest):
openness, conscientiousness, extraversion, agreeableness and neuroticism. The fifth trait is
kept as *neuroticism* (high = emotionally reactive, easily stressed), the pole most providers
report; the test's "emotional stability" factor is its mirror image and is converted as
``neuroticism = 100 - emotional stability`` (see `personality.inventory`).

Type rule
---------
A four-letter code, one letter per trait, always in this order:

====== ================= ================ ===============
letter trait             score >= 50      score < 50
====== ================= ================ ===============
1      extraversion      E (extraverted)  I (introverted)
2      openness          N (intuitive)    S (sensing)
3      agreeableness     F (feeling)      T (thinking)
4      conscientiousness J (judging)      P (perceiving)
====== ================= ================ ===============

The threshold is 50, the middle of the scale, and a score of exactly 50 counts as high
(``score >= 50``), so every set of scores has exactly one type. Neuroticism takes no part in
the code. The pairing of the four letters with these four traits follows the correlations
McCrae and Costa (1989) found between the four Jungian type scales and the Big Five
(extraversion with E-I, openness with S-N, agreeableness with T-F, conscientiousness with J-P).

Example: extraversion 72, openness 50, agreeableness 31.5, conscientiousness 49.9 ->
E, N (exactly 50 is high), T, P -> ``ENTP``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from itertools import product

MIN_SCORE = 0.0
MAX_SCORE = 100.0
THRESHOLD = 50.0


class Trait(StrEnum):
    """The Big Five traits, in the usual OCEAN order; the values are the names used in data."""

    OPENNESS = "openness"
    CONSCIENTIOUSNESS = "conscientiousness"
    EXTRAVERSION = "extraversion"
    AGREEABLENESS = "agreeableness"
    NEUROTICISM = "neuroticism"


class InvalidScore(ValueError):
    """A trait score that is not a number from 0 to 100."""


class UnknownType(ValueError):
    """A personality type code that is not one of the 16."""


def _checked(trait: Trait, value: object) -> float:
    # bool is an int to Python, but True is no score.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidScore(f"{trait}: {value!r} is not a number")
    score = float(value)
    if not math.isfinite(score) or not MIN_SCORE <= score <= MAX_SCORE:
        raise InvalidScore(f"{trait}: {value!r} is not from {MIN_SCORE:g} to {MAX_SCORE:g}")
    return score


@dataclass(frozen=True, slots=True)
class BigFive:
    """One person's five trait scores, each a float from 0 to 100 inclusive.

    Integers are accepted and stored as floats; anything else (booleans, NaN, infinities,
    values outside 0..100) raises `InvalidScore` naming the trait.
    """

    openness: float
    conscientiousness: float
    extraversion: float
    agreeableness: float
    neuroticism: float

    def __post_init__(self) -> None:
        for trait in Trait:
            # The dataclass is frozen: normalising ints to floats goes through object.
            object.__setattr__(self, trait.value, _checked(trait, getattr(self, trait.value)))

    @classmethod
    def from_mapping(cls, scores: Mapping[Trait, float]) -> BigFive:
        """Scores keyed by trait; every trait must be present and no other key."""
        missing = [trait.value for trait in Trait if trait not in scores]
        extra = [repr(key) for key in scores if key not in set(Trait)]
        if missing or extra:
            raise InvalidScore(
                "the five traits are needed, exactly:"
                + (f" missing {', '.join(missing)}" if missing else "")
                + (f" unknown {', '.join(extra)}" if extra else "")
            )
        return cls(**{trait.value: scores[trait] for trait in Trait})

    def score(self, trait: Trait) -> float:
        return float(getattr(self, trait.value))

    def as_mapping(self) -> dict[Trait, float]:
        return {trait: self.score(trait) for trait in Trait}

    @property
    def type_code(self) -> str:
        """The four-letter code of the type rule (module docstring)."""
        return "".join(
            high if self.score(trait) >= THRESHOLD else low for trait, high, low in TYPE_LETTERS
        )

    @property
    def personality_type(self) -> PersonalityType:
        return personality_type(self.type_code)


# (trait, letter when score >= THRESHOLD, letter when below), in the order of the code.
TYPE_LETTERS: tuple[tuple[Trait, str, str], ...] = (
    (Trait.EXTRAVERSION, "E", "I"),
    (Trait.OPENNESS, "N", "S"),
    (Trait.AGREEABLENESS, "F", "T"),
    (Trait.CONSCIENTIOUSNESS, "J", "P"),
)


@dataclass(frozen=True, slots=True)
class PersonalityType:
    """One of the 16 types: its code, a short name and a one-line description."""

    code: str
    name: str
    description: str


_NAMES: dict[str, tuple[str, str]] = {
    "ENFJ": ("Mentor", "Outgoing, imaginative and caring; rallies people around shared goals."),
    "ENFP": ("Enthusiast", "Sociable, curious and warm; full of ideas, keeps options open."),
    "ENTJ": ("Director", "Outgoing and analytical; sets the direction and drives the plan."),
    "ENTP": ("Debater", "Outgoing and inventive; enjoys arguing out new possibilities."),
    "ESFJ": ("Host", "Sociable and dependable; keeps groups together and people looked after."),
    "ESFP": ("Entertainer", "Lively and kind; brings energy to people and lives in the moment."),
    "ESTJ": ("Organiser", "Outgoing and decisive; runs things by clear rules and plans."),
    "ESTP": ("Dealmaker", "Outgoing and practical; acts fast on what is in front of them."),
    "INFJ": ("Counsellor", "Reflective and idealistic; plans quietly toward what helps others."),
    "INFP": ("Idealist", "Quiet, curious and warm; guided by inner values more than schedules."),
    "INTJ": ("Strategist", "Independent and imaginative; turns ideas into long-range plans."),
    "INTP": ("Theorist", "Quiet and curious; enjoys ideas for their own sake, keeps plans loose."),
    "ISFJ": ("Caretaker", "Reserved and considerate; helps people in steady, practical ways."),
    "ISFP": ("Artisan", "Gentle and easygoing; follows personal values and enjoys the present."),
    "ISTJ": ("Steward", "Quiet, orderly and reliable; keeps commitments and trusts what works."),
    "ISTP": ("Troubleshooter", "Reserved and pragmatic; fixes problems as they come."),
}

# All 16, in the order of the letters' table (high letter first at each position).
PERSONALITY_TYPES: tuple[PersonalityType, ...] = tuple(
    PersonalityType(code, *_NAMES[code])
    for code in ("".join(letters) for letters in product(*((h, lo) for _, h, lo in TYPE_LETTERS)))
)
_BY_CODE = {kind.code: kind for kind in PERSONALITY_TYPES}


def personality_type(code: str) -> PersonalityType:
    """The type of a four-letter code (upper case, as produced by the rule)."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise UnknownType(f"{code!r} is not a personality type") from None
