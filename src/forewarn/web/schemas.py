"""The typed edge of the app: every page's content as a pydantic model, which the JSON API returns as is
and the HTML templates render. One builder fills each model, so a page and its API answer cannot disagree.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)

    @field_validator("*", mode="after")
    @classmethod
    def _timestamps_in_utc_and_no_nul(cls, value: object) -> object:
        """Every stored time is UTC; SQLite returns them without a zone. Say so: an RFC 3339 ``date-time``
        carries its offset. And no text holds a NUL character (PostgreSQL cannot store one)."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


# -- accounts --


class Me(Model):
    user_id: int
    email: str
    display_name: str
    role: Literal["admin", "analyst", "member"]
    organisation_id: int | None
    permissions: list[str]


class TokenOut(Model):
    id: int
    name: str
    prefix: str
    owner: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool


class TokenCreate(Model):
    name: str = Field(min_length=1, max_length=200, description="What the token is for")
    expires_in_days: int | None = Field(None, ge=1, le=3650, description="Days until it stops working")


class TokenIssued(Model):
    id: int
    name: str
    token: str = Field(description="Shown once: store it now. Send it as `Authorization: Bearer <token>`.")


class AccountOut(Model):
    me: Me
    organisation_name: str | None
    tokens: list[TokenOut]


class UserOut(Model):
    id: int
    email: str
    display_name: str
    role: Literal["admin", "analyst", "member"]
    organisation_id: int | None
    organisation_name: str | None
    is_active: bool
    created_at: dt.datetime | None
    last_login_at: dt.datetime | None


class UserCreate(Model):
    email: str = Field(max_length=320)
    display_name: str = Field(max_length=200)
    password: str = Field(max_length=256)
    role: Literal["admin", "analyst", "member"]
    organisation_code: str | None = Field(None, description="Required for a member")


class UserUpdate(Model):
    role: Literal["admin", "analyst", "member"]
    organisation_code: str | None = None
    is_active: bool = True
    display_name: str | None = None


class UsersOut(Model):
    users: list[UserOut]


class GrantOut(Model):
    organisation_id: int
    organisation_name: str
    peer_organisation_id: int
    peer_organisation_name: str
    granted_by: str
    granted_at: dt.datetime


class GrantCreate(Model):
    organisation_code: str
    peer_codes: list[str] = Field(min_length=1)


class GrantsOut(Model):
    grants: list[GrantOut]


class AuditOut(Model):
    id: int
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    organisation_id: int | None
    channel: str
    ip: str | None
    detail: dict[str, object] | None


class AuditLogOut(Model):
    entries: list[AuditOut]


# -- portfolio --


class ScanOut(Model):
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    series_scanned: int


class DatasetOption(Model):
    code: str
    name: str
    simulated: bool


class OrganisationSignalsOut(Model):
    organisation_id: int | None = Field(description="None for an anonymised peer")
    label: str = Field(description="The name, or a pseudonym such as 'Peer 3' for an anonymised peer")
    code: str | None
    type: str | None
    region: str | None
    dataset: str | None
    dataset_name: str | None
    simulated: bool
    anonymised: bool
    own: bool
    indicators_scanned: int
    spc_concern: int = Field(description="Indicators whose latest point is a special cause of concern")
    spc_improvement: int
    funnel_concern: int = Field(description="Funnel outliers on the side of concern, after FDR control")
    funnel_other: int
    cusum_alarms: int = Field(
        description="Indicators with a current CUSUM alarm (within the indicator's latest quarter)"
    )
    evidence: int = Field(
        description="spc_concern + funnel_concern + cusum_alarms: the order of the portfolio"
    )
    min_funnel_q: float | None
    last_period: dt.date | None
    soft_status: str | None = None
    url: str | None


class PortfolioFilters(Model):
    type: str | None = None
    region: str | None = None
    dataset: str | None = None
    concern_only: bool = False


class PortfolioOut(Model):
    organisations: list[OrganisationSignalsOut]
    total: int
    page: int
    pages: int
    page_size: int
    filters: PortfolioFilters
    filters_available: bool
    types: list[str]
    regions: list[str]
    datasets: list[DatasetOption]
    order: str
    scan: ScanOut | None


# -- organisation --


class SpcOut(Model):
    """An XmR chart's points, one list per column, one entry per period (None where missing or not applicable).

    Tuples rather than lists: cached pages hold thousands of these, and CPython's collector stops walking a
    tuple of plain values after its first pass, while it walks every list on every full collection."""

    period: tuple[dt.date, ...]
    value: tuple[float | None, ...]
    mean: tuple[float | None, ...]
    lpl: tuple[float | None, ...]
    upl: tuple[float | None, ...]
    point_type: tuple[str, ...] = Field(
        description="Making Data Count point type, e.g. special_cause_concern"
    )
    rule: tuple[str | None, ...] = Field(description="The special-cause rule that labels the point")


