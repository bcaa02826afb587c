"""The development signing key the services trust until an identity service issues tokens."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from devstack.paths import DevstackError

TOKENS_MODULE = "testkit.tokens"


def ensure_dev_keys(keys_dir: Path, python: str = sys.executable) -> Path:
    """Create the key (once) and write its JWKS; returns the path of `jwks.json`."""
    try:
        available = importlib.util.find_spec(TOKENS_MODULE) is not None
    except ModuleNotFoundError:
        available = False
    if not available:
        raise DevstackError(
            f"{TOKENS_MODULE} is not installed, and the services need its development signing "
            "key (JWKS_URL). Run `make install` (it installs the dev group with testkit)."
        )
    keys_dir.mkdir(parents=True, exist_ok=True)
    command = [python, "-m", TOKENS_MODULE, "--keys-dir", str(keys_dir), "--write-jwks"]
    result = subprocess.run(
        command, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    jwks = keys_dir / "jwks.json"
    if result.returncode != 0 or not jwks.is_file():
        raise DevstackError(
            f"`{' '.join(command)}` exited with {result.returncode} and left no {jwks}:\n"
            f"{(result.stdout + result.stderr).strip()}"
        )
    return jwks
