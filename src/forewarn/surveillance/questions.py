"""Which question each surveillance method answers: written once, shown in the scan's output and on pages."""

from __future__ import annotations

METHOD_QUESTIONS: dict[str, str] = {
    "spc": "Has this organisation's own process changed?",
    "funnel": "Is it different from the others, beyond chance and their usual spread?",
    "cusum": "Has it got worse than its own baseline?",
    "ranks": "Where does it stand, and how sure is that?",
    "trend": "Is it rising or falling beyond year-to-year noise?",
}
