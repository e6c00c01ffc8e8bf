"""The typed edge of the app beyond the read models: accounts, imports and surveys as pydantic models, which
the JSON API returns as is and the HTML templates render. The portfolio, organisation and indicator pages'
models are their views' own (:mod:`forewarn.views`)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from forewarn.views.model import Model

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
