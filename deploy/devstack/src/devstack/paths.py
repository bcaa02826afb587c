"""Where the repository and its local state (`.data/`) live."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class DevstackError(RuntimeError):
    """Something the local stack needs is missing or did not come up."""


def repo_root() -> Path:
    # devstack is installed editable from the workspace, so its own location finds the repo;
    # the working directory is the fallback for a non-editable install.
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for candidate in (start, *start.parents):
            if (candidate / "uv.lock").is_file() and (candidate / "services").is_dir():
                return candidate
    raise DevstackError("cannot find the repository root (a directory with uv.lock and services/)")


def data_dir() -> Path:
    return repo_root() / ".data"


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Held by one process at a time, across processes (two `make` runs at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
