"""A small store for the web tests: three organisations with names that must never leak, two indicators,
two years of monthly data, events, a baseline reset, and the surveillance scan over it all.

- ``OWN`` (Alpha Own Trust): the member's organisation.
- ``PEER`` (Bravo Peer Trust): granted to the member's organisation, so seen only under a pseudonym.
- ``HIDDEN`` (Charlie Hidden Trust): not granted; a member must never see anything of it.
- ``SIM`` (Delta Simulated Trust): in a SIMULATED dataset.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, insert, select

from forewarn.access.policy import grant_peers
from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.users import create_user
from forewarn.store.models import Dataset, Event, ImportBatch, Indicator, Observation, Organisation
from forewarn.store.models_surveillance import SpcBaseline
from forewarn.store.models_web import Role

CHEAP_ARGON2 = Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery staple"
ORGANISATIONS = {
    "OWN": ("OWN1", "Alpha Own Trust", "Acute trust", "North"),
    "PEER": ("PEER1", "Bravo Peer Trust", "Acute trust", "South"),
    "HIDDEN": ("HIDE1", "Charlie Hidden Trust", "Community trust", "East"),
    "SIM": ("SIM1", "Delta Simulated Trust", "Acute trust", "West"),
}
SECRET_WORDS_FOR_MEMBER = ("Bravo Peer", "PEER1", "Charlie Hidden", "HIDE1", "Delta Simulated", "SIM1")


@dataclass(frozen=True)
class World:
    ids: dict[str, int]
    users: dict[str, int]
    emails: dict[str, str]
    indicator_codes: tuple[str, ...]
    waves: dict[str, int]
    tokens: dict[str, str]


def months(n: int) -> list[dt.date]:
    return [dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(n)]


def build_world(engine: Engine, *, scan: bool = True) -> World:
    rng = np.random.default_rng(7)
    periods = months(24)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        real = conn.execute(
            insert(Dataset).values(code="testdata", name="Test data", simulated=False).returning(Dataset.id)
        ).scalar_one()
        simulated = conn.execute(
            insert(Dataset)
            .values(code="simdata", name="Simulated data", simulated=True)
            .returning(Dataset.id)
        ).scalar_one()
        batch = conn.execute(
            insert(ImportBatch)
            .values(
                source_name="world",
                checksum="0" * 64,
                mapping_checksum="0" * 64,
                dataset_id=real,
                imported_by="tests",
                started_at=now,
                finished_at=now,
            )
            .returning(ImportBatch.id)
        ).scalar_one()
        ids = {}
        for key, (code, name, kind, region) in ORGANISATIONS.items():
            ids[key] = conn.execute(
                insert(Organisation)
                .values(
                    code=code,
                    name=name,
                    type=kind,
                    region=region,
                    dataset_id=simulated if key == "SIM" else real,
                )
                .returning(Organisation.id)
            ).scalar_one()
        perf = conn.execute(
            insert(Indicator)
            .values(
                code="perf",
                name="Seen within four hours",
                unit="proportion",
                kind="proportion",
                polarity="higher_is_better",
                target=0.95,
                multiplier=1.0,
                dataset_id=real,
            )
            .returning(Indicator.id)
        ).scalar_one()
        falls = conn.execute(
            insert(Indicator)
            .values(
                code="falls",
                name="Falls per 1,000 bed days",
                unit="rate",
                kind="rate",
                polarity="lower_is_better",
                multiplier=1000.0,
                dataset_id=real,
            )
            .returning(Indicator.id)
        ).scalar_one()
        rows = []
        for key, org_id in ids.items():
            level = {"OWN": 0.80, "PEER": 0.90, "HIDDEN": 0.92, "SIM": 0.85}[key]
            for t, period in enumerate(periods):
                denominator = float(rng.integers(4000, 6000))
                drift = -0.004 * t if key == "OWN" else 0.0  # the member's own trust deteriorates
                numerator = float(
                    np.clip(round(denominator * (level + drift + rng.normal(0, 0.01))), 0, denominator)
                )
                end = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
                rows.append(
                    {
                        "organisation_id": org_id,
                        "indicator_id": perf,
                        "period_start": period,
                        "period_end": end,
                        "numerator": numerator,
                        "denominator": denominator,
                        "value": numerator / denominator,
                        "batch_id": batch,
                        "revision": 1,
                    }
                )
                beds = float(rng.integers(9000, 11000))
                events = float(rng.poisson(beds * 0.004 * (1.8 if key == "HIDDEN" else 1.0)))
                rows.append(
                    {
                        "organisation_id": org_id,
                        "indicator_id": falls,
                        "period_start": period,
                        "period_end": end,
                        "numerator": events,
                        "denominator": beds,
                        "value": events / beds * 1000,
                        "batch_id": batch,
                        "revision": 1,
                    }
                )
        conn.execute(insert(Observation), rows)
        conn.execute(
            insert(Event),
            [
                {
                    "organisation_id": ids["OWN"],
                    "date": dt.date(2021, 3, 10),
                    "kind": "inspection",
                    "grade": "Requires improvement",
                    "detail": "Own inspection",
                },
                {
                    "organisation_id": ids["HIDDEN"],
                    "date": dt.date(2021, 5, 1),
                    "kind": "inspection",
                    "grade": "Inadequate",
                    "detail": "Charlie Hidden inspection",
                },
            ],
        )
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=ids["OWN"],
                indicator_id=perf,
                rebase_from=dt.date(2021, 1, 1),
                reason="New triage model",
                created_by="tests",
                created_at=now,
            )
        )
        passwords = Passwords(CHEAP_ARGON2)
        emails = {
            "admin": "admin@test.forewarn",
            "analyst": "analyst@test.forewarn",
            "member": "member@test.forewarn",
            "other_member": "other@test.forewarn",
        }
        users = {
            role: create_user(
                conn,
                passwords,
                email=emails[role],
                display_name=f"Test {role}",
                password=PASSWORD,
                role={"admin": Role.ADMIN, "analyst": Role.ANALYST}.get(role, Role.MEMBER),
                organisation_id=ids["OWN"]
                if role == "member"
                else ids["HIDDEN"]
                if role == "other_member"
                else None,
            )
            for role in emails
        }
        grant_peers(conn, ids["OWN"], [ids["PEER"]], granted_by="tests")
        assert conn.execute(select(Organisation.id)).first() is not None
    if scan:
        from forewarn.surveillance.scan import run_scan

        run_scan(engine)
    waves, tokens = build_surveys(engine)
    return World(
        ids=ids, users=users, emails=emails, indicator_codes=("perf", "falls"), waves=waves, tokens=tokens
    )


def _answers(instrument_items: tuple[str, ...], level: int, rng: np.random.Generator) -> dict[str, int]:
    return {code: int(np.clip(level + rng.integers(-1, 2), 1, 5)) for code in instrument_items}


def build_surveys(engine: Engine) -> tuple[dict[str, int], dict[str, str]]:
    """A closed wave with results (the hidden trust's cell published, for analysts only), an open wave with a
    fresh and a used token, a draft wave, and a wave of the hidden trust alone."""
    from forewarn.surveys.responses import submit_with_token
    from forewarn.surveys.tokens import issue_tokens
    from forewarn.surveys.waves import close_wave, create_wave, open_wave, wave_instrument

    rng = np.random.default_rng(11)
    closed = create_wave(engine, "Closed wave", ["OWN1", "PEER1", "HIDE1"], created_by="tests", floor=5)
    open_wave(engine, closed.id, by="tests", floor=5)
    with engine.connect() as conn:
        items = wave_instrument(conn, closed.id).item_codes
    issued = issue_tokens(engine, closed.id, 6)
    for code, level in (("OWN1", 3), ("PEER1", 4), ("HIDE1", 2)):
        for token in issued[code]:
            submit_with_token(engine, token, _answers(items, level, rng))
    close_wave(engine, closed.id, by="tests", floor=5)
    current = create_wave(engine, "Open wave", ["OWN1", "HIDE1"], created_by="tests", floor=5)
    open_wave(engine, current.id, by="tests", floor=5)
    fresh = issue_tokens(engine, current.id, 2, ["OWN1"])["OWN1"]
    submit_with_token(engine, fresh[1], _answers(items, 3, rng))
    draft = create_wave(engine, "Draft wave", ["OWN1"], created_by="tests", floor=5)
    draft_token = issue_tokens(engine, draft.id, 1)["OWN1"][0]
    hidden = create_wave(engine, "Hidden wave", ["HIDE1"], created_by="tests", floor=5)
    waves = {"closed": closed.id, "open": current.id, "draft": draft.id, "hidden": hidden.id}
    return waves, {"fresh": fresh[0], "used": fresh[1], "draft": draft_token}
