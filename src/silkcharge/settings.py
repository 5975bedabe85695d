"""One home for configuration: the Settings object, filled from SILKCHARGE_* environment variables."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from silkcharge.domain.plausibility import Limits

SMTP_SCHEMES = ("smtp://", "smtp+starttls://", "smtps://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILKCHARGE_", env_file=None, extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///var/silkcharge.sqlite3",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db",
    )

    tenant_databases: dict[str, str] = Field(
        default_factory=dict,
        description="data residency: tenant code -> the SQLAlchemy URL of the database its rows live in, "
        'as JSON (\'{"kz-op": "postgresql+asyncpg://user@kz-db/silkcharge"}\'); every other tenant, and the '
        "platform's own tables (tenants, accounts, keys, audit, drivers), stay in database_url "
        "(docs/operations.md, \"Data residency\")",
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
    driver_app_tenant: int = Field(
        default=1, ge=1,
        description="the tenant that issues the app tokens of drivers who register in the console "
        "(driver accounts are the platform's; the tokens they charge with belong to a tenant)",
    )

    # -- drivers' data (docs/driver.md "Your data", docs/security.md "Pseudonyms") ----------
    pseudonym_key: SecretStr | None = Field(
        default=None, min_length=32,
        description="key of the pseudonyms shown instead of idTokens and emails (HMAC-SHA256); "
        "without it, one is made on first start and kept in the database",
    )
    retention_sweep_every: float = Field(
        default=3600.0, gt=0, description="seconds between sweeps that delete data past its retention"
    )
    driver_session_days: float = Field(
        default=7, gt=0, description="ended driver log-in sessions are deleted this long after they end"
    )
    reset_link_days: float = Field(
        default=7, gt=0, description="password-reset links are deleted this long after they expire"
    )
    meter_sample_days: float | None = Field(
        default=400, gt=0,
        description="meter samples of sessions that ended this long ago are deleted (the CDR keeps "
        "the totals; samples of a CDR held for review stay); unset to keep them",
    )

    # -- OCPI push to roaming partners (docs/roaming.md "Push and pull") ---------------------
    roaming_push_backoff_base: float = Field(
        default=2.0, gt=0, le=3600,
        description="seconds before the first retry of a push a roaming partner did not take; each "
        "further failure doubles the wait (with jitter) up to roaming_push_backoff_cap",
    )
    roaming_push_backoff_cap: float = Field(
        default=300.0, gt=0, le=86400,
        description="the longest wait between two attempts to reach a roaming partner that is down",
    )
    roaming_push_poll_seconds: float = Field(
        default=5.0, gt=0, le=3600,
        description="longest pause between two looks at the roaming outbox when no push woke the sender",
    )
    roaming_push_lock_seconds: float = Field(
        default=120.0, gt=0, le=3600,
        description="how long a push in flight is held by its sender; one whose sender died is sent "
        "again after this (must exceed ocpi_client_timeout)",
    )
    roaming_pull_minutes: float | None = Field(
        default=15, gt=0, le=7 * 24 * 60,
        description="how often each roaming partner's locations and tariffs are pulled (what changed "
        "since the last pull; a new partner's everything soon after it registered); unset: only when "
        "an operator asks (POST /api/v1/roaming/partners/{id}/pull)",
    )
    roaming_object_push_seconds: float | None = Field(
        default=30, gt=0, le=24 * 3600,
        description="how often our Locations and Tariffs are compared with what each roaming partner "
        "was sent, and those that changed are pushed (a new partner gets them all at the first look); "
        "unset: partners learn of our sites and tariffs only by pulling",
    )
    roaming_profile_days: float | None = Field(
        default=90, gt=0,
        description="OCPI charging profile exchanges with partners (requests either way, our pushes, the "
        "profiles partners pushed us) are deleted this long after they were made; unset to keep them",
    )
    roaming_push_keep_days: float | None = Field(
        default=30, gt=0,
        description="pushes partners took (and those a later PUT superseded) are kept this long for "
        "audits, then deleted; unset to keep them; parked pushes stay until an operator acts",
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

    # -- plausibility of what stations report (docs/tariffs.md, "Plausibility and review") ----
    plausibility_limits: dict[str, Decimal] = Field(
        default_factory=dict,
        description='overrides of plausibility limits by "rule.limit", e.g. '
        '{"power-bound.margin_percent": 20, "clock-window.behind_days": 30}; '
        "GET /api/v1/plausibility/rules lists them",
    )

    # -- heavy work off the gateway's event loop (docs/operations.md, issue 14) ---------------
    stop_grace_seconds: float = Field(
        default=30.0, gt=0,
        description="after SIGTERM or SIGINT, seconds a graceful stop may take before the process ends anyway",
    )
    analytics_max_days: int = Field(
        default=400, ge=1, le=3660,
        description="longest range the analytics routes answer; longer ones are refused with 422",
    )
    analytics_rollup_every: float = Field(
        default=600.0, gt=0,
        description="seconds between runs of the job that rolls finished days up for the analytics",
    )
    heavy_work_threads: int = Field(
        default=2, ge=1, le=32,
        description="worker threads for CPU-heavy requests (trip plans, analytics), so the event loop never runs them",
    )
    heavy_work_queue: int = Field(
        default=32, ge=0,
        description="heavy requests that may wait for a worker thread; more are answered 503 with Retry-After",
    )
    search_refresh_seconds: float = Field(
        default=60.0, gt=0,
        description="seconds between the search's incremental reads of changed sites and connectors",
    )
    gil_switch_interval_ms: float = Field(
        default=1.0, gt=0, le=100,
        description="how long a thread may hold Python's GIL while another waits (CPython's default is 5)",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field(
        default="asyncio" if sys.platform == "win32" else "uvloop",
        description="the event loop `serve` runs on: uvloop (libuv, compiled; the default where it "
        "installs) or asyncio's own",
    )

    # -- the HTTP API's edge (docs/operations.md, "Limits and their settings") ----------------
    http_max_body_bytes: int = Field(
        default=1_048_576, ge=1024,
        description="larger request bodies are answered 413 (before they are read, when "
        "Content-Length says so)",
    )
    http_max_header_bytes: int = Field(
        default=16_384, ge=1024,
        description="a request head (line and headers) still not ended after this many bytes "
        "is answered 400",
    )
    http_idle_timeout: float = Field(
        default=5.0, gt=0,
        description="seconds a kept-alive connection may wait for its next request",
    )
    http_header_timeout: float = Field(
        default=10.0, gt=0,
        description="seconds for a request's line and headers to arrive, from the connection "
        "opening or the previous answer; later, the connection is closed",
    )
    http_body_timeout: float = Field(
        default=30.0, gt=0,
        description="seconds for a request's body to arrive after its headers; later, 408 and "
        "the connection is closed",
    )

    # -- OCPP transport security: TLS, security profiles, handshake limits (docs/operations.md,
    # "Security profiles and TLS") -----------------------------------------------------------
    ocpp_plain_enabled: bool = Field(
        default=True,
        description="serve ws:// on ocpp_port (security profile 1 only); false: stations connect over wss only",
    )
    ocpp_tls_port: int | None = Field(
        default=None, ge=0, le=65535,
        description="serve wss:// here (security profiles 2 and 3); None: no TLS listener",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM: the OCPP server certificate, then its intermediate CAs"
    )
    tls_key_file: Path | None = Field(default=None, description="PEM: the server certificate's private key")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM: the CA(s) that issue station client certificates (profile 3); "
        "without it no client certificate is asked for",
    )
    ocpp_tls_public_url: str | None = Field(
        default=None,
        description="the wss:// address stations reach the TLS port at, without the station id, "
        "sent when raising a 2.0.1 station's profile (default wss://ocpp_host:ocpp_tls_port/ocpp)",
    )
    tls_terminated_by_proxy: bool = Field(
        default=False,
        description="the plain port is reached only through a TLS-terminating proxy you run: its "
        "connections count as TLS (profile 2; profile 3 needs the built-in TLS port)",
    )
    allow_stations_without_password: bool = Field(
        default=False,
        description="INSECURE: let stations without a stored password connect with no credentials",
    )
    auth_failure_limit_per_station: int = Field(
        default=10, ge=1, description="refused handshakes of one station id per window before 429"
    )
    auth_failure_limit_per_address: int = Field(
        default=30, ge=1, description="refused handshakes from one source address per window before 429"
    )
    auth_failure_window_seconds: float = Field(
        default=300, gt=0, description="how long a refused handshake counts against the limits"
    )

    # -- certificate management (docs/operations.md, "Certificates") ------------------------
    ca_cert_file: Path | None = Field(
        default=None,
        description="PEM certificate of the CA that signs station CSRs (with ca_key_file); "
        "unset: silkcharge makes and keeps its own CA in the database",
    )
    ca_key_file: Path | None = Field(default=None, description="PEM private key of ca_cert_file's CA")
    certificate_organization: str | None = Field(
        default=None, max_length=64,
        description="the organization (O) a station's CSR must name (2.0.1 SecurityCtrlr.OrganizationName, "
        "1.6 CpoName); unset: any",
    )
    station_certificate_days: int = Field(
        default=365, ge=1, le=3650, description="validity of the station certificates silkcharge signs"
    )
    certificate_expiry_warning_days: int = Field(
        default=30, ge=1, description="certificates expiring within this many days are listed as expiring"
    )
    ocsp_responder_url: str | None = Field(
        default=None,
        description="http(s) URL of the OCSP responder asked for GetCertificateStatus and for contract "
        "certificates in Authorize; unset: such checks fail with that reason",
    )
    ocsp_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for the OCSP responder")
    contract_certificate_service_url: str | None = Field(
        default=None,
        description="http(s) URL that Get15118EVCertificate requests are posted to (ISO 15118 contract "
        "certificates); unset: such requests fail with that reason",
    )

    # -- OCPI roaming (docs/roaming.md; docs/operations.md, "OCPI roaming") -------------------
    ocpi_client_timeout: float = Field(
        default=10.0, gt=0, le=300,
        description="seconds silkcharge waits for a roaming partner's OCPI platform to answer one request "
        "(each of connecting, sending and every read)",
    )
    ocpi_max_page_limit: int = Field(
        default=100, ge=1, le=1000,
        description="the most objects one page of an OCPI list holds; a partner asking for more gets this many",
    )
    exchange_rate_max_age_days: int = Field(
        default=7, ge=0, le=366,
        description="the most days an exchange rate may be older than the day of the session it converts "
        "(a weekend or holiday without a published rate fits in the default); older, and the conversion is "
        "refused until the operator enters that day's rate (docs/roaming.md, \"Exchange rates\")",
    )
    ocpi_authorize_timeout: float = Field(
        default=4.0, gt=0, le=60,
        description="seconds a charger's authorization waits for a roaming eMSP's real-time answer (OCPI tokens "
        "authorize) before the stored token's whitelist decides; keep it well below the OCPP call timeout",
    )
    ocpi_token_whitelist: Literal["ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"] = Field(
        default="ALLOWED",
        description="the OCPI whitelist our drivers' RFID cards are published with to partner CPOs (app tokens "
        "are always NEVER: real-time only)",
    )

    log_level: str = "INFO"

    @field_validator("plausibility_limits")
    @classmethod
    def _known_limits(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        Limits(value)  # names each unknown or untunable limit
        return value

    @field_validator("tenant_databases")
    @classmethod
    def _tenant_databases(cls, value: dict[str, str]) -> dict[str, str]:
        for code, url in value.items():
            if not code or not url.startswith(("postgresql", "sqlite")):
                raise ValueError(f"tenant_databases: {code or '(empty code)'} needs a postgresql+asyncpg:// "
                                 "or sqlite+aiosqlite:/// URL")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_server(cls, value: str | None) -> str | None:
        if value and not (value.startswith(SMTP_SCHEMES) and urlsplit(value).hostname):
            raise ValueError(f"smtp_url must start with one of {', '.join(SMTP_SCHEMES)} "
                             "and name a host")
        return value or None

    @model_validator(mode="after")
    def _ocpp_listeners(self) -> Settings:
        if not self.ocpp_plain_enabled and self.ocpp_tls_port is None:
            raise ValueError("with ocpp_plain_enabled false, set ocpp_tls_port: stations need a listener")
        if self.ocpp_tls_port is not None and not (self.tls_cert_file and self.tls_key_file):
            raise ValueError("ocpp_tls_port needs tls_cert_file and tls_key_file (the server certificate)")
        return self

    @field_validator("ocsp_responder_url", "contract_certificate_service_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not (value.startswith(("http://", "https://")) and urlsplit(value).hostname):
            raise ValueError("must be an http:// or https:// URL naming a host")
        return value or None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def all_database_urls(self) -> list[str]:
        """The platform's database, then each distinct resident one: what `silkcharge migrate` brings up to date."""
        return list(dict.fromkeys([self.database_url, *self.tenant_databases.values()]))

    def sqlite_path(self) -> Path | None:
        if not self.is_sqlite:
            return None
        return Path(self.database_url.split(":///", 1)[1])
