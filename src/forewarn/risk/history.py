"""The store as it stood on any date: what had been published by then, and nothing after.

Every feature of the risk model at an origin date is built from this view only. An observation is known from its
publication date: the end of its period plus its dataset's publication lag, as the dataset's mapping sets it
(``dataset.publication_lag_days``, stored with the dataset), or a default lag (30 days) for a dataset whose
mapping sets none: NHS England's monthly A&E figures, for example, appear on the second Thursday of the next
month, Fingertips' annual public-health indicators a year or more after theirs. An event is known on its date; a survey
wave's organisation results when its last answers came in (the month after its fieldwork). Learning activity
(practice-library documents an organisation wrote, experiments it registered, started or analysed) is known on
its date (:mod:`forewarn.risk.activity`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import Connection, Engine

from forewarn.risk.activity import ACTIVITY_SCHEMA, learning_activity
from forewarn.store.columnar import read_frame, read_frames
from forewarn.store.database import make_engine
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA

DEFAULT_PUBLICATION_LAG_DAYS = 30
DAYS_A_MONTH = (
    30.44  # the mean Gregorian month (365.25 / 12, rounded): months between two dates, as features count them
)

_EVENT_SCHEMA = {"organisation_id": pl.Int64, "date": pl.Date, "kind": pl.String, "grade": pl.String}
_ORGANISATION_SCHEMA = {
    "organisation_id": pl.Int64,
    "code": pl.String,
    "name": pl.String,
    "type": pl.String,
    "dataset_code": pl.String,
    "simulated": pl.Boolean,
}
SOFT_SCHEMA = {
    "organisation_id": pl.Int64,
    "dimension": pl.String,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "n": pl.Int64,
    "known_on": pl.Date,
}
"""Published survey cells as the risk model reads them (:func:`forewarn.risk.soft.survey_cells`)."""
_ATTRIBUTE_SCHEMA = {
    "organisation_id": pl.Int64,
    "name": pl.String,
    "valid_from": pl.Date,
    "value_number": pl.Float64,
}


_READ_SCHEMA = {**OBSERVATION_SCHEMA, "period_end": pl.Date}
_SUMMARY_SCHEMA = {
    "indicator_id": pl.Int64,
    "organisation_id": pl.Int64,
    "rows": pl.Int64,
    "first_start": pl.Date,
    "last_start": pl.Date,
    "last_end": pl.Date,
}


_VERSIONS_SQL = "SELECT indicator_id, version FROM indicator_data_versions"
_VERSIONS_SCHEMA = {"indicator_id": pl.Int64, "version": pl.Int64}


class HistoryChanged(ValueError):
    """The store's observations changed (an import committed) while a history read from it was being read."""


def row_hash_sum(frame: pl.DataFrame) -> int:
    """The sum of Polars' row hashes (seed 0) of ``frame``: a digest that moves when any value does and does not
    depend on the rows' order or on how they are split into frames (sums modulo 2**64 add up)."""
    return int(frame.hash_rows(seed=0).cast(pl.UInt64).sum()) if frame.height else 0


