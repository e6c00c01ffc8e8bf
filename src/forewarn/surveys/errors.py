"""What the survey service refuses, each with a message fit to show the person who asked."""

from __future__ import annotations

from typing import Literal

TokenProblem = Literal["malformed", "unknown", "used", "not_open", "closed"]


class SurveyError(Exception):
    """A request the survey service refuses; the message says why and, where it can, what to do instead."""


class WaveNotFoundError(SurveyError):
    """No wave has this name or id."""


class WaveStateError(SurveyError):
    """The wave is in the wrong state for this (for example, answers for a wave that is closed)."""


class TokenRejectedError(SurveyError):
    """A token that cannot be used; ``reason`` says which of the refusals it was."""

    def __init__(self, reason: TokenProblem, message: str) -> None:
        super().__init__(message)
        self.reason: TokenProblem = reason


class AnswersRejectedError(SurveyError):
    """Answers that do not fit the instrument; ``problems`` lists every one (item, value, what is wrong)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class DisclosureRefusedError(SurveyError):
    """A query whose answer could reveal a group smaller than the minimum size, directly or by subtraction."""
