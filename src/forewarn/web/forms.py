"""What each HTML form sends, as models for ``Annotated[SomeForm, Form()]``.

Every field is optional text (a missing field reads as ""), so a half-filled form reaches its route, which
re-renders the page with the GOV.UK error summary: the route, not the model, says what is missing or wrong.
Text fields are stripped as typed; passwords are taken exactly as typed.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class FormModel(BaseModel):
    """A form's fields; others (the CSRF token) are ignored."""


def codes(text: str) -> list[str]:
    """Organisation codes typed one a line or separated by commas."""
    return [c.strip() for c in text.replace(",", "\n").splitlines() if c.strip()]


class SignInForm(FormModel):
    email: Text = ""
    password: str = ""
    next: Text = ""


class CodeForm(FormModel):
    code: Text = ""
    next: Text = ""


class TokenForm(FormModel):
    name: Text = ""


class PasswordChangeForm(FormModel):
    current_password: str = ""
    new_password: str = ""


class PasswordConfirmForm(FormModel):
    password: str = ""
    next: Text = ""


class JobForm(FormModel):
    kind: Text = ""


class NewUserForm(FormModel):
    email: Text = ""
    display_name: Text = ""
    role: Text = ""
    organisation_code: Text = ""
    password: str = ""


class UserChangeForm(FormModel):
    role: Text = ""
    organisation_code: Text = ""
    is_active: Text = ""


class PasswordResetForm(FormModel):
    password: str = ""


class GrantForm(FormModel):
    organisation_code: Text = ""
    peer_codes: Text = ""


class WaveForm(FormModel):
    name: Text = ""
    organisation_codes: Text = ""
    instrument: Text = ""


class TokensForm(FormModel):
    per_organisation: Text = ""


class SurveyStepForm(FormModel):
    """One step of the respondent's form: where to go next, and every answer so far as ``a_<item code>``."""

    model_config = ConfigDict(extra="allow")

    goto: Text = ""
    part: Text = ""

    def answer(self, item_code: str) -> str:
        value = (self.model_extra or {}).get(f"a_{item_code}")
        return value.strip() if isinstance(value, str) else ""