@dataclass(frozen=True)
class ObservationReader:
    """The store's observations of some organisations, read when asked, a batch of indicators at a time and with
    the as-of filter in the query: a history read through it never holds every observation at once (about 84
    bytes a row in memory: 10 GB at 50,000 organisations x 10 years x 20 indicators).

    ``summary`` (one row an indicator: its observations of the chosen organisations, first and last period
    start, and the last date one became known) is read once, when the history is loaded, with ``versions``
    (each indicator's data version, ``indicator_data_versions``, which every import changing its observations
    moves on in its own transaction) in the same transaction as the events, organisations and attributes. The
    observations are read later, by other connections (the bulk reader's own), so every read checks afterwards
    that no version has moved since (:class:`HistoryChanged` if one has): what a run reads is the store as it
    stood when its history was loaded, or the run stops. Edits made by hand outside the importer move no
    version and are not seen by the check."""

    engine: Engine
    chosen: pl.DataFrame  # organisation_id of the organisations read
    lags: pl.DataFrame  # indicator_id, lag_days (null: the default lag)
    default_lag_days: int
    summary: pl.DataFrame  # indicator_id, rows, first_start, last_start, last_known
    versions: pl.DataFrame | None = None  # indicator_id, version when loaded (None: not checked)
    # The row count and row-hash sum (:func:`row_hash_sum`) of every observation, kept by the first pass that
    # read them all (:meth:`batches` with no date), so that the data version of a run that has read the table
    # once (the backtest's features) needs no second read of it (docs/risk.md, "The bench at scale").
    whole: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def open(
        cls,
        conn: Connection,
        chosen: pl.DataFrame,
        lags: pl.DataFrame,
        default_lag_days: int,
        *,
        every_organisation: bool = False,
    ) -> ObservationReader:
        """Read the summary of the store's observations and keep what later reads need: one row an indicator
        when ``every_organisation`` is chosen (one scan), else one row a series, kept for the chosen ones (a
        grouping by series costs about six times the scan on SQLite: 3 s of CPU for 1.2M rows)."""
        by = "indicator_id" if every_organisation else "indicator_id, organisation_id"
        organisation = "0" if every_organisation else "organisation_id"
        series = read_frame(
            conn,
            f"SELECT indicator_id, {organisation}, COUNT(*), MIN(period_start), MAX(period_start), "
            f"MAX(period_end) FROM observations GROUP BY {by}",
            _SUMMARY_SCHEMA,
            bulk=True,
        )
        if not every_organisation:
            series = series.join(chosen, on="organisation_id", how="semi")
        summary = (
            series.group_by("indicator_id")
            .agg(
                pl.col("rows").sum(),
                pl.col("first_start").min(),
                pl.col("last_start").max(),
                pl.col("last_end").max(),
            )
            .join(lags, on="indicator_id", how="left")
            .with_columns(
                (pl.col("last_end") + pl.duration(days=pl.col("lag_days").fill_null(default_lag_days))).alias(
                    "last_known"
                )
            )
            .select("indicator_id", "rows", "first_start", "last_start", "last_known")
            .sort("indicator_id")
        )
        versions = read_frame(conn, _VERSIONS_SQL, _VERSIONS_SCHEMA).sort("indicator_id")
        return cls(conn.engine, chosen, lags, default_lag_days, summary, versions)

    def check_unchanged(self, conn: Connection) -> None:
        """Raise :class:`HistoryChanged` when an import has changed any indicator's observations since the history
        was loaded (its data version moved): the reads made since may mix the store before and after it."""
        if self.versions is None:
            return
        now = read_frame(conn, _VERSIONS_SQL, _VERSIONS_SCHEMA).sort("indicator_id")
        if not now.equals(self.versions):
            moved = now.join(self.versions, on="indicator_id", how="full", suffix="_then").filter(
                pl.col("version").ne_missing(pl.col("version_then"))
            )
            raise HistoryChanged(
                f"the store's observations changed while they were read (an import committed during the run, "
                f"{moved.height} indicator(s) moved on): run it again"
            )

    def _lag(self) -> pl.Expr:
        return pl.duration(days=pl.col("lag_days").fill_null(self.default_lag_days))

    def _query(self, indicator_ids: list[int], until: dt.date | None) -> str:
        """Those indicators' rows, and (with ``until``) only periods ending early enough to be known by then with
        the shortest of their lags (the exact filter on each row's own lag follows in :meth:`_finish`)."""
        sql = f"SELECT {', '.join(_READ_SCHEMA)} FROM observations"
        where = [f"indicator_id IN ({', '.join(str(int(i)) for i in indicator_ids)})"]
        if until is not None:
            lag_of = {i: lag for i, lag in self.lags.iter_rows() if lag is not None}  # a lag of 0 is a lag
            shortest = min(int(lag_of.get(i, self.default_lag_days)) for i in indicator_ids)
            where.append(f"period_end <= '{(until - dt.timedelta(days=shortest)).isoformat()}'")
        return f"{sql} WHERE {' AND '.join(where)}"

    def _finish(self, frame: pl.DataFrame, until: dt.date | None) -> pl.DataFrame:
        """The chosen organisations' rows with the date each became known (and only those known by ``until``),
        sorted by indicator."""
        frame = (
            frame.join(self.chosen, on="organisation_id", how="semi")
            .join(self.lags, on="indicator_id", how="left")
            .with_columns((pl.col("period_end") + self._lag()).alias("known_on"))
            .drop("lag_days")
        )
        if until is not None:
            frame = frame.filter(pl.col("known_on") <= until)
        return frame.sort("indicator_id", maintain_order=True)

    def read(self, indicator_ids: list[int] | None = None, until: dt.date | None = None) -> pl.DataFrame:
        """The observations of ``indicator_ids`` (default every indicator) known by ``until`` (default all)."""
        ids = self.summary["indicator_id"].to_list() if indicator_ids is None else indicator_ids
        if not ids:
            return pl.DataFrame(schema={**_READ_SCHEMA, "known_on": pl.Date})
        with self.engine.connect() as conn:
            frame = read_frame(conn, self._query(ids, until), _READ_SCHEMA, bulk=True)
            self.check_unchanged(conn)
        return self._finish(frame, until)

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        """Pickled with the engine's URL in its place (an engine holds connections): a pool worker that is sent
        the reader opens an engine of its own on the same store and reads its own batches
        (:func:`forewarn.risk.features.features_by_origin`); the versions checked stay those of the load."""
        url = self.engine.url.render_as_string(hide_password=False)
        return (_reader_at, (url, self.chosen, self.lags, self.default_lag_days, self.summary, self.versions))

    def batch_ids(self, until: dt.date | None, max_rows: int) -> list[list[int]]:
        """The indicators of each of :meth:`batches`' batches, in their order."""
        rows_by = pl.col("rows")
        if until is not None:
            span = (pl.col("last_start") - pl.col("first_start")).dt.total_days() + 31
            share = (pl.lit(until) - pl.col("first_start")).dt.total_days() / span
            rows_by = (pl.col("rows") * share.clip(0.0, 1.0)).round().cast(pl.Int64)
        groups: list[list[int]] = [[]]
        rows = 0
        for indicator_id, count in self.summary.select("indicator_id", rows_by.alias("rows")).iter_rows():
            groups[-1].append(int(indicator_id))
            rows += int(count)
            if rows >= max_rows:
                groups.append([])
                rows = 0
        return [group for group in groups if group]

    def batches(self, until: dt.date | None, max_rows: int) -> Iterator[pl.DataFrame]:
        """The observations known by ``until`` (None: all), in batches of whole indicators (ascending) of about
        ``max_rows`` rows each (an indicator larger than that is a batch of its own), each read by its own
        query in one pass of the store's bulk reader (which reads the next batch while the caller works).

        The rows an indicator has by ``until`` are estimated from its span (its rows spread evenly from its first
        period to its last): batches of about the same size as when counted, without a count at every date."""
        queries = [self._query(group, until) for group in self.batch_ids(until, max_rows)]
        height, total = 0, 0
        with self.engine.connect() as conn:
            # Neither the frame read nor the batch stays referenced here while the caller works on it (a batch is
            # one indicator at 50,000 organisations, about 0.5 GB): the caller frees each when done with it.
            for frame in read_frames(conn, queries, _READ_SCHEMA):
                held = [self._finish(frame, until)]
                del frame
                if until is None:
                    height, total = height + held[0].height, total + row_hash_sum(held[0])
                yield held.pop()
            self.check_unchanged(conn)
        if until is None:
            self.whole.update(rows=height, hash_sum=total % 2**64)


