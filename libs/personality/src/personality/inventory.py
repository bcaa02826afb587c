"""The personality test: the 50-item set of IPIP Big-Five Factor Markers, and its scoring.

Source: the International Personality Item Pool (Goldberg, 1992), public domain. The items,
their order, their factor and their key are the instrument's; the item texts are verbatim
(each completes "I ...", e.g. "Am the life of the party.").

Answers
-------
Each item is answered with an integer from 1 to 5, how accurately it describes the person:
1 Very Inaccurate, 2 Moderately Inaccurate, 3 Neither Accurate Nor Inaccurate,
4 Moderately Accurate, 5 Very Accurate. A submission maps every item id (1..50) to its
answer: exactly the 50 ids, each answered with an int 1..5 (booleans, floats and strings
are refused), else `InvalidAnswers` lists every problem, naming the item.

Scoring (as the instrument prescribes)
--------------------------------------
* A "+" keyed item scores its answer; a "-" keyed item scores ``6 - answer`` (so "Very
  Accurate" on "Don't talk a lot." scores 1 toward extraversion).
* Each factor's raw score is the sum of its 10 item scores: 10 to 50.
* The raw score maps linearly onto the model's 0..100 scale: ``(raw - 10) / 40 * 100``
  (10 -> 0, 30 -> 50, 50 -> 100; every result is a multiple of 2.5).
* Factors to traits: I Extraversion -> extraversion, II Agreeableness -> agreeableness,
  III Conscientiousness -> conscientiousness, V Intellect/Imagination -> openness, and IV
  Emotional Stability is the mirror of neuroticism: ``neuroticism = 100 - stability``, i.e.
  ``(50 - raw) / 40 * 100``.

Worked example: answering 5 to every item gives extraversion raw 5 * 5 + 5 * 1 = 30 (50.0),
agreeableness and conscientiousness 6 * 5 + 4 * 1 = 34 (60.0), emotional stability
2 * 5 + 8 * 1 = 18 (20.0, so neuroticism 80.0) and intellect 7 * 5 + 3 * 1 = 38 (70.0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum

from personality.traits import BigFive, PersonalityType, Trait

MIN_ANSWER = 1
MAX_ANSWER = 5
ITEMS_PER_FACTOR = 10
MIN_RAW = ITEMS_PER_FACTOR * MIN_ANSWER
MAX_RAW = ITEMS_PER_FACTOR * MAX_ANSWER

ANSWER_LABELS: dict[int, str] = {
    1: "Very Inaccurate",
    2: "Moderately Inaccurate",
    3: "Neither Accurate Nor Inaccurate",
    4: "Moderately Accurate",
    5: "Very Accurate",
}


class Factor(StrEnum):
    """The instrument's five factors, in its numbering I..V."""

    EXTRAVERSION = "extraversion"
    AGREEABLENESS = "agreeableness"
    CONSCIENTIOUSNESS = "conscientiousness"
    EMOTIONAL_STABILITY = "emotional_stability"
    INTELLECT = "intellect"


class Key(Enum):
    """How an item counts toward its factor: as answered (+) or reversed (-)."""

    PLUS = "+"
    MINUS = "-"


@dataclass(frozen=True, slots=True)
class Item:
    id: int
    text: str
    factor: Factor
    key: Key

    def score(self, answer: int) -> int:
        return answer if self.key is Key.PLUS else MIN_ANSWER + MAX_ANSWER - answer


_E, _A, _C, _S, _I = (
    Factor.EXTRAVERSION,
    Factor.AGREEABLENESS,
    Factor.CONSCIENTIOUSNESS,
    Factor.EMOTIONAL_STABILITY,
    Factor.INTELLECT,
)
_P, _M = Key.PLUS, Key.MINUS

