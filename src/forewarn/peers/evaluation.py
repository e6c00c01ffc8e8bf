"""Neighbours and deviants checked against a simulated region's truth (``truth/`` of ``forewarn simulate``).

- :func:`neighbour_recovery`: the share of each organisation's neighbours that share its type and deprivation band
  (thirds of the true deprivation), against the share k neighbours drawn at random would have (exact, from the
  band and type counts), as a ratio with a bootstrap interval over organisations.
- :func:`deviant_precision`: the share of the distinct organisations listed as deviants that are truly in the top
  third of learning capacity (mean over the last 12 months), or of performance gain (the last 12 months against
  the 24 before), with a Wilson interval, against the third that would be by chance.

Only the simulator's files are read (never imported into the store); the truth is matched by organisation code.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from forewarn.peers.context import Context
from forewarn.peers.deviants import DeviantsReport
from forewarn.stats.arrays import IntArray

TRUTH_DIR = "truth"


@dataclass(frozen=True)
class Recovery:
    """Neighbours sharing type and deprivation band: found, expected at random, and their ratio."""

    organisations: int
    k: int
    share_same: float  # of all neighbour pairs, the share with the same type and band
    share_random: float  # the same for k neighbours drawn at random (without the organisation itself)
    ratio: float
    ratio_lower: float  # 95% bootstrap interval over organisations
    ratio_upper: float
    share_same_type: float
    share_same_type_random: float
    share_same_band: float
    share_same_band_random: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Precision:
    """Distinct deviants that are truly high (top third), with a Wilson 95% interval."""

    truth: str
    deviants: int
    hits: int
    precision: float
    lower: float
    upper: float
    base_rate: float

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _read(path: Path) -> pl.DataFrame:
    for suffix in (".parquet", ".csv"):
        file = path.with_suffix(suffix)
        if file.exists():
            return pl.read_parquet(file) if suffix == ".parquet" else pl.read_csv(file, try_parse_dates=True)
    raise FileNotFoundError(f"{path}.parquet or .csv is missing: is this a simulator's output folder?")


def _latent(out_dir: Path) -> pl.DataFrame:
    latent = _read(out_dir / TRUTH_DIR / "latent_monthly")
    return latent.with_columns(pl.col("org_code").cast(pl.String), pl.col("period").cast(pl.Date))


def truth_bands(out_dir: Path, as_of: dt.date | None = None) -> pl.DataFrame:
    """Per organisation code: type and the third of true deprivation it is in (0, 1, 2) at ``as_of``'s month
    (default the last simulated month)."""
    latent = _latent(out_dir)
    month = latent["period"].max() if as_of is None else as_of.replace(day=1)
    at = latent.filter(pl.col("period") == month)
    if at.is_empty():
        at = latent.filter(pl.col("period") == latent["period"].max())
    organisations = _read(out_dir / TRUTH_DIR / "organisations").with_columns(
        pl.col("org_code").cast(pl.String)
    )
    cuts = at["deprivation"].quantile(1 / 3), at["deprivation"].quantile(2 / 3)
    return at.select(
        "org_code",
        pl.when(pl.col("deprivation") <= cuts[0])
        .then(0)
        .when(pl.col("deprivation") <= cuts[1])
        .then(1)
        .otherwise(2)
        .alias("band"),
    ).join(organisations.select("org_code", pl.col("type").cast(pl.String)), on="org_code")


def neighbour_recovery(
    context: Context, neighbours: IntArray, query: IntArray, bands: pl.DataFrame, seed: int = 0
) -> Recovery:
    """How many of each query organisation's neighbours (context rows) share its type and deprivation band."""
    codes = pl.DataFrame({"org_code": list(context.code)}).with_row_index("row")
    known = codes.join(bands, on="org_code", how="left")
    type_code = known["type"].cast(pl.Categorical).to_physical().fill_null(-1).to_numpy().astype(np.int64)
    band = known["band"].fill_null(-1).to_numpy().astype(np.int64)
    cell = np.where((type_code >= 0) & (band >= 0), type_code * 3 + band, -1)
    q = np.asarray(query, dtype=np.int64)
    nb = np.asarray(neighbours, dtype=np.int64)
    k = nb.shape[1]
    same_cell = (cell[nb] == cell[q][:, None]) & (cell[q][:, None] >= 0)
    same_type = type_code[nb] == type_code[q][:, None]
    same_band = band[nb] == band[q][:, None]
    n = context.n

    def random_share(labels: np.ndarray) -> np.ndarray:
        # Another organisation drawn at random shares the label with probability (count - 1) / (n - 1).
        counts = np.bincount(labels[labels >= 0], minlength=int(labels.max()) + 1 if labels.size else 1)
        own = labels[q]
        return np.where(own >= 0, (counts[np.maximum(own, 0)] - 1) / (n - 1), 0.0)

    found = same_cell.mean(axis=1)
    expected = random_share(cell)
    rng = np.random.default_rng(seed)
    ratios = []
    for _ in range(1000):
        pick = rng.integers(0, q.size, q.size)
        ratios.append(found[pick].mean() / expected[pick].mean())
    lower, upper = np.quantile(ratios, [0.025, 0.975])
    return Recovery(
        organisations=int(q.size),
        k=int(k),
        share_same=float(found.mean()),
        share_random=float(expected.mean()),
        ratio=float(found.mean() / expected.mean()),
        ratio_lower=float(lower),
        ratio_upper=float(upper),
        share_same_type=float(same_type.mean()),
        share_same_type_random=float(random_share(type_code).mean()),
        share_same_band=float(same_band.mean()),
        share_same_band_random=float(random_share(band).mean()),
    )


