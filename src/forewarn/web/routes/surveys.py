"""Surveys: waves (administrators create, open and close them and issue tokens), results with suppression, and
the respondent's form behind a token link.

The respondent's form works without JavaScript and saves nothing until the last step: each part (one dimension)
is a POST that carries the answers so far in hidden fields, then a check-your-answers page, then one submission
that stores the answers and spends the token in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.policy import Permission, Visibility
from forewarn.access.principal import Principal
from forewarn.store.database import writes_on
from forewarn.surveys.errors import AnswersRejectedError, SurveyError, TokenRejectedError
from forewarn.surveys.instrument import Instrument, builtin_instruments
from forewarn.surveys.responses import Receipt, submit_with_token
from forewarn.surveys.tokens import issue_tokens, normalise_token, token_hash, token_state
from forewarn.surveys.waves import close_wave, create_wave, open_wave, vacuum_survey_tables, wave_state
from forewarn.web.deps import AppState, ReadConnection, Viewer, WriteConnection, record, record_view, require
from forewarn.web.errors import BadRequestError, GoneError, NotFoundError, WebError
from forewarn.web.forms import SurveyStepForm, TokensForm, WaveForm, codes
from forewarn.web.pages.surveys import (
    Labels,
    build_results,
    build_wave_detail,
    build_waves,
    survey_form,
    visible_wave,
    wave_out,
)
from forewarn.web.rendering import render
from forewarn.web.schemas import (
    IssuedTokenOut,
    SurveyAnswers,
    SurveyFormOut,
    SurveyReceiptOut,
    TokensCreate,
    TokensIssuedOut,
    WaveCreate,
    WaveDetailOut,
    WaveOut,
    WaveResultsOut,
    WavesOut,
)
from forewarn.web.state import WebState

router = APIRouter()
Reader = Annotated[Principal, Depends(require(Permission.VIEW_SURVEY_RESULTS))]
Manager = Annotated[Principal, Depends(require(Permission.MANAGE_SURVEYS))]
TOKEN = Path(min_length=20, max_length=40, pattern=r"^[A-Za-z2-7-]+$")


class ConflictError(WebError):
    status_code = 409
    title = "This cannot be done now"


# -- waves: pages --------------------------------------------------------------------------------------------------


@router.get("/surveys", include_in_schema=False)
def surveys_page(
    request: Request, state: AppState, principal: Reader, viewer: Viewer, conn: ReadConnection
) -> Response:
    view = build_waves(state.engine, Labels(conn, viewer), state.settings.min_group_size)
    return render(request, "surveys.html", {"title": "Surveys", "view": view})


@router.post("/surveys", include_in_schema=False)
def create_wave_form(
    request: Request,
    state: AppState,
    principal: Manager,
    viewer: Viewer,
    form: Annotated[WaveForm, Form()],
    conn: WriteConnection,
) -> Response:
    name, organisations = form.name, codes(form.organisation_codes)
    instrument = form.instrument or "forewarn_lc"
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Enter a name for the wave"
    if not organisations:
        errors["organisation_codes"] = "Enter the codes of the organisations taking part"
    if not errors:
        try:
            wave = _create_wave(
                conn,
                request,
                principal,
                WaveCreate(name=name[:200], organisation_codes=organisations, instrument=instrument),
                state.settings.min_group_size,
            )
            return RedirectResponse(f"/surveys/{wave.id}?notice=wave-created", status_code=303)
        except SurveyError as exc:
            errors["organisation_codes" if "organisation" in str(exc) else "name"] = (
                str(exc)[:1].upper() + str(exc)[1:]
            )
    view = build_waves(state.engine, Labels(conn, viewer), state.settings.min_group_size)
    return render(
        request,
        "surveys.html",
        {
            "title": "Surveys",
            "view": view,
            "errors": errors,
            "values": {"name": name, "organisation_codes": "\n".join(organisations)},
        },
        status_code=400,
    )


@router.get("/surveys/{wave_id}", include_in_schema=False)
def wave_page(
    request: Request, state: AppState, principal: Reader, viewer: Viewer, wave_id: int, conn: ReadConnection
) -> Response:
    view = build_wave_detail(state.engine, Labels(conn, viewer), wave_id, state.settings.min_group_size)
    return render(request, "wave.html", {"title": view.wave.name, "view": view, "issued": None})


@router.post("/surveys/{wave_id}/{action}", include_in_schema=False)
def wave_action_form(
    request: Request,
    state: AppState,
    principal: Manager,
    viewer: Viewer,
    wave_id: int,
    form: Annotated[TokensForm, Form()],
    conn: WriteConnection,
    background: BackgroundTasks,
    action: str = Path(pattern="^(open|close|tokens)$"),
) -> Response:
    labels = Labels(conn, viewer)
    if action == "tokens":
        try:
            count = int(form.per_organisation or "0")
        except ValueError:
            count = 0
        if not 1 <= count <= 1000:
            view = build_wave_detail(state.engine, labels, wave_id, state.settings.min_group_size)
            return render(
                request,
                "wave.html",
                {
                    "title": view.wave.name,
                    "view": view,
                    "errors": {"per_organisation": "Enter a number of tokens from 1 to 1,000"},
                },
                status_code=400,
            )
        issued = _issue(conn, request, principal, wave_id, TokensCreate(per_organisation=count))
        view = build_wave_detail(state.engine, labels, wave_id, state.settings.min_group_size)
        return render(request, "wave.html", {"title": view.wave.name, "view": view, "issued": issued})
    _change_state(state, conn, background, request, principal, wave_id, action)
    return RedirectResponse(
        f"/surveys/{wave_id}?notice=wave-{'opened' if action == 'open' else 'closed'}", status_code=303
    )


@router.get("/surveys/{wave_id}/results", include_in_schema=False)
def results_page(
    request: Request, state: AppState, principal: Reader, viewer: Viewer, wave_id: int, conn: ReadConnection
) -> Response:
    view = build_results(state.engine, Labels(conn, viewer), wave_id, state.settings.min_group_size)
    record_view(state, conn, request, principal, "survey_results", wave_id)
    return render(request, "wave_results.html", {"title": f"Results: {view.wave.name}", "view": view})


# -- waves: services shared by pages and API -------------------------------------------------------------------


def _builtin_instrument(reference: str) -> str:
    """The reference when it names a built-in instrument (``code`` or ``code@version``). The web app never takes
    a file path: that would read any YAML file on the server (and a wrong name must be a 400, not a 500)."""
    code, _, version = reference.partition("@")
    known = builtin_instruments()
    if not any(i.code == code and (not version or i.version == version) for i in known):
        names = ", ".join(sorted({i.label for i in known}))
        raise SurveyError(f"there is no instrument {reference[:60]!r}; choose one of {names}")
    return reference


def _create_wave(
    conn: Connection, request: Request, principal: Principal, body: WaveCreate, min_group_size: int
) -> WaveOut:
    _builtin_instrument(body.instrument)
    organisations = [c.strip() for c in body.organisation_codes if c.strip()]
    if not organisations:
        raise SurveyError("enter the codes of the organisations taking part")
    wave = create_wave(
        conn,
        body.name,
        organisations,
        instrument=body.instrument,
        created_by=principal.email,
        min_group_size=body.min_group_size,
        floor=min_group_size,
    )
    record(conn, request, principal, "create", "survey_wave", wave.id, detail={"name": wave.name})
    return wave_out(wave, Labels(conn, Visibility(all_organisations=True)))


def _change_state(
    state: WebState,
    conn: Connection,
    background: BackgroundTasks,
    request: Request,
    principal: Principal,
    wave_id: int,
    action: str,
) -> WaveOut:
    try:
        wave_state(conn, wave_id)
    except SurveyError as exc:
        raise NotFoundError("There is no survey wave at this address.") from exc
    try:
        wave = (open_wave if action == "open" else close_wave)(
            conn, wave_id, floor=state.settings.min_group_size, by=principal.email
        )
    except SurveyError as exc:
        raise ConflictError(str(exc)) from exc
    record(conn, request, principal, action, "survey_wave", wave_id)
    if action == "close":  # after the answer, so after the commit: VACUUM cannot run inside a transaction
        background.add_task(vacuum_survey_tables, state.engine)
    return wave_out(wave, Labels(conn, Visibility(all_organisations=True)))


def _issue(
    conn: Connection, request: Request, principal: Principal, wave_id: int, body: TokensCreate
) -> TokensIssuedOut:
    try:
        wave = wave_state(conn, wave_id)
    except SurveyError as exc:
        raise NotFoundError("There is no survey wave at this address.") from exc
    try:
        issued = issue_tokens(conn, wave_id, body.per_organisation, body.organisation_codes)
    except SurveyError as exc:
        raise ConflictError(str(exc)) from exc
    base = str(request.base_url).rstrip("/")
    record(
        conn,
        request,
        principal,
        "issue_tokens",
        "survey_wave",
        wave_id,
        detail={"per_organisation": body.per_organisation, "organisations": len(issued)},
    )
    return TokensIssuedOut(
        wave=wave.name,
        tokens=[
            IssuedTokenOut(organisation=code, token=t, link=f"{base}/survey/{t}")
            for code, texts in issued.items()
            for t in texts
        ],
    )


# -- waves: API ------------------------------------------------------------------------------------------------


@router.get("/api/v1/surveys", response_model=WavesOut, tags=["surveys"])
def waves_api(state: AppState, principal: Reader, viewer: Viewer, conn: ReadConnection) -> WavesOut:
    """Survey waves that include an organisation you may see."""
    return build_waves(state.engine, Labels(conn, viewer), state.settings.min_group_size)


@router.post("/api/v1/surveys", response_model=WaveOut, status_code=201, tags=["surveys"])
def create_wave_api(
    request: Request, state: AppState, principal: Manager, body: WaveCreate, conn: WriteConnection
) -> WaveOut:
    """Create a draft wave of an instrument for these organisations (administrators)."""
    try:
        return _create_wave(conn, request, principal, body, state.settings.min_group_size)
    except SurveyError as exc:
        raise BadRequestError(str(exc)) from exc


@router.get("/api/v1/surveys/{wave_id}", response_model=WaveDetailOut, tags=["surveys"])
def wave_api(
    state: AppState, principal: Reader, viewer: Viewer, wave_id: int, conn: ReadConnection
) -> WaveDetailOut:
    """A wave and its responses so far per organisation (small counts shown as "<m")."""
    return build_wave_detail(state.engine, Labels(conn, viewer), wave_id, state.settings.min_group_size)


@router.post("/api/v1/surveys/{wave_id}/open", response_model=WaveOut, tags=["surveys"])
def open_wave_api(
    request: Request,
    state: AppState,
    principal: Manager,
    wave_id: int,
    conn: WriteConnection,
    background: BackgroundTasks,
) -> WaveOut:
    """Open a draft wave for answers."""
    return _change_state(state, conn, background, request, principal, wave_id, "open")


@router.post("/api/v1/surveys/{wave_id}/close", response_model=WaveOut, tags=["surveys"])
def close_wave_api(
    request: Request,
    state: AppState,
    principal: Manager,
    wave_id: int,
    conn: WriteConnection,
    background: BackgroundTasks,
) -> WaveOut:
    """Close an open wave for good; its results are then published."""
    return _change_state(state, conn, background, request, principal, wave_id, "close")


@router.post(
    "/api/v1/surveys/{wave_id}/tokens", response_model=TokensIssuedOut, status_code=201, tags=["surveys"]
)
def tokens_api(
    request: Request, principal: Manager, wave_id: int, body: TokensCreate, conn: WriteConnection
) -> TokensIssuedOut:
    """Issue single-use tokens. They are in this answer only: hand them out now."""
    return _issue(conn, request, principal, wave_id, body)


@router.get("/api/v1/surveys/{wave_id}/results", response_model=WaveResultsOut, tags=["surveys"])
def results_api(
    request: Request, state: AppState, principal: Reader, viewer: Viewer, wave_id: int, conn: ReadConnection
) -> WaveResultsOut:
    """A closed wave's results by dimension, groups below the minimum size suppressed."""
    view = build_results(state.engine, Labels(conn, viewer), wave_id, state.settings.min_group_size)
    record_view(state, conn, request, principal, "survey_results", wave_id)
    return view


