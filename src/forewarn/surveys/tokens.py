"""Single-use anonymous tokens: shown once when issued, stored only as a SHA-256 hash.

A token is 120 random bits written as 24 base-32 characters in groups of four (``ABCD-EFGH-...``), easy to
read aloud or type from paper. Hashes need no salt: with 120 bits of entropy there is nothing to guess.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, insert, select

from forewarn.store.database import transaction
from forewarn.store.models_surveys import SurveyToken
from forewarn.surveys.errors import SurveyError, TokenRejectedError, WaveStateError
from forewarn.surveys.waves import WaveRef, organisation_ids, wave_organisations, wave_state

TOKEN_BYTES = 15
TOKEN_CHARS = 24
MAX_TOKENS_PER_ORGANISATION = 100_000
_TOKEN_PATTERN = re.compile(r"^[A-Z2-7]{24}$")


def new_token() -> str:
    """A fresh random token, grouped in fours for reading."""
    text = base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, TOKEN_CHARS, 4))


def normalise_token(text: str) -> str:
    """The token's canonical form: upper case, without the dashes and spaces people add or drop when copying.

    Raises :class:`TokenRejectedError` when what is left cannot be a token.
    """
    canonical = re.sub(r"[\s-]", "", text).upper()
    if not _TOKEN_PATTERN.match(canonical):
        raise TokenRejectedError(
            "malformed",
            "this is not a survey token: a token has 24 letters and digits; check it was copied whole",
        )
    return canonical


def token_hash(text: str) -> str:
    """SHA-256 (hex) of the normalised token: the only form in which a token is stored."""
    return hashlib.sha256(normalise_token(text).encode("ascii")).hexdigest()


def issue_tokens(
    db: Engine | Connection,
    wave: WaveRef,
    per_organisation: int,
    organisations: Sequence[str] | None = None,
) -> dict[str, list[str]]:
    """Issue ``per_organisation`` new single-use tokens for each organisation of a draft or open wave.

    Returns organisation code -> token texts. This is the only time the texts exist: only their hashes are
    stored, so print or hand them out now. ``organisations`` limits issuing to some of the wave's organisations.
    Given a connection, the tokens are written in the caller's transaction.
    """
    if not 1 <= per_organisation <= MAX_TOKENS_PER_ORGANISATION:
        raise SurveyError(f"tokens per organisation must be between 1 and {MAX_TOKENS_PER_ORGANISATION:,}")
    with transaction(db) as conn:
        found = wave_state(conn, wave)
        wave_id = found.id
        if found.status == "closed":
            raise WaveStateError(f"wave {wave!r} is closed; no more tokens can be issued for it")
        members = wave_organisations(conn, wave_id)
        chosen = list(members) if organisations is None else list(organisations)
        outside = [c for c in chosen if c not in members]
        if outside:
            raise SurveyError(f"organisation(s) not in wave {found.name!r}: {', '.join(outside)}")
        ids = organisation_ids(conn, chosen)
        issued = {code: [new_token() for _ in range(per_organisation)] for code in ids}
        conn.execute(
            insert(SurveyToken),
            [
                {
                    "token_hash": token_hash(text),
                    "wave_id": wave_id,
                    "organisation_id": ids[code],
                    "used": False,
                }
                for code, texts in issued.items()
                for text in texts
            ],
        )
    return issued


@dataclass(frozen=True)
class TokenState:
    """Which wave a survey token belongs to and whether it was used: all a respondent's form needs to start.

    Read by the token's hash only; nothing links a token to the answers given with it.
    """

    wave_id: int
    used: bool


def token_state(conn: Connection, hashed: str) -> TokenState | None:
    """The state of the token with this hash (see :func:`token_hash`), or None when no such token exists."""
    row = conn.execute(
        select(SurveyToken.wave_id, SurveyToken.used).where(SurveyToken.token_hash == hashed)
    ).first()
    return None if row is None else TokenState(int(row.wave_id), bool(row.used))