def high_capacity(out_dir: Path, months: int = 12) -> dict[str, bool]:
    """Whether each organisation's mean true capacity over the last ``months`` months is in the top third."""
    latent = _latent(out_dir)
    last: dt.date = latent["period"].max()  # type: ignore[assignment]
    recent = latent.filter(pl.col("period") > _months_before(last, months))
    means = recent.group_by("org_code").agg(pl.col("capacity").mean())
    cut = means["capacity"].quantile(2 / 3)
    return dict(zip(means["org_code"].to_list(), (means["capacity"] > cut).to_list(), strict=True))


def rising_performance(out_dir: Path, months: int = 12, before: int = 24) -> dict[str, bool]:
    """Whether each organisation's true performance gain (mean of the last ``months`` months minus the mean of
    the ``before`` months preceding them) is in the top third."""
    latent = _latent(out_dir)
    last: dt.date = latent["period"].max()  # type: ignore[assignment]
    split = _months_before(last, months)
    recent = latent.filter(pl.col("period") > split).group_by("org_code").agg(pl.col("performance").mean())
    earlier = (
        latent.filter((pl.col("period") <= split) & (pl.col("period") > _months_before(split, before)))
        .group_by("org_code")
        .agg(pl.col("performance").mean().alias("earlier"))
    )
    gain = recent.join(earlier, on="org_code").with_columns(
        (pl.col("performance") - pl.col("earlier")).alias("g")
    )
    cut = gain["g"].quantile(2 / 3)
    return dict(zip(gain["org_code"].to_list(), (gain["g"] > cut).to_list(), strict=True))


def _months_before(date: dt.date, months: int) -> dt.date:
    total = date.year * 12 + date.month - 1 - months
    return dt.date(total // 12, total % 12 + 1, 1)


def wilson(hits: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of hits / n (Wilson 1927).

    >>> tuple(round(v, 4) for v in wilson(8, 10))
    (0.4902, 0.9433)
    """
    if n == 0:
        return float("nan"), float("nan")
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def deviant_precision(
    reports: list[DeviantsReport], truth: dict[str, bool], *, basis: str, name: str
) -> Precision:
    """Among the distinct organisations listed as deviants by ``basis`` ("level", "improvement" or "either")
    in any group of the reports, the share the truth calls high."""
    listed: set[str] = set()
    for report in reports:
        for group in report.groups:
            for d in group.deviants:
                if (
                    (basis == "level" and d.by_level)
                    or (basis == "improvement" and d.by_improvement)
                    or basis == "either"
                ):
                    listed.add(d.code)
    known = [c for c in listed if c in truth]
    hits = sum(truth[c] for c in known)
    lower, upper = wilson(hits, len(known))
    return Precision(
        truth=name,
        deviants=len(known),
        hits=int(hits),
        precision=hits / len(known) if known else float("nan"),
        lower=lower,
        upper=upper,
        base_rate=float(np.mean(list(truth.values()))) if truth else float("nan"),
    )


def parameters(out_dir: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads(
        (out_dir / TRUTH_DIR / "parameters.json").read_text(encoding="utf-8")
    )
    return loaded


__all__ = [
    "Precision",
    "Recovery",
    "deviant_precision",
    "high_capacity",
    "neighbour_recovery",
    "rising_performance",
    "truth_bands",
    "wilson",
]
