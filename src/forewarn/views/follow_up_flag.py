"""The follow-up flag a watchlist row carries (:mod:`forewarn.views.follow_up` fills it): kept apart so that the
risk and portfolio views can name it without importing the cases service."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from forewarn.views.model import Model


class FollowUpFlagOut(Model):
    case_id: int
    case_url: str
    withdrawal: dt.date = Field(description="When the intervention was withdrawn")
    alarm_month: dt.date = Field(description="The month the relapse alarm first sounded")
    signal: str = Field(description="Which chart signalled: cusum or shift")
    text: str = Field(description="The flag as the pages show it")
