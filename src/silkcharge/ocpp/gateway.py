"""The OCPP endpoint: ws://HOST:PORT/ocpp/{stationId} and, with TLS configured,
wss://HOST:TLS_PORT/ocpp/{stationId}; subprotocol ocpp1.6, ocpp2.0.1 or ocpp2.1.

At the handshake it checks the path, the subprotocol, the credentials (Basic auth, a client
certificate) and what the station's security profile requires, under limits on failed attempts
that apply before any password is hashed; then it picks the adapter for the negotiated version
and hands the socket to a StationConnection. A second socket for the same station replaces the
first. Every refusal is answered with an HTTP status and a reason, and every security decision
is recorded in the security event list.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import ssl
from collections import Counter
from collections.abc import Sequence
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from silkcharge.bus.local import LocalRouter
from silkcharge.domain.security_reasons import Reason, reason
from silkcharge.ocpp import handshake, tls
from silkcharge.ocpp.adapter import Adapter
from silkcharge.ocpp.connection import StationConnection
from silkcharge.ocpp.handshake import SUBPROTOCOLS, BadHandshake
from silkcharge.ocpp.websocket import Accept, Answer, Endpoint, Socket, Upgrade
from silkcharge.security import pki
from silkcharge.services.auth_limits import FailedAuthLimiter, Limited
from silkcharge.services.security_events import SecurityEvents
from silkcharge.services.stations import Admission, AdmissionVerdict, StationService
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.group_commit import is_unavailable
from silkcharge.store.residency import enter_database

log = logging.getLogger(__name__)

PATH = re.compile(r"^/ocpp/([^/]+)/?$")
STATION_ID = re.compile(r"^[A-Za-z0-9*\-_=+|@.]{1,48}$")
CLOSE_REPLACED = (1000, "replaced by a newer connection of the same station")
_BELOW_PROFILE = {(2, 1): "below_profile_2_plain", (3, 1): "below_profile_3_plain", (3, 2): "below_profile_3_tls"}
"""The reason of a handshake below the station's profile, by (its profile, the handshake's)."""


def _consume(task: asyncio.Future) -> None:
    """Retrieve a shielded task's outcome, so an abandoned one is not reported as unhandled."""
    if not task.cancelled():
        task.exception()