def _reader_at(
    url: str,
    chosen: pl.DataFrame,
    lags: pl.DataFrame,
    default_lag_days: int,
    summary: pl.DataFrame,
    versions: pl.DataFrame | None,
) -> ObservationReader:
    """An unpickled :class:`ObservationReader`: the same reads, on an engine of this process's own."""
    return ObservationReader(make_engine(url), chosen, lags, default_lag_days, summary, versions)


@dataclass(frozen=True)
class StoreHistory:
    """Everything the risk model reads, each row with the date it became known (``known_on``).

    The observations are either held in memory (``held_observations``: a small history, or one built by hand)
    or, as :func:`load_history` reads them, read from the store when asked (``reader``: then
    ``held_observations`` is empty). Read them with :meth:`observation_batches`, :meth:`indicator_observations`
    or :meth:`as_of`; :attr:`observations` reads every one at once."""

    held_observations: pl.DataFrame  # OBSERVATION_SCHEMA + period_end, known_on (empty with a reader)
    indicators: pl.DataFrame  # INDICATOR_SCHEMA
    events: pl.DataFrame  # organisation_id, date, kind, grade, known_on
    organisations: pl.DataFrame  # organisation_id, code, name, type, dataset_code, simulated
    attributes: pl.DataFrame  # organisation_id, name, valid_from, value_number, known_on
    soft: pl.DataFrame  # organisation_id, dimension, mean, sd, n, known_on (published survey cells)
    # organisation_id, kind, known_on: learning activity (library documents, experiments), one row an act
    activity: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ACTIVITY_SCHEMA))
    reader: ObservationReader | None = None  # the observations in the store, read when asked

    @property
    def observations(self) -> pl.DataFrame:
        """Every observation, sorted by indicator when read from the store (a whole read of the table with a
        reader: for small histories and checks; the features read batches of indicators)."""
        return self.held_observations if self.reader is None else self.reader.read()

    def as_of(self, origin: dt.date, *, observations: bool = True) -> StoreHistory:
        """The history as it stood at ``origin``: only what was known on or before it, held in memory.

        Without ``observations`` the view holds none (an empty frame of their schema): for readers that take
        the observations a batch of indicators at a time (:meth:`observation_batches`) or need none, so the
        history's observations are not read or copied at every origin."""
        known = pl.col("known_on") <= origin
        if not observations:
            held = self.held_observations.clear()
        elif self.reader is None:
            held = self.held_observations.filter(known)
        else:
            held = self.reader.read(until=origin)
        return StoreHistory(
            held_observations=held,
            indicators=self.indicators,
            events=self.events.filter(known),
            organisations=self.organisations,
            attributes=self.attributes.filter(known),
            soft=self.soft.filter(known),
            activity=self.activity.filter(known),
        )

    def observation_batches(self, until: dt.date | None, max_rows: int) -> Iterator[pl.DataFrame]:
        """The observations known by ``until`` (None: all) in batches of whole indicators, in ascending ``indicator_id``, of
        about ``max_rows`` rows each (an indicator larger than that is a batch of its own): read from the store
        batch by batch with a reader, else slices of the held frame (no copy when it is sorted by indicator, as
        :func:`load_history` reads it) filtered to ``until``."""
        if self.reader is not None:
            yield from self.reader.batches(until, max_rows)
            return
        batch: list[pl.DataFrame] = []
        rows = 0
        for _, observations in self._held_by_indicator():
            batch.append(observations if until is None else observations.filter(pl.col("known_on") <= until))
            rows += batch[-1].height
            if rows >= max_rows:
                yield pl.concat(batch)
                batch, rows = [], 0
        if batch:
            yield pl.concat(batch)

    def _held_by_indicator(self) -> Iterator[tuple[int, pl.DataFrame]]:
        if (
            self.held_observations.is_empty()
        ):  # none (perhaps not even their columns, in a history built by hand)
            return
        ids = self.held_observations["indicator_id"]
        ordered = ids.is_sorted()
        for indicator_id in ids.unique().sort().to_list():  # indicators: tens
            if ordered:
                first = int(ids.search_sorted(indicator_id, side="left"))
                end = int(ids.search_sorted(indicator_id, side="right"))
                yield indicator_id, self.held_observations.slice(first, end - first)
            else:
                yield indicator_id, self.held_observations.filter(pl.col("indicator_id") == indicator_id)

    def observation_digest(self, max_rows: int) -> tuple[int, int]:
        """The number of observations and the sum of their row hashes modulo 2**64 (:func:`row_hash_sum`),
        taken from the pass that read them all when one has (:attr:`ObservationReader.whole`), else read now
        in batches of about ``max_rows``."""
        if self.reader is not None and self.reader.whole:
            return self.reader.whole["rows"], self.reader.whole["hash_sum"]
        height, total = 0, 0
        for batch in self.observation_batches(None, max_rows):
            height += batch.height
            total += row_hash_sum(batch)
        return height, total % 2**64

    def indicator_observations(self, indicator_ids: list[int]) -> pl.DataFrame:
        """Every observation of some indicators (of every date)."""
        if self.reader is not None:
            return self.reader.read(indicator_ids)
        return self.held_observations.filter(pl.col("indicator_id").is_in(indicator_ids))

    def first_period(self) -> dt.date | None:
        """The first period's start of any observation (None when there are none)."""
        if self.reader is not None:
            first = self.reader.summary["first_start"].min()
        else:
            first = self.held_observations["period_start"].min()
        return first if isinstance(first, dt.date) else None

    def last_period(self) -> dt.date | None:
        """The last period's start of any observation (None when there are none)."""
        if self.reader is not None:
            last = self.reader.summary["last_start"].max()
        else:
            last = self.held_observations["period_start"].max()
        return last if isinstance(last, dt.date) else None

    def latest_known(self) -> dt.date | None:
        observed = (
            self.reader.summary["last_known"].max()
            if self.reader is not None
            else (self.held_observations["known_on"].max() if self.held_observations.height else None)
        )
        dates = [observed, self.events["known_on"].max() if self.events.height else None]
        known = [d for d in dates if isinstance(d, dt.date)]
        return max(known) if known else None