_TABLE: tuple[tuple[str, Factor, Key], ...] = (
    ("Am the life of the party.", _E, _P),
    ("Feel little concern for others.", _A, _M),
    ("Am always prepared.", _C, _P),
    ("Get stressed out easily.", _S, _M),
    ("Have a rich vocabulary.", _I, _P),
    ("Don't talk a lot.", _E, _M),
    ("Am interested in people.", _A, _P),
    ("Leave my belongings around.", _C, _M),
    ("Am relaxed most of the time.", _S, _P),
    ("Have difficulty understanding abstract ideas.", _I, _M),
    ("Feel comfortable around people.", _E, _P),
    ("Insult people.", _A, _M),
    ("Pay attention to details.", _C, _P),
    ("Worry about things.", _S, _M),
    ("Have a vivid imagination.", _I, _P),
    ("Keep in the background.", _E, _M),
    ("Sympathize with others' feelings.", _A, _P),
    ("Make a mess of things.", _C, _M),
    ("Seldom feel blue.", _S, _P),
    ("Am not interested in abstract ideas.", _I, _M),
    ("Start conversations.", _E, _P),
    ("Am not interested in other people's problems.", _A, _M),
    ("Get chores done right away.", _C, _P),
    ("Am easily disturbed.", _S, _M),
    ("Have excellent ideas.", _I, _P),
    ("Have little to say.", _E, _M),
    ("Have a soft heart.", _A, _P),
    ("Often forget to put things back in their proper place.", _C, _M),
    ("Get upset easily.", _S, _M),
    ("Do not have a good imagination.", _I, _M),
    ("Talk to a lot of different people at parties.", _E, _P),
    ("Am not really interested in others.", _A, _M),
    ("Like order.", _C, _P),
    ("Change my mood a lot.", _S, _M),
    ("Am quick to understand things.", _I, _P),
    ("Don't like to draw attention to myself.", _E, _M),
    ("Take time out for others.", _A, _P),
    ("Shirk my duties.", _C, _M),
    ("Have frequent mood swings.", _S, _M),
    ("Use difficult words.", _I, _P),
    ("Don't mind being the center of attention.", _E, _P),
    ("Feel others' emotions.", _A, _P),
    ("Follow a schedule.", _C, _P),
    ("Get irritated easily.", _S, _M),
    ("Spend time reflecting on things.", _I, _P),
    ("Am quiet around strangers.", _E, _M),
    ("Make people feel at ease.", _A, _P),
    ("Am exacting in my work.", _C, _P),
    ("Often feel blue.", _S, _M),
    ("Am full of ideas.", _I, _P),
)

# The 50 items in the instrument's order; ids 1..50.
ITEMS: tuple[Item, ...] = tuple(
    Item(number, text, factor, key) for number, (text, factor, key) in enumerate(_TABLE, start=1)
)
_BY_ID = {item.id: item for item in ITEMS}


class InvalidAnswers(ValueError):
    """A submission that is not exactly the 50 items each answered 1..5; `problems` lists
    every fault, each naming its item."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class InventoryResult:
    """A scored submission: each factor's raw sum (10..50), the model's scores and the type."""

    raw: Mapping[Factor, int]
    scores: BigFive

    @property
    def personality_type(self) -> PersonalityType:
        return self.scores.personality_type


def _validated(answers: Mapping[int, int]) -> dict[int, int]:
    problems: list[str] = []
    for key in answers:
        # bool is an int to Python, but True is no item id.
        if isinstance(key, bool) or key not in _BY_ID:
            problems.append(f"item {key!r} is not an item of the test (1 to {len(ITEMS)})")
    for item in ITEMS:
        if item.id not in answers:
            problems.append(f"item {item.id} is not answered")
            continue
        answer = answers[item.id]
        if isinstance(answer, bool) or not isinstance(answer, int):
            problems.append(f"item {item.id}: {answer!r} is not a whole number from 1 to 5")
        elif not MIN_ANSWER <= answer <= MAX_ANSWER:
            problems.append(f"item {item.id}: {answer!r} is not from 1 to 5")
    if problems:
        raise InvalidAnswers(problems)
    return {item.id: answers[item.id] for item in ITEMS}


def raw_to_score(raw: int) -> float:
    """A factor's raw sum (10..50) on the 0..100 scale: (raw - 10) / 40 * 100."""
    if not MIN_RAW <= raw <= MAX_RAW:
        raise ValueError(f"raw score {raw} is not from {MIN_RAW} to {MAX_RAW}")
    # Multiplying before dividing keeps every result exact (a multiple of 2.5), so 30 is 50.0.
    return (raw - MIN_RAW) * 100 / (MAX_RAW - MIN_RAW)


def score(answers: Mapping[int, int]) -> InventoryResult:
    """Score a submission (item id -> answer 1..5) as the instrument prescribes (module
    docstring); raises `InvalidAnswers` unless it is exactly the 50 items each answered 1..5."""
    valid = _validated(answers)
    raw = dict.fromkeys(Factor, 0)
    for item in ITEMS:
        raw[item.factor] += item.score(valid[item.id])
    stability = raw_to_score(raw[Factor.EMOTIONAL_STABILITY])
    scores = BigFive.from_mapping(
        {
            Trait.EXTRAVERSION: raw_to_score(raw[Factor.EXTRAVERSION]),
            Trait.AGREEABLENESS: raw_to_score(raw[Factor.AGREEABLENESS]),
            Trait.CONSCIENTIOUSNESS: raw_to_score(raw[Factor.CONSCIENTIOUSNESS]),
            Trait.NEUROTICISM: 100 - stability,
            Trait.OPENNESS: raw_to_score(raw[Factor.INTELLECT]),
        }
    )
    return InventoryResult(raw=raw, scores=scores)