class SignalOut(Model):
    method: str
    rule: str
    direction: str
    period: dt.date | None
    value: float | None


class BaselineOut(Model):
    rebase_from: dt.date
    fix_after_n_points: int | None
    reason: str
    created_by: str
    created_at: dt.datetime


class IndicatorStateOut(Model):
    code: str
    name: str
    unit: str | None
    kind: str
    polarity: str
    target: float | None
    scanned: bool
    n_points: int | None
    last_period: dt.date | None
    last_value: float | None
    spc_variation: str | None
    spc_assurance: str | None
    spc_mean: float | None
    spc_lpl: float | None
    spc_upl: float | None
    funnel_period: dt.date | None
    funnel_z: float | None
    funnel_q: float | None
    funnel_outlier: int | None
    funnel_concern: bool
    cusum_value: float | None
    cusum_alarms: int | None = Field(description="CUSUM alarms over the whole series")
    cusum_last_alarm: dt.date | None
    cusum_current: bool | None = Field(
        description="Whether the latest CUSUM alarm is current (within the indicator's latest quarter)"
    )
    trend_slope: float | None = Field(
        description="Series too short for SPC (annual): least-squares change per year"
    )
    trend_p: float | None = Field(description="Two-sided p-value of the trend (t-test, n - 2 df)")
    rank: float | None
    rank_lower: float | None
    rank_upper: float | None
    rank_of: int | None
    signals: list[SignalOut]
    baselines: list[BaselineOut]
    spc: SpcOut
    spc_warnings: list[str]
    chart_url: str


class EventOut(Model):
    date: dt.date
    kind: str
    grade: str | None
    detail: str | None


class AttributeOut(Model):
    name: str
    valid_from: dt.date
    value: str


class SoftDimensionOut(Model):
    code: str
    name: str
    n: int | str
    mean: float | None
    ci_lower: float | None
    ci_upper: float | None
    suppressed: bool


class SoftMeasuresOut(Model):
    wave: str
    wave_id: int
    closed_at: dt.datetime | None
    respondents: int | str
    suppressed: bool
    verdict: str | None
    verdict_detail: str | None
    dimensions: list[SoftDimensionOut]


class OrganisationOut(Model):
    id: int
    code: str
    name: str
    type: str | None
    region: str | None
    parent: str | None
    dataset: str | None
    dataset_name: str | None
    dataset_source: str | None
    dataset_licence: str | None
    simulated: bool
    attributes: list[AttributeOut]
    indicators: list[IndicatorStateOut]
    events: list[EventOut]
    soft_measures: list[SoftMeasuresOut]
    scan: ScanOut | None


# -- indicators --


class IndicatorSummaryOut(Model):
    code: str
    name: str
    unit: str | None
    kind: str
    polarity: str
    target: float | None
    dataset: str | None
    dataset_name: str | None
    simulated: bool
    url: str


class IndicatorsOut(Model):
    indicators: list[IndicatorSummaryOut]


class IndicatorOrganisationOut(Model):
    organisation_id: int | None = Field(description="None for an anonymised peer")
    label: str
    code: str | None
    anonymised: bool
    own: bool
    compared_value: float | None = Field(
        description="What the funnel compared: the organisation's ratio over the funnel's window (a proportion, "
        "or observed / expected for an O/E ratio or a rate, a rate's expected count being at the pooled rate); "
        "None when the funnel did not compare it"
    )
    compared_denominator: float | None = Field(
        description="The denominator it was compared on, over the same window: N for a proportion, the expected "
        "count for an O/E ratio or a rate"
    )
    latest_value: float | None = Field(description="The indicator's own value in latest_period alone")
    latest_period: dt.date | None = Field(description="The start of the organisation's latest period")
    funnel_z: float | None
    funnel_q: float | None
    funnel_outlier: int | None
    funnel_concern: bool
    rank: float | None
    rank_lower: float | None
    rank_upper: float | None
    rank_of: int | None
    rank_distinguishable: int | None
    url: str | None


