"""The flags file: one section per deployment environment, validated with pydantic at start.

production:
  new-checkout:
    enabled: true
    users: [user-1]          # always on for these users
    tenants: [acme]          # always on for everyone of these tenants
    rollout_percent: 10      # and for this share of everyone else
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from flags.domain import Flag

FlagName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Id = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class FlagsFileError(Exception):
    """The file cannot be read, or does not hold valid flags for the environment."""


class FlagConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool
    users: list[Id] = Field(default_factory=list, max_length=10_000)
    tenants: list[Id] = Field(default_factory=list, max_length=10_000)
    rollout_percent: float = Field(default=0.0, ge=0.0, le=100.0)

    def flag(self, name: str) -> Flag:
        return Flag(
            name, self.enabled, frozenset(self.users), frozenset(self.tenants), self.rollout_percent
        )


class FlagsFile(BaseModel):
    """Environment name -> flag name -> flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    environments: dict[FlagName, dict[FlagName, FlagConfig]]


def load_flags(path: Path, environment: str) -> dict[str, Flag]:
    """The flags of `environment` in the file at `path`, by name; FlagsFileError saying what is
    wrong (the file, its YAML, which field of which flag) otherwise."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise FlagsFileError(f"cannot read the flags file {path}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlagsFileError(f"the flags file {path} is not valid YAML: {exc}") from exc
    try:
        parsed = FlagsFile.model_validate({"environments": data})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc'][1:]) or 'the file'}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise FlagsFileError(f"the flags file {path} is not valid: {problems}") from exc
    section = parsed.environments.get(environment)
    if section is None:
        known = ", ".join(sorted(parsed.environments)) or "none"
        raise FlagsFileError(
            f"the flags file {path} has no section for environment {environment!r} "
            f"(it has: {known})"
        )
    return {name: config.flag(name) for name, config in section.items()}