class Gateway:
    def __init__(
        self,
        settings: Settings,
        stations: StationService,
        adapters: dict[str, Adapter],
        router: LocalRouter,
        writer: BatchWriter,
        security_events: SecurityEvents,
    ) -> None:
        self._settings = settings
        self._stations = stations
        self._adapters = adapters
        self._router = router
        self._writer = writer
        self._security_events = security_events
        self._endpoint = Endpoint(self._check_handshake, self._serve_station, max_message_bytes=settings.max_frame_bytes)
        self._plain: Sequence[socket.socket] | None = None  # the listening sockets
        self._secure: Sequence[socket.socket] | None = None
        self._tls: tls.ServerTls | None = None
        self._monitor: asyncio.Task | None = None
        self._closing: set[asyncio.Task] = set()
        self._recording: set[asyncio.Task] = set()
        self._handshakes = 0  # being checked right now
        self.handshakes_deferred = 0  # answered 503 because too many were being checked
        self.limits = FailedAuthLimiter(
            settings.auth_failure_limit_per_station, settings.auth_failure_limit_per_address,
            settings.auth_failure_window_seconds,
        )
        self.refused: Counter[str] = Counter()  # refused handshakes by security event type
        self.tls_refused = 0  # TLS handshakes that failed before any HTTP request

    @property
    def port(self) -> int:
        """The plain ws:// port."""
        assert self._plain is not None, "the plain ws listener is off (ocpp_plain_enabled)"
        return self._plain[0].getsockname()[1]

    @property
    def tls_port(self) -> int:
        """The wss:// port."""
        assert self._secure is not None, "no TLS listener (ocpp_tls_port)"
        return self._secure[0].getsockname()[1]

    def bound_tls_port(self) -> int | None:
        """The wss:// port when this process listens on it (else None)."""
        return self.tls_port if self._secure is not None else None

    async def start(self) -> None:
        settings = self._settings
        if settings.ocpp_plain_enabled:
            self._plain = await self._endpoint.listen(
                settings.ocpp_host, settings.ocpp_port, backlog=settings.accept_backlog,
                reuse_port=settings.ocpp_reuse_port,
            )
            log.info("OCPP gateway listening on ws://%s:%d/ocpp/{stationId}", settings.ocpp_host, self.port)
        self._tls = tls.ServerTls.from_settings(settings)
        if self._tls is not None:
            self._secure = await self._endpoint.listen(
                settings.ocpp_host, settings.ocpp_tls_port or 0, tls=self._tls.context, tls_refused=self._tls_refused,
                backlog=settings.accept_backlog, reuse_port=settings.ocpp_reuse_port,
            )
            log.info("OCPP gateway listening on wss://%s:%d/ocpp/{stationId}%s", settings.ocpp_host,
                     self.tls_port, " (client certificates from the configured CA)" if self._tls.client_cas else "")
        self._monitor = asyncio.create_task(self._watch_silence(), name="offline-monitor")

    async def stop(self) -> None:
        if self._monitor:
            self._monitor.cancel()
        await self._endpoint.close()

    # -- handshake ----------------------------------------------------------------------------

    async def _check_handshake(self, request: Upgrade) -> Answer | Accept:
        match = PATH.match(urlsplit(request.path).path)
        if match is None:
            return Answer(HTTPStatus.NOT_FOUND, "OCPP endpoint is /ocpp/{stationId}")
        station_id = unquote(match.group(1))
        if not STATION_ID.match(station_id):
            return Answer(HTTPStatus.BAD_REQUEST, "station id must be 1-48 characters of letters, digits and *-_=+|@.")
        try:
            subprotocol = handshake.check_subprotocol(request.headers)
            credentials = handshake.basic_credentials(request.headers)
        except BadHandshake as bad:
            log.info("refused a handshake for %s: %s", station_id, bad.reason)
            return _answer(bad.status, bad.reason)
        if credentials is not None and credentials[0] != station_id:
            return _answer(HTTPStatus.UNAUTHORIZED, "Basic-auth user must be the station id")
        address = request.remote_address
        password = credentials[1] if credentials else None
        certified, refused = await self._client_certificate(request, station_id, address)
        if refused is not None:
            return refused
        # A station whose password was verified before, or that showed its certificate, is never
        # locked out by someone guessing its password; anyone else is held to the limits, and a
        # handshake that may cost a hash waits while too many such checks are under way.
        known = certified or (password is not None and self._stations.known_password(station_id, password))
        limited = None if known else self.limits.check(station_id, address)
        if limited is not None:
            return _too_many(station_id, limited)
        guarded = not known and bool(password)
        if guarded:
            limited = await self.limits.reserve(station_id, address)
            if limited is not None:
                return _too_many(station_id, limited)
        try:
            if self._handshakes >= self._settings.max_pending_handshakes:
                # A storm: answering "later" now costs nothing, while queueing every handshake
                # behind the database would let them time out and retry all together.
                self.handshakes_deferred += 1
                return Answer(
                    HTTPStatus.SERVICE_UNAVAILABLE, "busy; reconnect shortly",
                    {"Retry-After": str(random.randint(2, 30))},
                )
            self._handshakes += 1
            try:
                verdict = await self._admit(
                    station_id, password, address, tls=self._is_tls(request), certified=certified
                )
                if isinstance(verdict, Answer):
                    return verdict
                return Accept(subprotocol, (station_id, verdict))
            finally:
                self._handshakes -= 1
        finally:
            if guarded:
                self.limits.release(station_id, address)

    def _is_tls(self, request: Upgrade) -> bool:
        return request.ssl_object is not None or self._settings.tls_terminated_by_proxy

    async def _client_certificate(
        self, request: Upgrade, station_id: str, address: str | None
    ) -> tuple[bool, Answer | None]:
        """(whether a valid client certificate names this station, the refusal of an invalid one)."""
        if self._tls is None:
            return False, None
        certificate = self._tls.client_certificate(request.ssl_object)
        if certificate is None:
            return False, None
        problem = pki.client_certificate_problem(certificate, station_id, self._tls.client_cas)
        if problem is None:
            return True, None
        limited = self.limits.check(station_id, address)
        if limited is not None:
            return False, _too_many(station_id, limited)
        return False, await self._refuse(
            station_id, address, HTTPStatus.FORBIDDEN, "InvalidChargingStationCertificate",
            reason("certificate_refused", detail=problem),
        )

    async def _admit(
        self, station_id: str, password: bytes | None, address: str | None, *, tls: bool, certified: bool,
    ) -> AdmissionVerdict | Answer:
        # Shielded: if the client gives up (or the handshake times out) while the database is
        # answering, the query still finishes, so its pooled connection is not thrown away.
        checking = asyncio.ensure_future(
            self._stations.admit(station_id, password, tls=tls, certified=certified)
        )
        checking.add_done_callback(_consume)
        try:
            verdict = await asyncio.shield(checking)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("handshake of %s deferred: database unavailable", station_id)
            return Answer(
                HTTPStatus.SERVICE_UNAVAILABLE, "the CSMS database is unavailable; reconnect shortly",
                {"Retry-After": "10"},
            )
        if verdict.database is not None:
            # Data residency: this handshake's task goes on in the station's database, so a
            # refusal is recorded there, and the connection (served in the same task) works there.
            enter_database(verdict.database)
        if verdict.admission is Admission.UNKNOWN_STATION:
            log.info("refused unknown station %s", station_id)
            return Answer(HTTPStatus.NOT_FOUND, f"station {station_id} is not registered")
        if verdict.admission is Admission.BAD_PASSWORD:
            return await self._refuse(
                station_id, address, HTTPStatus.UNAUTHORIZED, "InvalidPassword", reason("wrong_password"),
            )
        if verdict.admission is Admission.NO_PASSWORD:
            return await self._refuse(
                station_id, address, HTTPStatus.UNAUTHORIZED, "NoPasswordSet", reason("no_password", station=station_id),
            )
        if verdict.admission is Admission.BELOW_PROFILE:
            required, shown = verdict.required_profile or 1, verdict.shown_profile or 1
            return await self._refuse(
                station_id, address, HTTPStatus.FORBIDDEN, "SecurityProfileDowngrade",
                reason(_BELOW_PROFILE[required, shown], station=station_id),
            )
        if verdict.raised_to is not None:
            await self._record(
                station_id, "SecurityProfileRaised", reason("profile_raised", profile=verdict.raised_to), address,
            )
        return verdict

    async def _refuse(
        self, station_id: str, address: str | None, status: HTTPStatus, kind: str, why: Reason,
    ) -> Answer:
        """Answer a refused handshake, count it against the limits and record it."""
        self.refused[kind] += 1
        await self._record(station_id, kind, why, address)
        for reached in self.limits.failed(station_id, address):
            await self._record(station_id, "FailedAuthLimitReached", reached.why, address)
        return _answer(status, why.text)

    async def _record(self, station_id: str | None, kind: str, why: Reason, address: str | None) -> None:
        try:
            await self._security_events.decided(station_id, kind, why, address)
        except Exception:  # the decision stands; its record is also in the log line above
            log.exception("could not record security event %s for %s", kind, station_id)

    def _tls_refused(self, error: ssl.SSLError, address: str | None) -> None:
        """A TLS handshake refused before any HTTP request: counted, and recorded when a
        certificate was refused."""
        text, certificate = tls.refusal(error)
        self.tls_refused += 1
        if not certificate:
            log.info("TLS handshake from %s failed: %s", address or "?", text)
            return
        if self.limits.check(None, address) is not None:
            return
        self.refused["InvalidChargingStationCertificate"] += 1
        reached = self.limits.failed(None, address)
        why = reason("tls_certificate_refused", detail=getattr(error, "verify_message", None) or text)
        task = asyncio.get_running_loop().create_task(self._record_tls(why, address, reached))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def _record_tls(self, why: Reason, address: str | None, reached: list[Limited]) -> None:
        await self._record(None, "InvalidChargingStationCertificate", why, address)
        for limit in reached:
            await self._record(None, "FailedAuthLimitReached", limit.why, address)

    # -- session ------------------------------------------------------------------------------

    async def _serve_station(self, websocket: Socket, admitted: tuple[str, AdmissionVerdict]) -> None:
        station_id, verdict = admitted
        if verdict.database is not None:
            # Data residency: this task (the connection's) and all it starts work in the
            # station's database (store/residency.py).
            enter_database(verdict.database)
        version = SUBPROTOCOLS[websocket.subprotocol]
        connection = StationConnection(
            station_id,
            websocket,
            self._adapters[version],
            self._stations,
            self._writer.for_database(verdict.database),
            max_message_bytes=self._settings.max_message_bytes,
            reject_boot=verdict.reject_boot,
        )
        previous = self._router.attach(station_id, connection)
        if previous is not None:
            # The old socket may be half-dead: close it in the background, never wait on it here.
            log.info("%s reconnected; closing its previous socket", station_id)
            closing = asyncio.create_task(previous.close(*CLOSE_REPLACED))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        await self._stations.connected(station_id, version, connection.connection_id)
        try:
            await connection.serve()
        finally:
            self._router.detach(station_id, connection)
            if self._router.get(station_id) is None:
                await self._stations.disconnected(station_id, "socket closed", connection.connection_id)

    async def _watch_silence(self) -> None:
        while True:
            await asyncio.sleep(self._settings.offline_check_every)
            try:
                silent = await self._stations.mark_silent_offline()
                if self._settings.redis_url:  # stations of a node that died hold no socket anywhere
                    silent += await self._stations.mark_stale_offline()
                if silent:
                    log.info("marked offline after silence: %s", ", ".join(silent[:50]))
            except Exception:
                log.exception("offline check failed; trying again next round")


def _too_many(station_id: str, limited: Limited) -> Answer:
    log.info("refused a handshake for %s: %s", station_id, limited.reason)
    return Answer(HTTPStatus.TOO_MANY_REQUESTS, limited.reason, {"Retry-After": str(limited.retry_after)})


def _answer(status: HTTPStatus, reason: str) -> Answer:
    if status is HTTPStatus.UNAUTHORIZED:
        return Answer(status, reason, {"WWW-Authenticate": 'Basic realm="silkcharge OCPP", charset="UTF-8"'})
    return Answer(status, reason)