# -- the respondent ---------------------------------------------------------------------------------------------


def _respondent_form(conn: Connection, token: str) -> tuple[SurveyFormOut, Instrument]:
    """The form behind a token, or the refusal a respondent should see (404, 409 not open, 410 used/closed)."""
    try:
        hashed = token_hash(token)
    except TokenRejectedError as exc:
        raise NotFoundError("This survey link is not valid. Check that you copied all of it.") from exc
    found = token_state(conn, hashed)
    if found is None:
        raise NotFoundError("This survey link is not valid. Check that you copied all of it.")
    wave = wave_state(conn, found.wave_id)
    if found.used:
        raise GoneError(
            "This survey link has already been used. Each link can be used once, so your answers were saved."
        )
    if wave.status == "draft":
        raise ConflictError(f"The survey {wave.name!r} has not opened yet. Try the link again later.")
    if wave.status == "closed":
        raise GoneError(f"The survey {wave.name!r} has closed and answers can no longer be accepted.")
    return survey_form(conn, found.wave_id, wave.name)


def _answers_from_form(form: SurveyStepForm, instrument: Instrument) -> tuple[dict[str, str], dict[str, str]]:
    """Answers carried in the form (``a_<item>``), and a problem per item whose value is not on the scale."""
    answers: dict[str, str] = {}
    problems: dict[str, str] = {}
    for code in instrument.item_codes:
        value = form.answer(code)
        if not value:
            continue
        try:
            instrument.parse_answer(value)
        except ValueError:
            problems[f"a_{code}"] = "Select one of the answers"
            continue
        answers[code] = value
    return answers, problems


