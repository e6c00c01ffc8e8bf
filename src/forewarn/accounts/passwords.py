"""Password hashing with Argon2id (pwdlib), a dummy hash so that timing does not reveal which accounts exist,
and the rule a new password must meet.
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 12
"""NCSC and NIST SP 800-63B: length, not composition rules, makes a password hard to guess."""
MAX_PASSWORD_LENGTH = 256
"""Bounds the work one sign-in request can ask of the server."""

MIN_STRENGTH = 3
"""zxcvbn's score (0-4) a new password must reach: 3 is "safely unguessable" (about 10^8 guesses or more)."""
_STRENGTH_CHECKED_LENGTH = 100
"""zxcvbn's matching grows faster than linearly with length; like its JavaScript original, judge the first 100."""
_LEET = str.maketrans(
    {"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"}
)
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@functools.cache
def _common_passwords() -> frozenset[str]:
    """The 30,000 passwords seen most often in published breaches, as shipped in zxcvbn's frequency lists
    (``zxcvbn.frequency_lists``, from leaked password corpora); loaded once, on first use."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])


def is_common_password(password: str) -> bool:
    """Whether a password is a breached password, or one with digits, symbols or look-alike letters put round
    one (``Password123!``, ``P@ssw0rd2024``, ``qwerty123456``)."""
    lowered = password.lower()
    common = _common_passwords()
    if lowered in common:
        return True
    core = _EDGE.sub("", lowered)
    return len(core) >= 4 and (
        core in common or core.translate(_LEET) in common or _EDGE.sub("", lowered.translate(_LEET)) in common
    )


def _personal_words(email: str | None, name: str | None) -> list[str]:
    """What zxcvbn should treat as easy to guess for this person: email, its parts, their name."""
    words: list[str] = ["forewarn"]
    for text in (email or "", name or ""):
        text = text.lower().strip()
        if not text:
            continue
        local = text.split("@", 1)[0]
        parts = [p for p in re.split(r"[^a-z0-9]+", text) if len(p) >= 3]
        words += [text, local, re.sub(r"[^a-z]", "", local), *parts]
    return list(dict.fromkeys(w for w in words if w))


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id cost. The defaults are pwdlib's (64 MiB, 3 passes, 4 lanes); tests use cheaper ones.

    A stored hash made with other parameters is rehashed with these at the next successful sign-in.
    """

    time_cost: int = 3
    memory_cost: int = 65536
    parallelism: int = 4

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.memory_cost < 8 * self.parallelism or self.parallelism < 1:
            raise ValueError(
                "Argon2 needs time_cost >= 1, parallelism >= 1 and memory_cost >= 8 x parallelism (KiB), "
                f"got {self}"
            )


class Passwords:
    """Hash and check passwords. Built once per application (the dummy hash costs one Argon2 run)."""

    def __init__(self, parameters: Argon2Parameters | None = None) -> None:
        p = parameters or Argon2Parameters()
        self.parameters = p
        self._hasher = PasswordHash(
            (Argon2Hasher(time_cost=p.time_cost, memory_cost=p.memory_cost, parallelism=p.parallelism),)
        )
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(24))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        """Whether ``password`` matches; and a new hash when the stored one used other parameters.

        With no stored hash (no such account, or a disabled one) the dummy hash is checked instead, so the
        answer takes as long as for a real account.
        """
        if stored_hash is None:
            self._hasher.verify_and_update(password, self._dummy_hash)
            return False, None
        try:
            return self._hasher.verify_and_update(password, stored_hash)
        except Exception:  # an unreadable stored hash is a failed check, not a crash
            self._hasher.verify_and_update(password, self._dummy_hash)
            return False, None


def password_problems(password: str, email: str | None = None, name: str | None = None) -> list[str]:
    """What is wrong with a new password, worded for the person choosing it (empty when it is fine).

    Length first (NCSC, NIST SP 800-63B), then a list of breached passwords, then zxcvbn's estimate of how
    many guesses it would take, with the person's email and name counted as easy guesses.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"Password must be {MIN_PASSWORD_LENGTH} characters or more"]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"Password must be {MAX_PASSWORD_LENGTH} characters or fewer"]
    if email and password.strip().lower() == email.strip().lower():
        return ["Password must not be your email address"]
    if is_common_password(password):
        return [
            "Password is too common: it is on a list of passwords exposed in data breaches. "
            "Use three or more random words"
        ]
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # loads its word lists: import when needed

    result = zxcvbn(password[:_STRENGTH_CHECKED_LENGTH], user_inputs=_personal_words(email, name))
    if int(result["score"]) < MIN_STRENGTH:
        warning = str(result["feedback"].get("warning") or "").rstrip(".")
        reason = f" ({warning[:1].lower()}{warning[1:]})" if warning else ""
        return [f"Password is too easy to guess{reason}: use three or more random words"]
    return []
