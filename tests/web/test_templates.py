"""Templates import their macros without the page's context.

``{% from ... import ... with context %}`` builds a new macro module bound to each render's context: a reference
cycle that keeps the whole page (every chart, every row) alive until the cycle collector runs, which made young
collections take tens of milliseconds under load (see docs/web.md). Macros take what they need as arguments.
"""

from __future__ import annotations

import gc

from forewarn.web.rendering import TEMPLATES_DIR, build_environment


def test_no_template_imports_macros_with_context() -> None:
    offenders = [
        p.name for p in TEMPLATES_DIR.glob("*.html") if "with context" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_rendering_a_page_leaves_no_cyclic_garbage() -> None:
    template = build_environment(auto_reload=False).get_template("sign_in.html")
    context = {
        "request": None,
        "principal": None,
        "csrf_token": "token",
        "navigation": [],
        "notice": None,
        "can": lambda permission: False,
        "errors": {"email": "Enter your email address"},
        "values": {"email": "someone@example.org"},
        "issued": None,
        "charts": False,
        "title": "Sign in",
        "next": "/portfolio",
    }
    template.render(context)  # the first render compiles and caches; measure the second
    gc.collect()
    gc.disable()
    try:
        html = template.render(context)
        assert 'value="token"' in html
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_pages_show_values_and_codes_by_the_one_set_of_display_rules() -> None:
    """Each label and format rule is written once (forewarn.charts.display) and templates use it as a filter;
    no template spells out labels of kinds of its own."""
    from forewarn.charts import display

    filters = build_environment(auto_reload=False).filters
    assert filters["number"] is display.number_text
    assert filters["measure"] is display.measure_text
    assert filters["compared"] is display.compared_text
    assert filters["event_label"] is display.event_label
    assert filters["grade_label"] is display.grade_label
    assert filters["kind_label"] is display.kind_label
    texts = {p.name: p.read_text(encoding="utf-8") for p in TEMPLATES_DIR.glob("*.html")}
    assert (
        "e.kind|event_label" in texts["organisation.html"]
        and "e.grade|grade_label" in texts["organisation.html"]
    )
    for name, text in texts.items():
        assert "kind|humanise" not in text, name
