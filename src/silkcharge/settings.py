"""One home for configuration: the Settings object, filled from SILKCHARGE_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    stale_session_hours: float = Field(
        default=24, gt=0, description="an active session silent this long is closed and flagged"
    )
    reservation_max_hours: float = Field(
        default=24, gt=0, description="how far ahead a reservation may expire"
    )
    reservation_check_every: float = Field(
        default=15.0, gt=0, description="seconds between sweeps that mark lapsed reservations Expired"
    )

    log_level: str = "INFO"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split(":///", 1)[1])
