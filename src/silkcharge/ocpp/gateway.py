"""The OCPP endpoint: ws://HOST:PORT/ocpp/{stationId}, subprotocol ocpp1.6 or ocpp2.0.1.

At the handshake it checks the path, the station and its Basic-auth password (security profile
1); then it picks the adapter for the negotiated version and hands the socket to a
StationConnection. A second socket for the same station replaces the first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import random
import re
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from silkcharge.bus.local import LocalRouter
from silkcharge.ocpp.adapter import Adapter
from silkcharge.ocpp.connection import StationConnection
from silkcharge.services.stations import Admission, AdmissionVerdict, StationService
from silkcharge.services.writer import BatchWriter
from silkcharge.settings import Settings
from silkcharge.store.group_commit import is_unavailable

log = logging.getLogger(__name__)

PATH = re.compile(r"^/ocpp/([^/]+)/?$")
STATION_ID = re.compile(r"^[A-Za-z0-9*\-_=+|@.]{1,48}$")
SUBPROTOCOLS = {"ocpp2.0.1": "2.0.1", "ocpp1.6": "1.6"}
CLOSE_REPLACED = (1000, "replaced by a newer connection of the same station")
CLOSE_SUBPROTOCOL = 1002


def basic_credentials(headers: Headers) -> tuple[str, str] | None:
    header = headers.get("Authorization")
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


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
    ) -> None:
        self._settings = settings
        self._stations = stations
        self._adapters = adapters
        self._router = router
        self._writer = writer
        self._verdicts: dict[ServerConnection, tuple[str, AdmissionVerdict]] = {}
        self._server: Server | None = None
        self._monitor: asyncio.Task | None = None
        self._closing: set[asyncio.Task] = set()
        self._handshakes = 0  # being checked right now
        self.handshakes_deferred = 0  # answered 503 because too many were being checked

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await serve(
            self._serve_station,
            self._settings.ocpp_host,
            self._settings.ocpp_port,
            process_request=self._check_handshake,
            select_subprotocol=self._select_subprotocol,
            max_size=self._settings.max_frame_bytes,
            ping_interval=None,
            server_header="silkcharge",
            backlog=self._settings.accept_backlog,
            reuse_port=self._settings.ocpp_reuse_port or None,
        )
        self._monitor = asyncio.create_task(self._watch_silence(), name="offline-monitor")
        log.info("OCPP gateway listening on ws://%s:%d/ocpp/{stationId}", self._settings.ocpp_host, self.port)

    async def stop(self) -> None:
        if self._monitor:
            self._monitor.cancel()
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    # -- handshake ----------------------------------------------------------------------------

    @staticmethod
    def _select_subprotocol(connection: ServerConnection, offered: list[str]) -> str | None:
        # OCPP-J: if no offered subprotocol is acceptable, complete the handshake without one and
        # close at once, saying why (done in _serve_station).
        for name in SUBPROTOCOLS:
            if name in offered:
                return name
        return None

    async def _check_handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        match = PATH.match(urlsplit(request.path).path)
        if match is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "OCPP endpoint is /ocpp/{stationId}\n")
        station_id = unquote(match.group(1))
        if not STATION_ID.match(station_id):
            return connection.respond(
                HTTPStatus.BAD_REQUEST,
                "station id must be 1-48 characters of letters, digits and *-_=+|@.\n",
            )
        credentials = basic_credentials(request.headers)
        if credentials is not None and credentials[0] != station_id:
            return self._unauthorized(connection, "Basic-auth user must be the station id")
        if self._handshakes >= self._settings.max_pending_handshakes:
            # A storm: answering "later" now costs nothing, while queueing every handshake
            # behind the database would let them time out and retry all together.
            self.handshakes_deferred += 1
            response = connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "busy; reconnect shortly\n")
            response.headers["Retry-After"] = str(random.randint(2, 30))
            return response
        self._handshakes += 1
        try:
            return await self._admit(connection, station_id, credentials)
        finally:
            self._handshakes -= 1

    async def _admit(
        self, connection: ServerConnection, station_id: str, credentials: tuple[str, str] | None
    ) -> Response | None:
        # Shielded: if the client gives up (or the handshake times out) while the database is
        # answering, the query still finishes, so its pooled connection is not thrown away.
        checking = asyncio.ensure_future(
            self._stations.admit(station_id, credentials[1] if credentials else None)
        )
        checking.add_done_callback(_consume)
        try:
            verdict = await asyncio.shield(checking)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log.warning("handshake of %s deferred: database unavailable", station_id)
            response = connection.respond(
                HTTPStatus.SERVICE_UNAVAILABLE, "the CSMS database is unavailable; reconnect shortly\n"
            )
            response.headers["Retry-After"] = "10"
            return response
        if verdict.admission is Admission.UNKNOWN_STATION:
            log.info("refused unknown station %s", station_id)
            return connection.respond(HTTPStatus.NOT_FOUND, f"station {station_id} is not registered\n")
        if verdict.admission is Admission.BAD_PASSWORD:
            log.info("refused station %s: wrong or missing password", station_id)
            return self._unauthorized(connection, "wrong or missing password for this station")
        self._verdicts[connection] = (station_id, verdict)
        return None

    @staticmethod
    def _unauthorized(connection: ServerConnection, reason: str) -> Response:
        response = connection.respond(HTTPStatus.UNAUTHORIZED, reason + "\n")
        response.headers["WWW-Authenticate"] = 'Basic realm="silkcharge OCPP", charset="UTF-8"'
        return response

    # -- session ------------------------------------------------------------------------------

    async def _serve_station(self, websocket: ServerConnection) -> None:
        station_id, verdict = self._verdicts.pop(websocket)
        version = SUBPROTOCOLS.get(websocket.subprotocol or "")
        if version is None:
            offered = websocket.request.headers.get("Sec-WebSocket-Protocol", "none")
            await websocket.close(
                CLOSE_SUBPROTOCOL,
                f"unsupported OCPP subprotocol (offered: {offered}); use ocpp1.6 or ocpp2.0.1"[:120],
            )
            return
        connection = StationConnection(
            station_id,
            websocket,
            self._adapters[version],
            self._stations,
            self._writer,
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
