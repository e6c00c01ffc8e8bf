"""Staff survey answers at item level, generated from the latent dimensions of the learning-capacity instrument.

The instrument is read from its YAML file (``src/forewarn/surveys/instruments/forewarn_lc_v1.yml`` by default) as
data, so this package does not import ``forewarn.surveys``. See docs/simulator.md, "Staff survey".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

from forewarn.simulate.model import SimulationParameters
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

CORE_DIMENSIONS = ("acquire", "assimilate", "apply")
"""The absorptive-capacity core (Zahra and George 2002): these dimensions load most on latent capacity."""


def default_instrument_path() -> Path:
    return Path(__file__).resolve().parents[1] / "surveys" / "instruments" / "forewarn_lc_v1.yml"


@dataclass(frozen=True)
class Instrument:
    """The parts of an instrument the simulator needs: dimensions, item codes in order, reverse keys, scale."""

    code: str
    version: str
    points: int
    dimensions: tuple[str, ...]
    items: tuple[str, ...]
    item_dimension: IntArray
    reverse: BoolArray

    @property
    def core_mask(self) -> BoolArray:
        """Which dimensions are the absorptive-capacity core (acquire, assimilate, apply)."""
        return np.array([code in CORE_DIMENSIONS for code in self.dimensions], dtype=np.bool_)


def load_instrument(path: Path | None = None) -> Instrument:
    """Read an instrument YAML (dimensions with items, ``reverse: true`` on reverse-keyed items)."""
    source = path or default_instrument_path()
    raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw.get("dimensions"):
        raise ValueError(f"{source}: not an instrument file (no `dimensions`)")
    points = int(raw.get("scale", {}).get("points", 5))
    if points != 5:
        raise ValueError(
            f"{source}: the simulator generates 5-point answers; this instrument has {points} points"
        )
    dimensions: list[str] = []
    items: list[str] = []
    item_dimension: list[int] = []
    reverse: list[bool] = []
    for k, dim in enumerate(raw["dimensions"]):
        dimensions.append(str(dim["code"]))
        for item in dim["items"]:
            items.append(str(item["code"]))
            item_dimension.append(k)
            reverse.append(bool(item.get("reverse", False)))
    return Instrument(
        code=str(raw.get("code", "instrument")),
        version=str(raw.get("version", "")),
        points=points,
        dimensions=tuple(dimensions),
        items=tuple(items),
        item_dimension=np.asarray(item_dimension, dtype=np.int64),
        reverse=np.asarray(reverse, dtype=np.bool_),
    )


@dataclass(frozen=True)
class SurveyWave:
    """One annual wave: answers (respondents x items, 1..5, 0 = not answered) and who was asked per organisation."""

    org_index: IntArray
    answers: NDArray[np.int8]
    invited: IntArray
    respondents: IntArray


def draw_wave(
    instrument: Instrument,
    facets: FloatArray,
    staff: FloatArray,
    response_rate: FloatArray,
    params: SimulationParameters,
    rng: np.random.Generator,
) -> SurveyWave:
    """Sample staff, draw who responds, and generate every answer from the organisation's facet scores.

    Respondent r in organisation i has, on dimension k, ``theta = sqrt(icc) f_ik + sqrt(1 - icc) (sqrt(g) G_r +
    sqrt(1 - g) e_rk)`` (G a general response style, e noise); item m of dimension k is ``y* = sqrt(rho) theta +
    sqrt(1 - rho) eps`` cut at the thresholds into 1..5 and reversed (6 - answer) for reverse-keyed items.
    """
    n = staff.size
    invited = np.clip(
        np.rint(staff * params.survey_invite_fraction), params.survey_min_invited, params.survey_max_invited
    ).astype(np.int64)
    respondents = rng.binomial(invited, response_rate).astype(np.int64)
    org_index = np.repeat(np.arange(n, dtype=np.int64), respondents)
    total = org_index.size
    n_dims = len(instrument.dimensions)
    icc, general = params.survey_icc, params.survey_respondent_general_share
    # float32 and in-place updates: a wave of 50,000 organisations has half a million respondents x 32 items.
    theta = rng.standard_normal((total, n_dims), dtype=np.float32)
    theta *= np.float32(np.sqrt((1.0 - icc) * (1.0 - general)))
    theta += np.float32(np.sqrt((1.0 - icc) * general)) * rng.standard_normal((total, 1), dtype=np.float32)
    theta += np.float32(np.sqrt(icc)) * facets.astype(np.float32)[org_index]
    rho = params.survey_item_correlation
    latent = rng.standard_normal((total, len(instrument.items)), dtype=np.float32)
    latent *= np.float32(np.sqrt(1.0 - rho))
    latent += np.float32(np.sqrt(rho)) * theta[:, instrument.item_dimension]
    answers = np.ones(latent.shape, dtype=np.int8)
    for cut in params.survey_thresholds:
        answers += latent > np.float32(cut)
    reverse = np.flatnonzero(instrument.reverse)
    answers[:, reverse] = np.int8(instrument.points + 1) - answers[:, reverse]
    skipped = rng.random(answers.shape, dtype=np.float32) < params.survey_item_missing_rate
    answers[skipped] = 0
    return SurveyWave(org_index=org_index, answers=answers, invited=invited, respondents=respondents)
