"""The psychometrics facade re-exports the reliability and agreement APIs unchanged (see test_reliability.py and
test_agreement.py for the checks against R psych and multilevel)."""

from __future__ import annotations

import numpy as np

from forewarn.stats import agreement, psychometrics, reliability


def test_facade_exports_exactly_the_objects_of_the_two_modules() -> None:
    for name in psychometrics.__all__:
        exported = getattr(psychometrics, name)
        source = agreement if hasattr(agreement, name) and name not in vars(reliability) else reliability
        assert exported is getattr(source, name), name


def test_facade_covers_every_public_function_of_the_two_modules() -> None:
    for module in (reliability, agreement):
        public = {
            name
            for name, value in vars(module).items()
            if not name.startswith("_")
            and callable(value)
            and getattr(value, "__module__", None) == module.__name__
            and name not in {"as_group_ids", "as_response_matrix"}
        }
        assert public <= set(psychometrics.__all__), public - set(psychometrics.__all__)


def test_facade_end_to_end_on_a_small_survey() -> None:
    """Scores, alpha and the aggregation report through the facade, with the formulas checked by hand."""
    spec = psychometrics.ScaleSpec((0, 0, 0), (False, True, False), 1, 5, (2,))
    answers = np.array([[4, 2, 5], [5, 1, 4], [4, 2, 4], [2, 4, 1], [1, 5, 2], [2, 4, 2]], dtype=float)
    groups = np.array([0, 0, 0, 1, 1, 1])
    scores = psychometrics.score_scales(answers, spec)
    keyed = answers.copy()
    keyed[:, 1] = 6 - keyed[:, 1]
    np.testing.assert_allclose(scores.score[:, 0], keyed.mean(axis=1))
    alpha = psychometrics.scale_reliability(keyed).raw_alpha[0]
    expected = 1.5 * (1 - keyed.var(axis=0, ddof=1).sum() / keyed.sum(axis=1).var(ddof=1))
    assert abs(alpha - expected) < 1e-12
    options = psychometrics.AggregationOptions(
        min_respondents=3, resampling=psychometrics.RandomGroupOptions(0)
    )
    report = psychometrics.aggregation_report(answers, spec, groups, options=options)
    np.testing.assert_allclose(report.mean[0], [keyed[:3].mean(), keyed[3:].mean()])
    assert report.n[0].tolist() == [3, 3]
