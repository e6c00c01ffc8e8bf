"""One settings class for the whole of Forewarn, read from ``FOREWARN_*`` environment variables.

Every field here is documented in ``docs/settings.md``; a test fails when one is not. Each default is written
here once: classes that offer the same default read it with :func:`default`. Only the entry points (the web app
factory's callers and the commands) call :func:`get_settings`; everything below them is given settings or values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Forewarn's settings: environment variables with the prefix ``FOREWARN_`` (or a ``.env`` file)."""

    model_config = SettingsConfigDict(env_prefix="FOREWARN_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        "development", description="Where Forewarn runs; production refuses the development secret."
    )
    data_dir: Path = Field(
        Path("var"), description="Directory for the embedded SQLite database, exports and simulated data."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the store; unset means a SQLite file `forewarn.db` under `data_dir`. "
        "Use postgresql+psycopg://user@host:port/db for the server store.",
    )
    min_group_size: int = Field(
        5,
        ge=2,
        description="Smallest group of survey respondents shown in any output; smaller groups are suppressed.",
    )
    secret_key: str = Field(
        DEVELOPMENT_SECRET,
        description="Secret for signing session and CSRF tokens. Must be set in production.",
    )
    host: str = Field("127.0.0.1", description="Address the web app listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port the web app listens on.")
    import_max_reported_errors: int = Field(
        1000,
        ge=1,
        description="How many validation problems an import report lists in full (all are counted).",
    )
    import_chunk_rows: int = Field(
        100_000,
        ge=1000,
        description="Rows written to the store per chunk during an import (progress granularity).",
    )
    import_max_file_mb: float = Field(
        200, gt=0, description="Largest file an import reads (MiB); larger files are refused before reading."
    )
    import_max_rows: int = Field(
        5_000_000, ge=1, description="Most data rows an import accepts from one file."
    )
    import_max_field_chars: int = Field(
        10_000,
        ge=64,
        description="Longest cell an import accepts (characters); columns stored in shorter fields are "
        "held to those (an organisation code to 64).",
    )
    import_max_line_kb: int = Field(
        1024,
        ge=1,
        description="Longest line of a CSV file (KiB); found by reading the file in blocks, before parsing.",
    )
    import_max_inflated_mb: float = Field(
        256,
        gt=0,
        description="Largest total uncompressed size of a workbook's zip members (xlsx, xlsm, ods), checked "
        "from the zip directory before the workbook is read (MiB).",
    )
    import_max_future_days: int = Field(
        366,
        ge=0,
        description="Periods and event dates starting more than this many days after today are refused.",
    )
    imported_by: str | None = Field(
        None, description="Name recorded on import batches; unset means the operating-system user."
    )
    secure_cookies: bool | None = Field(
        None,
        description="Send cookies only over HTTPS (Secure flag); unset means on in production, off otherwise.",
    )
    session_idle_minutes: int = Field(
        480, ge=1, description="A signed-in session ends after this many minutes without a request."
    )
    session_absolute_hours: int = Field(
        168, ge=1, description="A signed-in session ends this many hours after sign-in, however active."
    )
    signin_max_failures_per_account: int = Field(
        5,
        ge=1,
        description="Failed sign-ins per account (email typed) within the throttle window before each further "
        "attempt must wait (1 s, doubling per failure, up to FOREWARN_SIGNIN_MAX_DELAY_SECONDS).",
    )
    signin_max_failures_per_address: int = Field(
        50,
        ge=1,
        description="Failed sign-ins per client address within the throttle window before each further "
        "attempt must wait (as for an account).",
    )
    signin_throttle_minutes: int = Field(
        15, ge=1, description="Length of the window over which failed sign-ins are counted."
    )
    signin_max_delay_seconds: int = Field(
        60,
        ge=1,
        le=3600,
        description="Longest wait after failed sign-ins: nobody, the account's owner included, is kept out "
        "for longer.",
    )
    reauth_minutes: int = Field(
        15,
        ge=1,
        le=1440,
        description="Role, organisation and peer-access changes need the password entered (at sign-in or again) "
        "within this many minutes, in a browser session; an API token alone never suffices.",
    )
    max_upload_mb: int = Field(
        200, ge=1, description="Largest request body accepted, uploads included (MiB)."
    )
    audit_views: bool = Field(
        True, description="Record page and API views in the audit log (changes are always recorded)."
    )
    max_inflight: int = Field(
        64,
        ge=1,
        description="Requests one web process works on at once; more are refused at once with 503 and "
        "Retry-After (the health check is never refused).",
    )
    request_timeout_seconds: float = Field(
        30, gt=0, description="A request still unanswered after this many seconds gets 503 with Retry-After."
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="Seconds a refused client is asked to wait (the Retry-After header)."
    )
    hsts_seconds: int = Field(
        31_536_000,
        ge=0,
        description="Strict-Transport-Security max-age sent with every response when cookies are secure; "
        "0 sends none.",
    )
    forwarded_allow_ips: str | None = Field(
        None,
        description="Addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "trusted (comma-separated); unset trusts none.",
    )
    # Documents uploaded in the web app's library form (issue 13).
    library_max_file_mb: float = Field(
        10, gt=0, description="Largest PDF or DOCX document the library's web form accepts (MB)."
    )
    library_max_pages: int = Field(
        500, ge=1, description="Most pages of a PDF document the library's web form accepts."
    )
    worker_poll_seconds: float = Field(
        2.0, gt=0, description="How often an idle `forewarn worker` looks for queued jobs."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Logging level.")
    scheduler: str | None = Field(
        None,
        description="Address of a Dask scheduler (tcp://host:8786) that runs the scan's per-indicator "
        "partitions; `local:N` starts N worker processes on this machine for each scan; `pool:N` runs them in a "
        "local pool of N processes without Dask; unset scans in-process.",
    )
    # The digest's mail server (issue 13: forewarn digest send).
    smtp_host: str | None = Field(
        None, description="Mail server the digest is sent through; unset sends nothing."
    )
    smtp_port: int = Field(587, ge=1, le=65535, description="The mail server's port.")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        "starttls",
        description="starttls (upgrade the connection, usually port 587), ssl (TLS from the start, usually 465) "
        "or none (a relay on the same host only).",
    )
    smtp_username: str | None = Field(None, description="User name for the mail server; unset: no login.")
    smtp_password: SecretStr | None = Field(None, description="Password for the mail server.")
    smtp_from: str = Field("forewarn@localhost", description="The digest's From address.")
    digest_every: Literal["monthly", "weekly", "off"] = Field(
        "monthly",
        description="How often `forewarn worker` sends the digest (once per calendar month or ISO week, when "
        "FOREWARN_SMTP_HOST is set); off: only `forewarn digest send` sends it.",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="The web app's address as readers reach it, for links in emails."
    )

    @model_validator(mode="after")
    def _refuse_default_secret_in_production(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "FOREWARN_SECRET_KEY must be set to a real secret when FOREWARN_ENVIRONMENT=production"
            )
        if self.environment == "production" and self.secure_cookies is False:
            raise ValueError(
                "FOREWARN_SECURE_COOKIES=false is refused when FOREWARN_ENVIRONMENT=production: sessions "
                "must travel over HTTPS only"
            )
        if self.session_absolute_hours * 60 < self.session_idle_minutes:
            raise ValueError(
                "FOREWARN_SESSION_ABSOLUTE_HOURS must be at least FOREWARN_SESSION_IDLE_MINUTES (in hours)"
            )
        return self

    @property
    def upload_dir(self) -> Path:
        """Where uploads wait between validation and confirmation (the web app's imports, maintenance)."""
        return self.data_dir / "uploads"

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'forewarn.db').resolve()}"


def default(name: str) -> Any:
    """The default of setting ``name``: the one place a default is written, for classes that offer one too
    (a session policy, a throttle)."""
    return Settings.model_fields[name].default


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
