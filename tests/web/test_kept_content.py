"""An organisation page's content is rendered once and kept (issue 16: the page within 3x of the framework's
floor): the same bytes for every viewer who may open it, rendered again when the data change, and never from
anything that depends on who is looking."""

from __future__ import annotations

import jinja2
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, insert

from forewarn.store.models import Organisation
from forewarn.web import rendering
from forewarn.web.rendering import render_block
from tests.web.conftest import SignedIn
from tests.web.world import World


def test_the_content_is_rendered_once_for_every_viewer_and_again_when_the_data_change(
    app: FastAPI, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    real = rendering.render_block

    def counting(env: jinja2.Environment, template: str, block: str, context: dict[str, object]) -> object:
        rendered.append(template)
        return real(env, template, block, context)

    monkeypatch.setattr("forewarn.web.routes.organisations.render_block", counting)
    path = f"/organisations/{world.ids['OWN']}"
    member, analyst = (
        SignedIn(app, engine, world.users["member"]),
        SignedIn(app, engine, world.users["analyst"]),
    )
    pages = [member.client.get(path), analyst.client.get(path), member.client.get(path)]
    assert [p.status_code for p in pages] == [200, 200, 200] and len(rendered) == 1
    body = [p.text.split("<main", 1)[1].split("</main>", 1)[0] for p in pages]
    assert body[0] == body[1] == body[2]  # the content; the frame (name, CSRF token) is each viewer's own
    assert world.emails["member"] not in pages[1].text
    with engine.begin() as conn:  # any change to the data renders the content again
        conn.execute(insert(Organisation).values(code="NEW1", name="New Trust"))
    assert member.client.get(path).status_code == 200 and len(rendered) == 2


def test_a_block_that_needs_the_viewer_cannot_be_rendered_alone() -> None:
    env = jinja2.Environment(
        loader=jinja2.DictLoader(
            {
                "_macros.html": "{% macro bold(x) %}<b>{{ x }}</b>{% endmacro %}",
                "base.html": "{% block content %}{% endblock %}",
                "shared.html": '{% extends "base.html" %}{% block content %}{{ bold(view) }}{% endblock %}',
                "personal.html": '{% extends "base.html" %}{% block content %}{{ principal.email }}{% endblock %}',
            }
        ),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
    )
    assert render_block(env, "shared.html", "content", {"view": "<x>"}) == "<b>&lt;x&gt;</b>"
    with pytest.raises(jinja2.UndefinedError, match="principal"):
        render_block(env, "personal.html", "content", {"view": "v"})


def test_a_portfolio_page_is_kept_per_set_of_organisations_seen_and_follows_the_data(
    app: FastAPI, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    rendered: list[str] = []
    real = rendering.render_block

    def counting(env: jinja2.Environment, template: str, block: str, context: dict[str, object]) -> object:
        rendered.append(template)
        return real(env, template, block, context)

    monkeypatch.setattr("forewarn.web.routes.portfolio.render_block", counting)
    admin, analyst, member = (SignedIn(app, engine, world.users[r]) for r in ("admin", "analyst", "member"))
    staff = [admin.client.get("/portfolio"), analyst.client.get("/portfolio")]
    assert [p.status_code for p in staff] == [200, 200] and len(rendered) == 1  # every analyst sees the same
    own = member.client.get("/portfolio")
    assert own.status_code == 200 and len(rendered) == 2  # a member sees other rows: rendered for them
    assert "Alpha Own Trust" in own.text and "Bravo Peer Trust" not in own.text  # the peer under a pseudonym
    assert "Bravo Peer Trust" in staff[0].text
    # A filter, a page or the results alone (htmx) are other content.
    analyst.client.get("/portfolio", params={"region": "South"})
    analyst.client.get("/portfolio", headers={"HX-Request": "true", "HX-Target": "portfolio-results"})
    assert len(rendered) == 4
    with engine.begin() as conn:  # a change to the data renders it again
        conn.execute(insert(Organisation).values(code="NEW1", name="New Trust"))
    again = analyst.client.get("/portfolio")
    assert len(rendered) == 5 and "New Trust" in again.text
