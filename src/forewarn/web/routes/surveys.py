"""Surveys: waves, tokens, the respondent's form and results (filled in as the survey service lands)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
