"""The psychometrics package re-exports every family module's API unchanged (see test_reliability.py and
test_agreement.py for the checks against R psych and multilevel)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import numpy as np

from forewarn.stats import psychometrics


def _families() -> list[ModuleType]:
    return [
        importlib.import_module(f"{psychometrics.__name__}.{info.name}")
        for info in pkgutil.iter_modules(psychometrics.__path__)
    ]


def test_facade_exports_exactly_the_objects_of_the_family_modules() -> None:
    exported = set(psychometrics.__all__)
    for module in _families():
        for name in module.__all__:
            assert name in exported, f"{module.__name__}.{name}"
            assert getattr(psychometrics, name) is getattr(module, name), name
    assert exported == {name for module in _families() for name in module.__all__}


def test_every_public_function_of_a_family_is_exported_or_shared_within_the_package() -> None:
    """A function without an underscore is either in its module's ``__all__`` (the API) or used by a sibling
    module (the package's own plumbing, e.g. per-group moments)."""
    sources = {module: module.__file__ or "" for module in _families()}
    for module in sources:
        for name, value in vars(module).items():
            if (
                name.startswith("_")
                or not callable(value)
                or getattr(value, "__module__", None) != module.__name__
            ):
                continue
            if name in module.__all__:
                continue
            users = [m for m in sources if m is not module and name in vars(m)]
            assert users, f"{module.__name__}.{name} is neither exported nor used by a sibling"


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
