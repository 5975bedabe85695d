"""One home for configuration: the Settings object, filled from SILKCHARGE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SMTP_SCHEMES = ("smtp://", "smtp+starttls://", "smtps://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILKCHARGE_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/silkcharge.sqlite3",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )

    database_pool_size: int = Field(
        default=30, ge=1,
        description="PostgreSQL connections kept open (SQLite always uses one: it has one writer)",
    )

    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_key: str | None = Field(
        default=None, description="Key for the operator API (X-API-Key header); required to serve"
    )

    heartbeat_interval: int = Field(default=300, ge=1, description="seconds, sent in Boot replies")
    offline_grace: int = Field(
        default=60, ge=0, description="seconds past the heartbeat interval before a silent station is offline"
    )
    offline_check_every: float = Field(default=15.0, gt=0)
    auto_provision: bool = Field(
        default=False,
        description="accept unknown stations (trust on first use of their password) instead of refusing them",
    )
    unknown_station: Literal["refuse", "reject_boot"] = Field(
        default="refuse",
        description="without auto-provisioning: refuse the handshake, or accept it and reject the Boot",
    )
    boot_retry_interval: int = Field(default=60, ge=1, description="interval in Pending/Rejected Boot replies")

    call_timeout: float = Field(default=30.0, gt=0, description="seconds to wait for a station's reply")
    max_message_bytes: int = Field(
        default=65536, ge=1024, description="larger frames are answered with a CALLERROR"
    )
    max_frame_bytes: int = Field(
        default=1_048_576, ge=4096, description="larger frames close the socket (1009)"
    )
    message_log_flush_seconds: float = Field(default=0.25, gt=0)
    message_log_days: float = Field(
        default=90, gt=0, description="OCPP frames older than this are deleted from the message log"
    )
    stale_session_hours: float = Field(
        default=24, gt=0, description="an active session silent this long is closed and flagged"
    )
    reservation_max_hours: float = Field(
        default=24, gt=0, description="how far ahead a reservation may expire"
    )
    reservation_check_every: float = Field(
        default=15.0, gt=0, description="seconds between sweeps that mark lapsed reservations Expired"
    )
    cost_update_every: float = Field(
        default=60.0, gt=0,
        description="seconds between running-cost messages to chargers (2.0.1 CostUpdated, 1.6 RunningCost)",
    )
    driver_session_hours: float = Field(
        default=72, gt=0, description="how long a driver stays logged in"
    )

    # -- mail to drivers (docs/driver.md, "Password change and reset") -----------------------
    smtp_url: str | None = Field(
        default=None,
        description="smtp://[user:password@]host[:25], smtp+starttls://...:587 or smtps://...:465; "
        "without it, mail to drivers is written to the server log",
    )
    mail_from: str = Field(
        default="silkcharge <no-reply@silkcharge.invalid>", description="the From of mail to drivers"
    )
    public_url: str | None = Field(
        default=None,
        description="the console's address as drivers reach it, for links in mail "
        "(default http://api_host:api_port); never taken from a request's Host header",
    )

    # -- scale and resilience (docs/operations.md) ------------------------------------------
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db: several gateway and API processes share routing and live events",
    )
    role: Literal["all", "gateway", "api"] = Field(
        default="all", description="what this process serves: OCPP sockets, the HTTP API, or both"
    )
    node_id: str | None = Field(
        default=None, description="this process's name in Redis routing (default: host:pid)"
    )
    gateway_processes: int = Field(
        default=1, ge=1, le=64,
        description="OCPP gateway processes sharing the OCPP port (SO_REUSEPORT); needs PostgreSQL and Redis above 1",
    )
    ocpp_reuse_port: bool = Field(
        default=False, description="share the OCPP port with other gateway processes (set for you by gateway_processes)"
    )
    accept_backlog: int = Field(
        default=4096, ge=16, description="listen backlog of the OCPP socket, for reconnect storms"
    )
    max_pending_handshakes: int = Field(
        default=1024, ge=1,
        description="handshakes checked at once; more are answered 503 with Retry-After at once (back-pressure)",
    )
    boot_pending_above: int = Field(
        default=2000, ge=1,
        description="writes queued for the database above which a Boot is answered Pending (back-pressure)",
    )
    write_batch_max: int = Field(default=1000, ge=1, description="most units of work in one group commit")

    smart_rebalance_delay: float = Field(
        default=0.2, ge=0, description="seconds to gather starts and stops before re-balancing a site"
    )
    smart_check_every: float = Field(
        default=5.0, gt=0, description="seconds between checks of meter values against sent limits"
    )
    smart_over_limit_tolerance_a: float = Field(
        default=1.0, ge=0, description="amperes above its limit before a station counts as ignoring it"
    )

    log_level: str = "INFO"

    @field_validator("smtp_url")
    @classmethod
    def _smtp_server(cls, value: str | None) -> str | None:
        if value and not (value.startswith(SMTP_SCHEMES) and urlsplit(value).hostname):
            raise ValueError(f"smtp_url must start with one of {', '.join(SMTP_SCHEMES)} "
                             "and name a host")
        return value or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split(":///", 1)[1])
