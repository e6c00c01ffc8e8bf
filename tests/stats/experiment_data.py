"""The published data sets of tests/fixtures/experiments/README.md: found by name, checked by SHA-256, or skipped.

They are not committed yet (the README says why); a test that needs one skips with a reason when it is absent.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd  # type: ignore[import-untyped]
import pytest

FOLDER = Path(__file__).resolve().parents[1] / "fixtures" / "experiments"
SHA256 = {
    "sicily.csv": "63a867b3fc8748425ff27a28202c19b4c2741e69a1ab753ad8e77c4e56457dda",
    "smoking.csv": "d1b537fc9b69bee16ddee19b92869fd1632afa17f3b0744ae72ba2506da7b582",
    "mpdta.csv": "2283bea1221a152420f98dfa20f633c5d054ea51d881115c8cd702a97bcd3167",
}


def published(name: str) -> pd.DataFrame:
    """The data set ``name``, from tests/fixtures/experiments/ or ``$FOREWARN_EXPERIMENT_DATA``."""
    places = [FOLDER / name]
    if os.environ.get("FOREWARN_EXPERIMENT_DATA"):
        places.append(Path(os.environ["FOREWARN_EXPERIMENT_DATA"]) / name)
    for path in places:
        if path.exists():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == SHA256[name], f"{path} is not the published file (SHA-256 {digest})"
            return pd.read_csv(path)
    pytest.skip(f"{name} is not here yet: see tests/fixtures/experiments/README.md")
