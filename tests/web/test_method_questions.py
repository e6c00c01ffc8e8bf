"""Each method's answer reads as the question it answers: current CUSUM alarms apart from earlier ones, a
trend for series too short for SPC, and the question under each heading (forewarn.surveillance.questions)."""

from __future__ import annotations

from types import SimpleNamespace

from markupsafe import escape

from forewarn.surveillance.questions import METHOD_QUESTIONS
from forewarn.web.rendering import build_environment


def _render(macro: str, **state: object) -> str:
    env = build_environment(auto_reload=False)
    module = env.get_template("_macros.html").module
    fields = {
        "cusum_alarms": None,
        "cusum_current": None,
        "cusum_value": None,
        "cusum_last_alarm": None,
        "spc_variation": None,
        "trend_slope": None,
        "trend_p": None,
    }
    fields.update(state)
    return str(getattr(module, macro)(SimpleNamespace(**fields)))


def test_a_current_alarm_is_told_apart_from_earlier_ones() -> None:
    assert "Current alarm" in _render("cusum_cell", cusum_alarms=2, cusum_current=True)
    assert _render("cusum_cell", cusum_alarms=2, cusum_current=False) == "No current alarm (2 earlier)"
    assert _render("cusum_cell", cusum_alarms=0, cusum_current=False) == "No alarm"


def test_short_series_read_as_a_trend_never_common_cause() -> None:
    text = _render("variation_text", trend_slope=-0.42, trend_p=0.003)
    assert (
        "Too few points for SPC. Trend -0.42 a year" in text and "falling beyond year-to-year noise" in text
    )
    assert "no clear trend" in _render("variation_text", trend_slope=0.1, trend_p=0.4)
    assert "Common cause" not in text
    assert "Not assessed" in _render("variation_text")


def test_every_method_states_its_question() -> None:
    env = build_environment(auto_reload=False)
    module = env.get_template("_macros.html").module
    for method, question in METHOD_QUESTIONS.items():
        assert escape(question) in str(module.question(method))