class IndicatorOut(Model):
    indicator: IndicatorSummaryOut
    description: str | None
    funnel_period: dt.date | None = Field(description="The start of the latest period in the funnel's window")
    funnel_window_start: dt.date | None = Field(
        description="The earliest period start in the funnel's window: compared values are totals over the "
        "periods starting from funnel_window_start to funnel_period"
    )
    funnel_window_days: int = Field(
        description="The scan's window: periods starting in the latest this-many days"
    )
    funnel_window: str | None = Field(description="The window in words, e.g. 'April 2023 to March 2024'")
    compared_value_title: str | None = Field(description="What compared_value is, e.g. 'Proportion'")
    compared_denominator_title: str | None = Field(
        description="What compared_denominator is, e.g. 'Expected'"
    )
    funnel_limit: float
    fdr_alpha: float
    tests: int = Field(description="Organisations compared in the funnel (all of them, not only those shown)")
    outside_limits: int | None
    expected_by_chance: float | None = Field(
        description="Organisations expected outside the limits by chance alone"
    )
    flagged_after_fdr: int | None
    organisations: list[IndicatorOrganisationOut]
    outliers: list[IndicatorOrganisationOut]
    funnel_chart_url: str | None
    rank_chart_url: str | None
    scan: ScanOut | None


# -- import --


class ProblemOut(Model):
    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str


class ImportReportOut(Model):
    ok: bool
    file: str
    rows_read: int
    total_problems: int
    problems: list[ProblemOut]
    mapping_problems: list[ProblemOut]
    pending_id: str | None = Field(None, description="Confirm with POST /api/v1/imports/{pending_id}/confirm")
    dataset: str | None = None
    already_imported: bool = False


class ImportResultOut(Model):
    file: str
    dataset: str
    batch_id: int | None
    already_imported: bool
    rows_read: int
    rows_skipped: int
    observations_inserted: int
    observations_updated: int
    observations_unchanged: int
    organisations_created: int
    indicators_created: int
    events_inserted: int
    summary: str


# -- surveys --


class WaveOut(Model):
    id: int
    name: str
    status: Literal["draft", "open", "closed"]
    instrument: str
    min_group_size: int
    created_by: str
    created_at: dt.datetime
    opened_at: dt.datetime | None
    closed_at: dt.datetime | None
    organisations: list[str] = Field(description="Codes of the organisations you may see by name")
    organisations_total: int = Field(description="How many of the wave's organisations you may see")
    url: str


class WavesOut(Model):
    waves: list[WaveOut]
    instruments: list[str]


class WaveCreate(Model):
    name: str = Field(min_length=1, max_length=200)
    organisation_codes: list[str] = Field(min_length=1)
    instrument: str = "forewarn_lc"
    min_group_size: int | None = Field(None, ge=2)


class WaveProgressRow(Model):
    label: str
    responses: int | str = Field(description='A count, or "<m" below the minimum group size')


class WaveDetailOut(Model):
    wave: WaveOut
    progress: list[WaveProgressRow]
    results_available: bool


class TokensCreate(Model):
    per_organisation: int = Field(ge=1, le=1000)
    organisation_codes: list[str] | None = None


class IssuedTokenOut(Model):
    organisation: str
    token: str
    link: str


class TokensIssuedOut(Model):
    wave: str
    tokens: list[IssuedTokenOut] = Field(description="Shown once: only the tokens' hashes are stored")


class ResultCellOut(Model):
    label: str
    own: bool
    anonymised: bool
    suppressed: bool
    n: int | str
    mean: float | None
    sd: float | None
    ci_lower: float | None
    ci_upper: float | None
    awg: float | None
    verdict: str | None


class ResultDimensionOut(Model):
    code: str
    name: str
    respondents: int | None = Field(
        description="Pooled over the whole wave: null unless you see every organisation"
    )
    groups_shown: int | None
    groups_suppressed: int | None
    alpha: float | None
    alpha_ci_lower: float | None
    alpha_ci_upper: float | None
    icc1: float | None
    icc2: float | None
    cells: list[ResultCellOut]


class WaveResultsOut(Model):
    wave: WaveOut
    available: bool
    message: str | None
    min_group_size: int
    dimensions: list[ResultDimensionOut]
    notes: list[str]


class SurveyItemOut(Model):
    code: str
    text: str


class SurveyDimensionOut(Model):
    code: str
    name: str
    description: str | None
    items: list[SurveyItemOut]


class SurveyFormOut(Model):
    wave: str
    instrument: str
    scale: list[str] = Field(description="Answer labels, for values from scale_min upwards")
    scale_min: int
    dimensions: list[SurveyDimensionOut]


class SurveyAnswers(Model):
    answers: dict[str, int | str | None]


class SurveyReceiptOut(Model):
    wave: str
    submitted_month: dt.date
    answered_items: int
