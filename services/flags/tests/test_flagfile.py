"""The flags file: read per environment, refused at start with a clear message when bad."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.paths import repo_root
from devstack.services import by_name
from flags.domain import Flag
from flags.flagfile import FlagsFileError, load_flags

GOOD = """
production:
  checkout:
    enabled: true
    users: [u-1]
    tenants: [t-1]
    rollout_percent: 12.5
  old-ui:
    enabled: false
staging:
  checkout:
    enabled: true
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flags.yaml"
    path.write_text(text)
    return path


def test_the_environments_section_is_read(tmp_path: Path) -> None:
    flags = load_flags(written(tmp_path, GOOD), "production")
    assert flags == {
        "checkout": Flag("checkout", True, frozenset({"u-1"}), frozenset({"t-1"}), 12.5),
        "old-ui": Flag("old-ui", False),
    }
    assert load_flags(written(tmp_path, GOOD), "staging") == {"checkout": Flag("checkout", True)}


@pytest.mark.parametrize("environment", ["development", "staging", "production"])
def test_the_shipped_file_is_valid_for_every_environment(environment: str) -> None:
    [(setting, path)] = by_name("flags").files
    assert setting == "FLAGS_FILE"
    assert load_flags(repo_root() / path, environment)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("production: [", "not valid YAML"),
        ("production:\n  checkout:\n    enabled: maybe\n", "production.checkout.enabled"),
        (
            "production:\n  checkout:\n    enabled: true\n    rollout_percent: 101\n",
            "production.checkout.rollout_percent: Input should be less than or equal to 100",
        ),
        ("production:\n  checkout:\n    enabled: true\n    colour: red\n", "colour"),
        ("production:\n  Check Out:\n    enabled: true\n", "production.Check Out"),
        (
            "production:\n  checkout:\n    users: [u-1]\n",
            "production.checkout.enabled: Field required",
        ),
        # YAML reads a bare `off` as false: a flag's name is a string.
        ("production:\n  off:\n    enabled: true\n", "Input should be a valid string"),
        ("- a list\n", "the file: Input should be a valid dictionary"),
        ("staging:\n  checkout:\n    enabled: true\n", "no section for environment 'production'"),
    ],
)
def test_a_bad_file_is_refused_saying_what_is_wrong(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(FlagsFileError, match=r"not valid|no section") as refused:
        load_flags(written(tmp_path, text), "production")
    assert message in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FlagsFileError, match="cannot read the flags file"):
        load_flags(tmp_path / "nowhere.yaml", "production")


def test_a_bad_file_stops_the_service_with_its_message(tmp_path: Path) -> None:
    path = written(
        tmp_path, "production:\n  checkout:\n    enabled: true\n    rollout_percent: -1\n"
    )
    env = {**os.environ, "FLAGS_FILE": str(path), "ENVIRONMENT": "production", "PORT": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "flags"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "production.checkout.rollout_percent" in done.stderr