def _submit(conn: Connection, request: Request, token: str, answers: Mapping[str, object]) -> Receipt:
    """Store the answers and spend the token in one short writing transaction (the form is read before it, so a
    respondent's steps never take the write lock).

    The audit entry is written in a transaction of its own afterwards, without the respondent's address: in the
    answers' transaction it would share their transaction id, tying an address and an exact time to anonymous
    answers."""
    with writes_on(conn):
        receipt = submit_with_token(conn, token, answers)
    with writes_on(conn):
        record(conn, request, "survey-token", "submit", "survey_response", None, with_address=False)
    return receipt


@router.get("/survey/{token}", include_in_schema=False)
def respondent_start(request: Request, conn: ReadConnection, token: str = TOKEN) -> Response:
    survey, _ = _respondent_form(conn, token)
    return render(
        request,
        "survey_start.html",
        {"title": survey.wave, "survey": survey, "token": normalise_token(token)},
    )


@router.post("/survey/{token}", include_in_schema=False)
def respondent_step(
    request: Request,
    form: Annotated[SurveyStepForm, Form()],
    conn: ReadConnection,
    token: str = TOKEN,
) -> Response:
    survey, instrument = _respondent_form(conn, token)
    answers, problems = _answers_from_form(form, instrument)
    goto = form.goto
    parts = len(survey.dimensions)
    context = {"title": survey.wave, "survey": survey, "token": normalise_token(token), "answers": answers}
    if goto == "submit":
        try:
            receipt = _submit(conn, request, token, answers)
        except AnswersRejectedError as exc:
            return render(
                request, "survey_check.html", {**context, "problems": exc.problems}, status_code=400
            )
        except TokenRejectedError as exc:
            raise GoneError(str(exc)[:1].upper() + str(exc)[1:] + ".") from exc
        return render(request, "survey_done.html", {**context, "receipt": receipt})
    if goto == "check":
        return render(request, "survey_check.html", {**context, "problems": []})
    try:
        part = min(max(int(goto), 1), parts)
    except ValueError:
        part = 1
    if problems:
        current = int(form.part or part) if form.part.isdigit() else part
        return render(
            request,
            "survey_part.html",
            {**context, "part": min(max(current, 1), parts), "errors": problems},
            status_code=400,
        )
    return render(request, "survey_part.html", {**context, "part": part})


@router.get("/api/v1/survey/{token}", response_model=SurveyFormOut, tags=["respondents"])
def respondent_form_api(conn: ReadConnection, token: str = TOKEN) -> SurveyFormOut:
    """The questions behind a survey token (no account needed). 404 unknown, 409 not open, 410 used or closed."""
    return _respondent_form(conn, token)[0]


@router.post("/api/v1/survey/{token}", response_model=SurveyReceiptOut, status_code=201, tags=["respondents"])
def respondent_submit_api(
    request: Request,
    body: SurveyAnswers,
    conn: ReadConnection,
    token: str = TOKEN,
) -> SurveyReceiptOut:
    """Submit all answers at once with a survey token; the token is spent in the same transaction."""
    _respondent_form(conn, token)
    try:
        receipt = _submit(conn, request, token, body.answers)
    except AnswersRejectedError as exc:
        raise BadRequestError("; ".join(exc.problems)) from exc
    except TokenRejectedError as exc:
        raise GoneError(str(exc)) from exc
    return SurveyReceiptOut(
        wave=receipt.wave, submitted_month=receipt.submitted_month, answered_items=receipt.answered_items
    )


__all__ = ["router", "visible_wave"]
