"""Shared paths for the Python tests: the repository's test data and the `npyq` binary."""

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "sql-examples"
DATA = EXAMPLES / "data"
CORPUS = ROOT / "tests" / "data" / "corpus" / "files"
FIXTURES = ROOT / "tests" / "data" / "fixtures"


def npyq_binary():
    """`$NPYQ`, else the workspace's debug or release build, else `npyq` on PATH."""
    if os.environ.get("NPYQ"):
        return os.environ["NPYQ"]
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "npyq"
        if candidate.exists():
            return str(candidate)
    return shutil.which("npyq")


@pytest.fixture(scope="session")
def npyq():
    binary = npyq_binary()
    if binary is None:
        pytest.fail("no npyq binary: run `cargo build` first, or set NPYQ=/path/to/npyq")
    return binary
