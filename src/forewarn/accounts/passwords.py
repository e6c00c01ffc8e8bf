"""Password hashing with Argon2id (pwdlib), a dummy hash so that timing does not reveal which accounts exist,
and the rule a new password must meet.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

MIN_PASSWORD_LENGTH = 12
"""NCSC and NIST SP 800-63B: length, not composition rules, makes a password hard to guess."""
MAX_PASSWORD_LENGTH = 256
"""Bounds the work one sign-in request can ask of the server."""

# A few passwords that meet the length rule yet are among the first any attacker tries.
_COMMON_LONG_PASSWORDS = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiop12",
        "passwordpassword",
        "administrator",
        "letmeinletmein",
        "changemechangeme",
    }
)


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


def password_problems(password: str, email: str | None = None) -> list[str]:
    """What is wrong with a new password, worded for the person choosing it (empty when it is fine)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Password must be {MIN_PASSWORD_LENGTH} characters or more")
    elif len(password) > MAX_PASSWORD_LENGTH:
        problems.append(f"Password must be {MAX_PASSWORD_LENGTH} characters or fewer")
    elif password.lower() in _COMMON_LONG_PASSWORDS or len(set(password)) < 4:
        problems.append("Password is too easy to guess: use three or more random words")
    elif email and password.lower() == email.lower():
        problems.append("Password must not be your email address")
    return problems
