"""Where the tests find data that lives outside the tests folder."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
VECTORS_DIR = REPO_ROOT / "tests" / "vectors"


def reference_dir() -> Path:
    """The public standard files and vectors in ../shared/reference (read-only).

    FARMTRACE_REFERENCE_DIR overrides the location, for a checkout that is not beside shared/.
    """
    override = os.environ.get("FARMTRACE_REFERENCE_DIR")
    if override:
        return Path(override)
    return REPO_ROOT.parent / "shared" / "reference"
