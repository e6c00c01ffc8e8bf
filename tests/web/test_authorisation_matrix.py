"""Every route x every role, with zero leaks.

The routes are read from the app itself, so a route added without a row here fails
``test_every_route_has_a_row``. Each row says what each role must get: ``OK`` (served, or a redirect that is
not to sign-in), ``LOGIN`` (anonymous: a redirect to sign-in for pages, 401 for the API), or an exact status
(403 refused, 404 "not there, or not yours": the two are deliberately indistinguishable).

Roles: anonymous; an organisation member by session and by API token; a regulator analyst; an administrator.
For the member, every response body is also searched for the names and codes of organisations they may not see
by name, and every JSON ``*organisation_id`` value is checked against their ids.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from forewarn.access.policy import grant_peers
from forewarn.accounts.sessions import start_session
from forewarn.accounts.tokens import issue_token
from tests.web.experiment_world import experiment_in
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World

OK = "ok"
LOGIN = "login"
ROLES = ("anonymous", "member", "member_bearer", "analyst", "admin")
Expect = str | int
Setup = Callable[[World, Engine], dict[str, Any]]


def everyone(expect: Expect) -> dict[str, Expect]:
    return dict.fromkeys(ROLES, expect)


def signed_in(expect: Expect) -> dict[str, Expect]:
    return {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], expect)}


def staff(expect: Expect = OK, member: Expect = 403) -> dict[str, Expect]:
    """Analysts and admins get ``expect``; members ``member``."""
    return {"anonymous": LOGIN, "member": member, "member_bearer": member, "analyst": expect, "admin": expect}


def admins(expect: Expect = OK) -> dict[str, Expect]:
    return {"anonymous": LOGIN, "member": 403, "member_bearer": 403, "analyst": 403, "admin": expect}


def ids(**extra: Any) -> Setup:
    return lambda world, engine: extra


def org(key: str, **extra: Any) -> Setup:
    return lambda world, engine: {"organisation_id": world.ids[key], **extra}


def wave(key: str, **extra: Any) -> Setup:
    return lambda world, engine: {"wave_id": world.waves[key], **extra}


def token(key: str) -> Setup:
    return lambda world, engine: {"token": world.tokens[key]}


def experiment_setup(code: str) -> Setup:
    """Two started experiments on the world's 'perf' (issue 15): 'trial-own' with OWN, PEER and HIDDEN, analysed;
    'trial-hidden' with HIDDEN and SIM only. Made once; later calls find them."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        import datetime as dt

        from forewarn.experiments.analysis import analyse_experiment
        from forewarn.experiments.design import allocate_experiment
        from forewarn.experiments.registry import (
            ExperimentNotFoundError,
            ExperimentSpec,
            create_experiment,
            get_experiment,
            start_experiment,
        )

        plans = {"trial-own": ["OWN1", "PEER1", "HIDE1"], "trial-hidden": ["HIDE1", "SIM1"]}
        for name, units in plans.items():
            try:
                get_experiment(engine, name)
                continue
            except ExperimentNotFoundError:
                pass
            create_experiment(
                engine,
                ExperimentSpec(
                    code=name,
                    title="Daily huddles",
                    hypothesis="Huddles improve performance",
                    outcome_indicator="perf",
                    design="cluster",
                    units=units,
                    analysis="cluster_robust",
                    minimum_effect=0.5,
                    planned_start=dt.date(2021, 1, 1),
                    planned_end=dt.date(2021, 12, 31),
                    owner="the regulator's analysts",
                ),
                by="tests",
            )
            allocate_experiment(engine, name, seed=3, by="tests")
            start_experiment(engine, name, by="tests")
            if name == "trial-own":
                analyse_experiment(engine, name, method="its", by="tests")
        return {"code": code}

    return setup