def load_history(
    conn: Connection,
    *,
    datasets: list[str] | None = None,
    publication_lag_days: int = DEFAULT_PUBLICATION_LAG_DAYS,
    soft: pl.DataFrame | None = None,
) -> StoreHistory:
    """Read the store's observations, events, organisations and attributes (of ``datasets``, or all).

    Each observation is known from its period's end plus its indicator's dataset's publication lag, or
    ``publication_lag_days`` for a dataset without one.

    ``soft`` holds published survey cells (organisation_id, dimension, mean, sd, n, known_on), from
    :func:`forewarn.risk.soft.survey_cells`.
    """
    lags = read_frame(
        conn,
        "SELECT i.id, d.publication_lag_days FROM indicators i LEFT JOIN datasets d ON d.id = i.dataset_id",
        {"indicator_id": pl.Int64, "lag_days": pl.Int64},
    )
    organisations = read_frame(
        conn,
        "SELECT o.id, o.code, o.name, o.type, d.code, COALESCE(d.simulated, FALSE) "
        "FROM organisations o LEFT JOIN datasets d ON d.id = o.dataset_id",
        _ORGANISATION_SCHEMA,
    )
    if datasets is not None:
        organisations = organisations.filter(pl.col("dataset_code").is_in(datasets))
    chosen = organisations.select("organisation_id")
    reader = ObservationReader.open(
        conn, chosen, lags, publication_lag_days, every_organisation=datasets is None
    )
    indicators = read_frame(conn, "SELECT id, code, kind, polarity, target FROM indicators", INDICATOR_SCHEMA)
    indicators = indicators.join(reader.summary.select("indicator_id"), on="indicator_id", how="semi")
    events = (
        read_frame(conn, "SELECT organisation_id, date, kind, grade FROM events", _EVENT_SCHEMA)
        .join(chosen, on="organisation_id", how="semi")
        .with_columns(pl.col("date").alias("known_on"))
    )
    attributes = (
        read_frame(
            conn,
            "SELECT organisation_id, name, valid_from, value_number FROM organisation_attributes "
            "WHERE value_number IS NOT NULL",
            _ATTRIBUTE_SCHEMA,
        )
        .join(chosen, on="organisation_id", how="semi")
        .with_columns(pl.col("valid_from").alias("known_on"))
    )
    soft_cells = (
        soft.join(chosen, on="organisation_id", how="semi")
        if soft is not None
        else pl.DataFrame(schema=SOFT_SCHEMA)
    )
    activity = learning_activity(conn).join(chosen, on="organisation_id", how="semi")
    held = pl.DataFrame(schema={**_READ_SCHEMA, "known_on": pl.Date})
    return StoreHistory(held, indicators, events, organisations, attributes, soft_cells, activity, reader)


__all__ = [
    "DEFAULT_PUBLICATION_LAG_DAYS",
    "SOFT_SCHEMA",
    "HistoryChanged",
    "ObservationReader",
    "StoreHistory",
    "load_history",
    "row_hash_sum",
]