def fresh_admin_token(world: World, engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        return {"token_id": issue_token(conn, world.users["admin"], "to revoke").id}


def regrant(world: World, engine: Engine) -> dict[str, Any]:
    with engine.begin() as conn:
        grant_peers(conn, world.ids["OWN"], [world.ids["PEER"]], "tests")
    return {"organisation_id": world.ids["OWN"], "peer_id": world.ids["PEER"]}


def case_of(key: str, **extra: Any) -> Setup:
    """The open case of one organisation of the world (opened by the first row that needs it)."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        from forewarn.cases import reading, service

        with engine.begin() as conn:
            mine = reading.list_cases(conn, organisation_ids=[world.ids[key]], status="open")
            if mine:
                case_id = mine[0].id
            else:
                code = {"OWN": "OWN1", "PEER": "PEER1", "HIDDEN": "HIDE1"}[key]
                case_id = service.open_case(
                    conn, code, support="development", owner="Case owner", concern="Matrix", actor="tests"
                )
        return {"case_id": case_id, **extra}

    return setup


def case_with_intervention(key: str, **extra: Any) -> Setup:
    """The open case of ``key`` with an intervention recorded and withdrawn (its effect and follow-up computed)."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        import datetime as dt

        from forewarn.cases import interventions, reading

        found = case_of(key)(world, engine)
        with engine.begin() as conn:
            if not reading.get_case(conn, found["case_id"]).interventions:
                interventions.start_intervention(
                    conn, found["case_id"], start=dt.date(2021, 2, 1), indicators=["perf"], actor="tests"
                )
                interventions.end_intervention(conn, found["case_id"], end=dt.date(2021, 9, 1), actor="tests")
        return {**found, **extra}

    return setup


def library_note(key: str, audience: str) -> Setup:
    """A fresh library note of the organisation ``key``, shared with ``audience``."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        from forewarn.library.documents import DocumentInput, create_document
        from tests.web.world import ORGANISATIONS

        with engine.begin() as conn:
            document_id = create_document(
                conn,
                DocumentInput(
                    title=f"Night checks ({audience})",
                    body="A second check at night.",
                    organisation=ORGANISATIONS[key][0],
                    audience=audience,
                ),
                "tests",
            )
        return {"document_id": document_id}

    return setup


BAD_CSV = (
    "bad.csv",
    b"period,org_code,org_name,attendances,breaches\nnot-a-date,AAA,Alpha,ten,1\n",
    "text/csv",
)
MAPPING = (
    "mapping.yml",
    b"version: 1\ndataset: {code: up, name: Upload}\ncolumns: {period: date, org_code: text, org_name: text, "
    b"attendances: number, breaches: number}\norganisation: {code: org_code, name: org_name}\n"
    b"period: {column: period, format: iso, frequency: month}\nindicators:\n  - {code: up_perf, name: P, "
    b"kind: proportion, polarity: higher_is_better, numerator: attendances - breaches, denominator: attendances}\n",
    "application/yaml",
)


def risk_scores(world: World, engine: Engine) -> dict[str, Any]:
    """Issue 11: a stored risk model with scores for every organisation (a member must see only their own)."""
    from tests.web.risk_world import store_risk_scores

    store_risk_scores(world, engine)
    return {}


def risk_backtest(world: World, engine: Engine) -> dict[str, Any]:
    """Issue 11: a stored backtest (aggregate figures: analysts and admins only)."""
    from tests.web.risk_world import store_backtest

    store_backtest(engine)
    return {}


def scored_org(key: str) -> Setup:
    """Issue 11: the organisation ``key`` with stored risk scores (its page says why it is on the watchlist)."""

    def setup(world: World, engine: Engine) -> dict[str, Any]:
        risk_scores(world, engine)
        return {"organisation_id": world.ids[key]}

    return setup


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    expect: dict[str, Expect]
    setup: Setup = field(default=ids())
    data: dict[str, str] | None = None
    json_body: dict[str, Any] | None = None
    upload: bool = False
    label: str = ""
    files: dict[str, tuple[str, bytes, str]] | None = (
        None  # a multipart form's files, with ``data`` as fields
    )


EXPERIMENT_FORM = {  # issue 15: a registration, as the form sends it (and the matrix's experiments hold)
    "title": "Matrix huddles",
    "hypothesis": "Huddles improve performance",
    "outcome_indicator": "perf",
    "design": "cluster",
    "analysis": "cluster_robust",
    "minimum_effect": "0.5",
    "owner": "Quality team",
    "planned_start": "2021-01-01",
    "planned_end": "2021-12-31",
}
EXPERIMENT_JSON = {**EXPERIMENT_FORM, "minimum_effect": 0.5}


def _matrix_docx() -> bytes:
    """A small Word document for the library's upload rows (python-docx, as tests/library/test_extract.py)."""
    from docx import Document

    document = Document()
    document.add_paragraph("Practice uploaded by the authorisation matrix.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


MATRIX_DOCX = _matrix_docx()

CASES: list[Case] = [
    Case("GET", "/healthz", everyone(OK)),
    Case("GET", "/api/v1/openapi.json", everyone(OK)),
    Case("GET", "/api/docs", everyone(OK)),
    Case("GET", "/sign-in", everyone(OK)),
    Case(
        "POST",
        "/sign-in",
        everyone(400),
        data={"email": "nobody@test.forewarn", "password": "wrong password!"},
    ),
    Case("POST", "/sign-out", everyone(OK)),
    # Two-step sign-in (issue 16): without a second-step cookie the code step sends everyone back to /sign-in.
    Case("GET", "/sign-in/code", everyone(OK)),
    Case("POST", "/sign-in/code", everyone(OK), data={"code": "123456", "next": "/"}),
    Case("GET", "/account/two-step", staff()),
    Case("POST", "/account/two-step/start", staff()),
    Case("POST", "/account/two-step/confirm", staff(400), data={"code": "000000"}),
    Case("POST", "/account/two-step/off", staff()),
    Case("GET", "/", signed_in(OK)),
    Case("GET", "/portfolio", signed_in(OK)),
    Case("GET", "/api/v1/portfolio", signed_in(OK)),
    # One organisation: the member's own, a granted peer, one not granted, one that does not exist.
    *[
        Case("GET", path, {**signed_in(OK), **member_sees}, setup=org(key, indicator_code="perf"), label=key)
        for path in (
            "/organisations/{organisation_id}",
            "/api/v1/organisations/{organisation_id}",
            "/organisations/{organisation_id}/charts/{indicator_code}.svg",
            "/organisations/{organisation_id}/indicators/{indicator_code}",
            "/api/v1/organisations/{organisation_id}/indicators/{indicator_code}",
        )
        for key, member_sees in (
            ("OWN", {}),
            ("PEER", {"member": 404, "member_bearer": 404}),
            ("HIDDEN", {"member": 404, "member_bearer": 404}),
            ("SIM", {"member": 404, "member_bearer": 404}),
        )
    ],
    Case(
        "GET",
        "/organisations/{organisation_id}",
        signed_in(404),
        setup=ids(organisation_id=987654),
        label="none",
    ),
    Case("GET", "/api/v1/organisations/{organisation_id}", signed_in(404), setup=ids(organisation_id=987654)),
    Case(
        "GET",
        "/organisations/{organisation_id}/charts/{indicator_code}.svg",
        {**signed_in(404), "member": 404},
        setup=org("OWN", indicator_code="nope"),
        label="no such indicator",
    ),
    Case("GET", "/indicators", signed_in(OK)),
    Case("GET", "/api/v1/indicators", signed_in(OK)),
    Case("GET", "/indicators/{code}", signed_in(OK), setup=ids(code="perf")),
    Case("GET", "/indicators/{code}", signed_in(404), setup=ids(code="nope"), label="none"),
    Case("GET", "/api/v1/indicators/{code}", signed_in(OK), setup=ids(code="perf")),
    Case("GET", "/api/v1/indicators/{code}", signed_in(OK), setup=ids(code="falls"), label="rate"),
    Case("GET", "/indicators/{code}/{chart}.svg", signed_in(OK), setup=ids(code="perf", chart="funnel")),
    Case(
        "GET",
        "/indicators/{code}/{chart}.svg",
        signed_in(OK),
        setup=ids(code="perf", chart="ranks"),
        label="r",
    ),
    Case("GET", "/import", staff()),
    Case("POST", "/import", staff(422), upload=True),
    Case("POST", "/import/{pending_id}/confirm", staff(404), setup=ids(pending_id="x" * 24)),
    Case("POST", "/api/v1/imports", staff(OK), upload=True),
    Case("POST", "/api/v1/imports/{pending_id}/confirm", staff(404), setup=ids(pending_id="x" * 24)),
    Case("GET", "/account", signed_in(OK)),
    Case("POST", "/account/tokens", signed_in(OK), data={"name": "matrix"}),
    Case(
        "POST",
        "/account/tokens/{token_id}/revoke",
        {**signed_in(404), "admin": OK},
        setup=fresh_admin_token,
        label="someone else's token",
    ),
    Case(
        "POST", "/account/password", signed_in(400), data={"current_password": "wrong", "new_password": "x"}
    ),
    Case("GET", "/account/confirm-password", signed_in(OK)),
    Case(
        "POST",
        "/account/confirm-password",
        {**signed_in(400), "member_bearer": 403},
        data={"password": "not the password", "next": "/users"},
    ),
    Case("GET", "/api/v1/account", signed_in(OK)),
    Case("POST", "/api/v1/account/tokens", signed_in(OK), json_body={"name": "matrix"}),
    Case(
        "POST",
        "/api/v1/account/tokens/{token_id}/revoke",
        {**signed_in(404), "admin": OK},
        setup=fresh_admin_token,
    ),
    Case("GET", "/users", admins()),
    Case("GET", "/users/new", admins()),
    Case("POST", "/users", admins(400), data={"email": "not-an-email", "display_name": "", "role": "member"}),
    Case("GET", "/users/{user_id}", admins(), setup=lambda w, e: {"user_id": w.users["other_member"]}),
    Case(
        "POST",
        "/users/{user_id}",
        admins(OK),
        setup=lambda w, e: {"user_id": w.users["other_member"]},
        data={"role": "member", "organisation_code": "HIDE1", "is_active": "yes"},
    ),
    Case(
        "POST",
        "/users/{user_id}/password",
        admins(400),
        setup=lambda w, e: {"user_id": w.users["other_member"]},
        data={"password": "short"},
    ),
    Case("GET", "/peers", admins()),
    Case("POST", "/peers", admins(OK), data={"organisation_code": "HIDE1", "peer_codes": "PEER1"}),
    Case("POST", "/peers/{organisation_id}/{peer_id}/revoke", admins(OK), setup=regrant),
    Case("GET", "/audit", admins()),
    Case("GET", "/jobs", admins()),
    Case("POST", "/jobs", admins(), data={"kind": "maintenance"}),
    Case("GET", "/api/v1/users", admins()),
    Case(
        "POST",
        "/api/v1/users",
        admins(422),
        json_body={"email": "bad", "display_name": "x", "password": "p", "role": "member"},
    ),
    Case("GET", "/api/v1/users/{user_id}", admins(), setup=lambda w, e: {"user_id": w.users["other_member"]}),
    Case(
        "PUT",
        "/api/v1/users/{user_id}",
        admins(),
        setup=lambda w, e: {"user_id": w.users["other_member"]},
        json_body={"role": "member", "organisation_code": "HIDE1", "is_active": True},
    ),
    Case("GET", "/api/v1/peers", admins()),
    Case(
        "POST",
        "/api/v1/peers",
        admins(201),
        json_body={"organisation_code": "HIDE1", "peer_codes": ["PEER1"]},
    ),
    Case("GET", "/api/v1/audit", admins()),
    # Surveys: a member sees waves that include their organisation (and peers), never the hidden trust's alone.
    Case("GET", "/surveys", signed_in(OK)),
    Case("POST", "/surveys", admins(400), data={"name": "", "organisation_codes": ""}),
    *[
        Case("GET", path, {**signed_in(OK), **member}, setup=wave(key), label=key)
        for path in (
            "/surveys/{wave_id}",
            "/surveys/{wave_id}/results",
            "/api/v1/surveys/{wave_id}",
            "/api/v1/surveys/{wave_id}/results",
        )
        for key, member in (("closed", {}), ("open", {}), ("hidden", {"member": 404, "member_bearer": 404}))
    ],
    Case("GET", "/surveys/{wave_id}", signed_in(404), setup=ids(wave_id=98765), label="none"),
    Case(
        "POST",
        "/surveys/{wave_id}/{action}",
        admins(OK),
        setup=wave("open", action="tokens"),
        data={"per_organisation": "1"},
    ),
    Case(
        "POST",
        "/surveys/{wave_id}/{action}",
        admins(409),
        setup=wave("closed", action="open"),
        label="reopen",
    ),
    Case("GET", "/api/v1/surveys", signed_in(OK)),
    Case("POST", "/api/v1/surveys", admins(400), json_body={"name": "x", "organisation_codes": ["NOPE"]}),
    Case("POST", "/api/v1/surveys/{wave_id}/open", admins(409), setup=wave("closed")),
    Case("POST", "/api/v1/surveys/{wave_id}/close", admins(409), setup=wave("draft")),
    Case(
        "POST",
        "/api/v1/surveys/{wave_id}/tokens",
        admins(201),
        setup=wave("open"),
        json_body={"per_organisation": 1},
    ),
    # The respondent's token link: no account needed; a used token is refused to everyone.
    Case("GET", "/survey/{token}", everyone(OK), setup=token("fresh")),
    Case("GET", "/survey/{token}", everyone(410), setup=token("used"), label="used"),
    Case("GET", "/survey/{token}", everyone(409), setup=token("draft"), label="not open"),
    Case(
        "GET",
        "/survey/{token}",
        everyone(404),
        setup=ids(token="AAAA-BBBB-CCCC-DDDD-EEEE-FFFF"),
        label="unknown",
    ),
    Case("POST", "/survey/{token}", everyone(OK), setup=token("fresh"), data={"goto": "2", "a_acq_1": "4"}),
    Case(
        "POST",
        "/survey/{token}",
        everyone(410),
        setup=token("used"),
        data={"goto": "submit", "a_acq_1": "4"},
        label="used",
    ),
    Case("GET", "/api/v1/survey/{token}", everyone(OK), setup=token("fresh")),
    Case("GET", "/api/v1/survey/{token}", everyone(410), setup=token("used"), label="used"),
    Case(
        "POST",
        "/api/v1/survey/{token}",
        everyone(410),
        setup=token("used"),
        json_body={"answers": {"acq_1": 4}},
    ),
    # Issue 11: the risk watchlist (stored scores; the whole list for analysts, a member's own organisation only)
    Case("GET", "/risk", signed_in(OK), setup=risk_scores),
    Case("GET", "/api/v1/risk/watchlist", signed_in(OK), setup=risk_scores),
    Case("GET", "/risk/backtest", staff(OK), setup=risk_backtest),
    Case("GET", "/api/v1/risk/backtest", staff(OK), setup=risk_backtest),
    # Issue 15, experiments: a member sees the experiments their organisation takes part in, the others in it
    # under pseudonyms or as "another organisation"; an experiment without them is not there for them.
    Case("GET", "/api/v1/experiments", signed_in(OK), setup=experiment_setup("trial-own")),
    Case("GET", "/api/v1/experiments/{code}", signed_in(OK), setup=experiment_setup("trial-own")),
    Case(
        "GET",
        "/api/v1/experiments/{code}",
        staff(OK, member=404),
        setup=experiment_setup("trial-hidden"),
        label="not theirs",
    ),
    Case("GET", "/api/v1/experiments/{code}", signed_in(404), setup=ids(code="nothing"), label="missing"),
    Case("GET", "/experiments", signed_in(OK), setup=experiment_setup("trial-own")),
    Case("GET", "/experiments/{code}", signed_in(OK), setup=experiment_setup("trial-own")),
    Case(
        "GET",
        "/experiments/{code}",
        staff(OK, member=404),
        setup=experiment_setup("trial-hidden"),
        label="not theirs",
    ),
    # Issue 14, case files: analysts see and change every case; a member sees only their own organisation's and
    # may add progress notes to it; a peer's or a hidden organisation's case is 404 to them, as if it were not there.
    Case("GET", "/cases", signed_in(OK)),
    *[
        Case("GET", "/cases/{case_id}", {**signed_in(OK), **member_sees}, setup=case_of(key), label=key)
        for key, member_sees in (
            ("OWN", {}),
            ("PEER", {"member": 404, "member_bearer": 404}),
            ("HIDDEN", {"member": 404, "member_bearer": 404}),
        )
    ],
    Case("GET", "/cases/{case_id}", signed_in(404), setup=ids(case_id=98765), label="none"),
    Case("POST", "/cases", staff(400), data={"organisation_code": "", "support": "watch"}),
    Case(
        "POST", "/cases/{case_id}/notes", signed_in(400), setup=case_of("OWN"), data={"body": ""}, label="OWN"
    ),
    Case(
        "POST",
        "/cases/{case_id}/notes",
        {**signed_in(400), "member": 404, "member_bearer": 404},
        setup=case_of("HIDDEN"),
        data={"body": ""},
        label="HIDDEN",
    ),
    Case("POST", "/cases/{case_id}/edit", staff(OK), setup=case_of("OWN"), data={"owner": "Case owner"}),
    Case("POST", "/cases/{case_id}/interventions", staff(400), setup=case_of("OWN"), data={"start": "x"}),
    Case("POST", "/cases/{case_id}/withdraw", staff(400), setup=case_of("OWN"), data={"end": ""}),
    Case("POST", "/cases/{case_id}/close", staff(400), setup=case_of("OWN"), data={"note": ""}),
    # Issue 13, learning from peers: an organisation's statistical neighbours, for those who may open it.
    *[
        Case("GET", path, {**signed_in(OK), **member_sees}, setup=org(key), label=key)
        for path in (
            "/organisations/{organisation_id}/neighbours",
            "/api/v1/organisations/{organisation_id}/neighbours",
        )
        for key, member_sees in (
            ("OWN", {}),
            ("PEER", {"member": 404, "member_bearer": 404}),
            ("HIDDEN", {"member": 404, "member_bearer": 404}),
            ("SIM", {"member": 404, "member_bearer": 404}),
        )
    ],
    Case(
        "GET",
        "/api/v1/organisations/{organisation_id}/neighbours",
        signed_in(404),
        setup=ids(organisation_id=987654),
        label="none",
    ),
    # Issue 13, the practice library: everyone signed in reads what is shared; a note for its organisation only is
    # the organisation's and the regulator's; members edit their own organisation's notes only.
    Case("GET", "/library", signed_in(OK)),
    Case("GET", "/api/v1/library", signed_in(OK)),
    Case("GET", "/library/new", signed_in(OK)),
    Case("POST", "/library/new", signed_in(OK), data={"title": "Matrix note", "body": "Some practice."}),
    Case("POST", "/library/new", signed_in(400), data={"title": "", "body": ""}, label="empty"),
    *[
        Case(method, path, expect, setup=library_note(key, audience), label=f"{key}_{audience}")
        for method, path in (
            ("GET", "/library/{document_id}"),
            ("GET", "/api/v1/library/{document_id}"),
            ("GET", "/library/{document_id}/edit"),
        )
        for key, audience, expect in (
            ("OWN", "organisation", signed_in(OK)),
            (
                "HIDDEN",
                "everyone",
                signed_in(OK)
                if "edit" not in path
                else {**signed_in(OK), "member": 403, "member_bearer": 403},
            ),
            ("HIDDEN", "organisation", {**signed_in(OK), "member": 404, "member_bearer": 404}),
        )
    ],
    Case(
        "POST",
        "/library/{document_id}/edit",
        signed_in(OK),
        setup=library_note("OWN", "everyone"),
        data={"title": "Edited", "body": "Edited practice.", "audience": "everyone"},
    ),
    Case(
        "POST",
        "/library/{document_id}/edit",
        {**signed_in(OK), "member": 403, "member_bearer": 403},
        setup=library_note("HIDDEN", "everyone"),
        data={"title": "Edited", "body": "Edited practice.", "audience": "everyone"},
        label="another organisation's",
    ),
    Case("GET", "/library/{document_id}", signed_in(404), setup=ids(document_id=987654), label="none"),
    # Issue 11: an organisation's page and JSON open with why it is on the watchlist (its own stored score only).
    *[
        Case("GET", path, {**signed_in(OK), **member_sees}, setup=scored_org(key), label=f"{key}_risk")
        for path in ("/organisations/{organisation_id}", "/api/v1/organisations/{organisation_id}")
        for key, member_sees in (("OWN", {}), ("HIDDEN", {"member": 404, "member_bearer": 404}))
    ],
    # Issue 15, experiments from the web: anyone signed in with an organisation registers (a member for their own
    # organisation, naming peers by pseudonym, so a member's body is refused for staff and the other way round);
    # analysts change any experiment, a member only their organisation's (403 for one they only take part in, 404
    # for one without them). Each request acts on a fresh experiment at the stage its action needs.
    Case("GET", "/experiments/new", signed_in(OK)),
    *[
        Case(
            "POST",
            path,
            {"anonymous": LOGIN, "member": OK, "member_bearer": OK, "analyst": 400, "admin": 400},
            data=None if path.startswith("/api/") else {**EXPERIMENT_FORM, "units": "OWN1, Peer 1"},
            json_body={**EXPERIMENT_JSON, "units": ["OWN1", "Peer 1"]} if path.startswith("/api/") else None,
            setup=regrant,  # the member's peer, "Peer 1", granted again (rows above revoke it)
            label="member's units",
        )
        for path in ("/experiments/new", "/api/v1/experiments")
    ],
    *[
        Case(
            "POST",
            path,
            staff(OK, member=400),
            data=None if path.startswith("/api/") else {**EXPERIMENT_FORM, "units": "OWN1, PEER1"},
            json_body={**EXPERIMENT_JSON, "units": ["OWN1", "PEER1"]} if path.startswith("/api/") else None,
            label="codes",
        )
        for path in ("/experiments/new", "/api/v1/experiments")
    ],
    *[
        Case(method, path, expect, setup=experiment_in(owner, stage), data=data, json_body=body, label=owner)
        for owner, expect in (
            ("OWN", signed_in(OK)),
            ("REGULATOR", staff(OK, member=403)),
            ("HIDDEN", staff(OK, member=404)),
        )
        for method, path, stage, data, body in (
            ("GET", "/experiments/{code}/edit", "draft", None, None),
            ("POST", "/experiments/{code}/edit", "draft", {**EXPERIMENT_FORM, "title": "Edited"}, None),
            ("PATCH", "/api/v1/experiments/{code}", "started", None, {"title": "Edited", "reason": "matrix"}),
            ("POST", "/experiments/{code}/allocate", "draft", {"seed": "7"}, None),
            ("POST", "/api/v1/experiments/{code}/allocate", "draft", None, {"seed": 7}),
            ("POST", "/experiments/{code}/start", "allocated", {}, None),
            ("POST", "/api/v1/experiments/{code}/start", "allocated", None, {}),
            ("POST", "/experiments/{code}/analyse", "started", {"method": "its"}, None),
            ("POST", "/api/v1/experiments/{code}/analyse", "started", None, {"publish": True}),
            ("POST", "/experiments/{code}/publish", "analysed", {}, None),
            ("POST", "/api/v1/experiments/{code}/publish", "analysed", None, {}),
        )
    ],
    *[
        # Two clusters an arm at least: the world's four organisations, so only in OWN's and the regulator's.
        Case(
            "POST", path, expect, setup=experiment_in(owner, "draft"), data=data, json_body=body, label=owner
        )
        for owner, expect in (("OWN", signed_in(OK)), ("REGULATOR", staff(OK, member=403)))
        for path, data, body in (
            ("/experiments/{code}/design", {"cluster_size": "30", "icc": "0.05"}, None),
            ("/api/v1/experiments/{code}/design", None, {"cluster_size": 30, "icc": 0.05}),
        )
    ],
    # Issue 13, who to learn from now (the organisation page's panel as JSON): for those who may open it.
    *[
        Case("GET", "/api/v1/organisations/{organisation_id}/learn-from", expect, setup=org(key), label=key)
        for key, expect in (
            ("OWN", signed_in(OK)),
            ("PEER", {**signed_in(OK), "member": 404, "member_bearer": 404}),
            ("HIDDEN", {**signed_in(OK), "member": 404, "member_bearer": 404}),
        )
    ],
    # Issue 14, a case's plan from the web: analysts and administrators add milestones and exit criteria and mark
    # milestones done (400: the forms are empty); members may not (403), even on their own organisation's case.
    Case("POST", "/cases/{case_id}/milestones", staff(400), setup=case_of("OWN"), data={"title": ""}),
    Case("POST", "/cases/{case_id}/exit-criteria", staff(400), setup=case_of("OWN"), data={"threshold": "x"}),
    Case(
        "POST",
        "/cases/{case_id}/milestones/{milestone_id}/done",
        staff(400),
        setup=case_of("OWN", milestone_id=1),
        data={"done_on": ""},
    ),
    # Issue 14, downloads: every table as CSV and the board report with the page's own authorisation (members:
    # their own organisation and case; anyone else's is 404), the portfolio report for the regulator only.
    Case("GET", "/portfolio/tables/organisations.csv", signed_in(OK)),
    Case("GET", "/portfolio/report.pdf", staff(OK)),
    Case("GET", "/cases/tables/cases.csv", signed_in(OK)),
    *[
        Case("GET", path, {**signed_in(OK), **member_sees}, setup=setup, label=key)
        for path, setup_of in (
            ("/organisations/{organisation_id}/tables/{table}.csv", lambda key: org(key, table="events")),
            ("/organisations/{organisation_id}/report.pdf", org),
            ("/cases/{case_id}/tables/{table}.csv", lambda key: case_of(key, table="notes")),
        )
        for key, member_sees in (("OWN", {}), ("HIDDEN", {"member": 404, "member_bearer": 404}))
        for setup in (setup_of(key),)
    ],
    Case("GET", "/risk/tables/watchlist.csv", signed_in(OK), setup=risk_scores),
    *[
        Case(
            "GET",
            "/organisations/{organisation_id}/indicators/{indicator_code}/tables/{table}.csv",
            {**signed_in(OK), **member_sees},
            setup=org(key, indicator_code="perf", table="points"),
            label=key,
        )
        for key, member_sees in (("OWN", {}), ("HIDDEN", {"member": 404, "member_bearer": 404}))
    ],
    # Issue 13, documents uploaded with the library form (multipart): members for their own organisation,
    # analysts for any; a corrupt file is refused (400) for everyone signed in; another organisation's document
    # cannot be replaced by a member, whatever the file.
    Case(
        "POST",
        "/library/new",
        signed_in(OK),
        data={"audience": "everyone"},
        files={"document_file": ("matrix.docx", MATRIX_DOCX, "application/octet-stream")},
        label="upload",
    ),
    Case(
        "POST",
        "/library/new",
        signed_in(400),
        data={"title": "Broken", "audience": "everyone"},
        files={"document_file": ("broken.pdf", b"%PDF-1.7 broken", "application/pdf")},
        label="corrupt upload",
    ),
    *[
        Case(
            "POST",
            "/library/{document_id}/edit",
            expect,
            setup=library_note(key, "everyone"),
            data={"title": "Replaced", "audience": "everyone"},
            files={"document_file": ("matrix.docx", MATRIX_DOCX, "application/octet-stream")},
            label=f"{key} upload",
        )
        for key, expect in (
            ("OWN", signed_in(OK)),
            ("HIDDEN", {**signed_in(OK), "member": 403, "member_bearer": 403}),
        )
    ],
    # Issue 14, the funnel history of an organisation's indicator: its chart as SVG and its table as CSV, with
    # the organisation page's authorisation.
    *[
        Case(
            "GET",
            path,
            {**signed_in(OK), **member_sees},
            setup=org(key, indicator_code="perf", table=table),
            label=key if table is None else f"{key} {table}",
        )
        for path, table in (
            ("/organisations/{organisation_id}/funnel-history/{indicator_code}.svg", None),
            (
                "/organisations/{organisation_id}/indicators/{indicator_code}/tables/{table}.csv",
                "funnel_history",
            ),
        )
        for key, member_sees in (
            ("OWN", {}),
            ("PEER", {"member": 404, "member_bearer": 404}),
            ("HIDDEN", {"member": 404, "member_bearer": 404}),
        )
    ],
    Case(
        "GET",
        "/organisations/{organisation_id}/funnel-history/{indicator_code}.svg",
        {**signed_in(404), "member": 404},
        setup=org("OWN", indicator_code="nope"),
        label="no such indicator",
    ),
    # Issue 14, the indicator page's tables (what the viewer may see of every organisation), and a case's effects
    # against its comparison group and follow-up: the regulator's tables (a member's own case has none: 404).
    Case(
        "GET",
        "/indicators/{code}/tables/{table}.csv",
        signed_in(OK),
        setup=ids(code="perf", table="organisations"),
    ),
    Case(
        "GET",
        "/indicators/{code}/tables/{table}.csv",
        signed_in(404),
        setup=ids(code="nope", table="organisations"),
        label="none",
    ),
    *[
        Case(
            "GET",
            "/cases/{case_id}/tables/{table}.csv",
            staff(OK, member=404),
            setup=case_with_intervention(key, table=table),
            label=f"{key} {table}",
        )
        for key in ("OWN", "HIDDEN")
        for table in ("effects", "follow_up")
    ],
]


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(app.routes):
        methods = getattr(context.original_route, "methods", None) or set()
        for method in methods - {"HEAD"}:
            found.add((method, str(context.path)))
    return found


def test_every_route_has_a_row(app: FastAPI) -> None:
    covered = {(c.method, c.path) for c in CASES}
    missing = app_routes(app) - covered
    assert not missing, f"routes without a row in the authorisation matrix: {sorted(missing)}"
    stale = covered - app_routes(app)
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


def _client(app: FastAPI, engine: Engine, world: World, role: str) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    headers: dict[str, str] = {}
    if role == "anonymous":
        page = client.get("/sign-in")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        headers["X-CSRF-Token"] = token
        return client, headers
    user = world.users["member" if role.startswith("member") else role]
    with engine.begin() as conn:
        if role == "member_bearer":
            headers["Authorization"] = f"Bearer {issue_token(conn, user, 'matrix').token}"
        else:
            session = start_session(conn, user)
            client.cookies.set(app.state.forewarn.cookies.session, session.token)
            headers["X-CSRF-Token"] = session.csrf_token
    return client, headers


def _send(client: TestClient, case: Case, path: str, headers: dict[str, str]) -> httpx.Response:
    if case.upload:
        files = {"data_file": BAD_CSV, "mapping_file": MAPPING}
        return client.request(case.method, path, files=files, headers=headers, follow_redirects=False)
    if case.files is not None:
        return client.request(
            case.method, path, data=case.data, files=case.files, headers=headers, follow_redirects=False
        )
    if case.json_body is not None:
        return client.request(case.method, path, json=case.json_body, headers=headers, follow_redirects=False)
    return client.request(case.method, path, data=case.data, headers=headers, follow_redirects=False)


def _outcome_problem(case: Case, role: str, response: httpx.Response) -> str | None:
    expected = case.expect[role]
    status = response.status_code
    location = response.headers.get("location", "")
    to_sign_in = status in (302, 303, 307) and location.startswith("/sign-in?next=")
    if expected == LOGIN:
        ok = status == 401 if case.path.startswith("/api/") else to_sign_in
    elif expected == OK:
        ok = status < 400 and not to_sign_in
    else:
        ok = status == expected
    if ok:
        return None
    return f"{case.method} {case.path} [{case.label}] as {role}: expected {expected}, got {status} {location}"


def _organisation_ids(value: Any) -> list[int]:
    found: list[int] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("organisation_id") and isinstance(item, int):
                found.append(item)
            else:
                found.extend(_organisation_ids(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_organisation_ids(item))
    return found


def _leaks(world: World, response: httpx.Response) -> list[str]:
    text = response.text
    leaks = [word for word in SECRET_WORDS_FOR_MEMBER if word in text]
    if response.headers.get("content-type", "").startswith("application/json"):
        forbidden = {world.ids["PEER"], world.ids["HIDDEN"], world.ids["SIM"]}
        leaks += [f"organisation id {i}" for i in _organisation_ids(json.loads(text)) if i in forbidden]
    return leaks


def test_every_route_answers_every_role_as_the_matrix_says(
    app: FastAPI, engine: Engine, world: World
) -> None:
    problems: list[str] = []
    leaks: list[str] = []
    for case in CASES:
        for role in ROLES:
            params = case.setup(world, engine)
            path = case.path.format(**params)
            client, headers = _client(app, engine, world, role)
            with client:
                response = _send(client, case, path, headers)
            if (problem := _outcome_problem(case, role, response)) is not None:
                problems.append(problem)
            if role.startswith("member"):
                leaks += [f"{case.method} {path} as {role}: {leak}" for leak in _leaks(world, response)]
    assert not problems, "\n".join(problems)
    assert not leaks, "member saw what they may not:\n" + "\n".join(leaks)


def test_the_member_sees_the_peer_only_under_a_pseudonym(app: FastAPI, engine: Engine, world: World) -> None:
    client, _ = _client(app, engine, world, "member")
    with client:
        portfolio = client.get("/api/v1/portfolio").json()
        labels = {row["label"]: row for row in portfolio["organisations"]}
        assert set(labels) == {"Alpha Own Trust", "Peer 1"}
        peer = labels["Peer 1"]
        assert (peer["organisation_id"], peer["code"], peer["type"], peer["region"], peer["url"]) == (
            None,
        ) * 5
        assert not portfolio["filters_available"] and portfolio["types"] == []
        indicator = client.get("/api/v1/indicators/perf").json()
        assert {row["label"] for row in indicator["organisations"]} == {"Alpha Own Trust", "Peer 1"}
        # Filters that could single out a peer by type or region are ignored for members.
        filtered = client.get("/api/v1/portfolio", params={"region": "South"}).json()
        assert {row["label"] for row in filtered["organisations"]} == {"Alpha Own Trust", "Peer 1"}


def test_the_analyst_sees_every_organisation_by_name(app: FastAPI, engine: Engine, world: World) -> None:
    client, _ = _client(app, engine, world, "analyst")
    with client:
        portfolio = client.get("/api/v1/portfolio").json()
        names = {row["label"] for row in portfolio["organisations"]}
        assert names == {
            "Alpha Own Trust",
            "Bravo Peer Trust",
            "Charlie Hidden Trust",
            "Delta Simulated Trust",
        }
        simulated = {row["label"]: row["simulated"] for row in portfolio["organisations"]}
        assert simulated["Delta Simulated Trust"] and not simulated["Alpha Own Trust"]
        south = client.get("/api/v1/portfolio", params={"region": "South"}).json()
        assert [row["label"] for row in south["organisations"]] == ["Bravo Peer Trust"]


def test_upload_fixture_is_well_formed() -> None:
    # The matrix posts this pair; it must be a real (if faulty) upload, so a 422 means "validated, refused".
    assert io.BytesIO(BAD_CSV[1]).read().startswith(b"period")
