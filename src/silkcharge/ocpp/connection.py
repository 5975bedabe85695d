"""One station's socket: reads frames, answers CALLs through its adapter, carries our CALLs.

Frames from a station are handled one at a time, in order (a station waits for each reply
before its next CALL); our own CALLs to it go one at a time too, as OCPP-J requires, and their
replies are matched by message id while the read loop keeps running.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from silkcharge.bus.local import StationCallError, StationReplyInvalid, StationTimeout
from silkcharge.domain.charging import RegistrationStatus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.plausibility import Origin
from silkcharge.ocpp import redaction, rpc, schemas
from silkcharge.ocpp.adapter import Adapter, Session
from silkcharge.ocpp.rpc import Call, CallError, CallResult, ErrorKind, RpcError
from silkcharge.ocpp.websocket import Socket, SocketClosed
from silkcharge.services.stations import StationService
from silkcharge.services.writer import BatchWriter
from silkcharge.store.group_commit import StoreUnavailable

log = logging.getLogger(__name__)


class StationConnection:
    def __init__(
        self,
        station_id: str,
        websocket: Socket,
        adapter: Adapter,
        stations: StationService,
        writer: BatchWriter,
        *,
        max_message_bytes: int,
        reject_boot: bool = False,
    ) -> None:
        self.station_id = station_id
        self.version = adapter.version
        # Names this socket in the station's presence. It starts with the time it opened, so ids
        # sort by age: a late presence write of an older socket never hides a newer one.
        self.connection_id = f"{time.time_ns():016x}{uuid.uuid4().hex[:16]}"
        self._ws = websocket
        self._adapter = adapter
        self._stations = stations
        self._writer = writer
        self._max_message_bytes = max_message_bytes
        self._session = Session(station_id, reject_boot=reject_boot)
        self._call_lock = asyncio.Lock()
        self._pending: dict[str, tuple[str, asyncio.Future]] = {}
        self._accepted: bool | None = None
        self._follow_ups: set[asyncio.Task] = set()

    # -- inbound ------------------------------------------------------------------------------

    async def serve(self) -> None:
        try:
            async for data, text in self._ws:
                try:
                    await self._receive(data, text)
                except SocketClosed:
                    raise
                except Exception:  # whatever happens to one frame, the socket stays up
                    log.exception("%s: a frame could not be handled", self.station_id)
        except SocketClosed:
            pass
        finally:
            for _, future in self._pending.values():
                if not future.done():
                    future.set_exception(StationTimeout("the station disconnected before replying"))

    async def _receive(self, data: bytes, text: str) -> None:
        """One message: its bytes, and its text (a binary message's with U+FFFD for what is not UTF-8)."""
        if self._stations.seen(self.station_id):
            await self._stations.connected(self.station_id, self.version, self.connection_id)
        if len(data) > self._max_message_bytes:
            self._log_in(0, None, None, text[:2000])
            await self._send_error(
                RpcError(
                    ErrorKind.FORMAT_VIOLATION,
                    f"message of {len(data)} bytes exceeds this server's limit of "
                    f"{self._max_message_bytes} bytes",
                    message_id=rpc.recover_message_id(data),
                )
            )
            return
        try:
            frame = rpc.decode(data)
        except RpcError as error:
            self._log_in(0, error.message_id, None, text)
            await self._send_error(error)
            return
        if isinstance(frame, Call):
            hidden = redaction.redacted(self.version, frame.action, frame.payload, response=False)
            if hidden is not None:  # secrets never reach the log or the services
                frame = Call(frame.message_id, frame.action, hidden)
                text = rpc.encode_call(frame.message_id, frame.action, hidden)
            self._log_in(rpc.CALL, frame.message_id, frame.action, text)
            await self._answer(frame)
        else:
            if isinstance(frame, CallResult):
                asked = self._pending.get(frame.message_id)
                hidden = redaction.redacted(self.version, asked and asked[0], frame.payload, response=True)
                if hidden is not None:
                    frame = CallResult(frame.message_id, hidden)
                    text = rpc.encode_result(frame.message_id, hidden)
            self._log_in(
                rpc.CALLRESULT if isinstance(frame, CallResult) else rpc.CALLERROR,
                frame.message_id, None, text,
            )
            self._settle(frame)

    async def _answer(self, call: Call) -> None:
        try:
            payload = await self._dispatch(call)
        except RpcError as error:
            error.message_id = call.message_id
            await self._send_error(error, action=call.action)
            return
        except StoreUnavailable as error:
            # Nothing was stored and nothing is acknowledged: the station keeps the message and
            # sends it again (transaction messages are retried by both OCPP versions).
            log.warning("%s: %s refused while the database is unavailable: %s", self.station_id, call.action, error)
            await self._send_error(
                RpcError(
                    ErrorKind.INTERNAL_ERROR,
                    f"database temporarily unavailable; {call.action} was not stored, send it again",
                    message_id=call.message_id,
                ),
                action=call.action,
            )
            return
        except Exception:
            log.exception("%s: %s failed inside silkcharge", self.station_id, call.action)
            await self._send_error(
                RpcError(
                    ErrorKind.INTERNAL_ERROR,
                    f"silkcharge could not process {call.action}; it has been logged",
                    message_id=call.message_id,
                ),
                action=call.action,
            )
            return
        text = rpc.encode_result(call.message_id, payload)
        try:
            await self._ws.send(text)
        except SocketClosed:
            # The station closed while we answered (it reconnects after a new password, say).
            # Frames it sent before closing are still queued: go on reading them, so that the
            # reply to one of our calls is not lost with the socket.
            log.info("%s closed before the reply to its %s could be sent", self.station_id, call.action)
            return
        self._log_out(rpc.CALLRESULT, call.message_id, call.action, text)
        self._start_follow_ups(call.action)

    def _start_follow_ups(self, action: str) -> None:
        follow_ups, self._session.follow_ups = self._session.follow_ups, []
        for follow_up in follow_ups:
            task = asyncio.create_task(self._follow_up(action, follow_up))
            self._follow_ups.add(task)
            task.add_done_callback(self._follow_ups.discard)

    async def _follow_up(self, action: str, follow_up) -> None:
        try:
            await follow_up()
        except Exception:
            log.exception("%s: what follows %s failed", self.station_id, action)

    async def _dispatch(self, call: Call) -> dict[str, Any]:
        if not schemas.known_action(self.version, call.action):
            raise RpcError(ErrorKind.NOT_IMPLEMENTED, f"{call.action} is not an OCPP {self.version} action")
        if not self._adapter.handles(call.action):
            raise RpcError(
                ErrorKind.NOT_SUPPORTED,
                f"{call.action} is an OCPP {self.version} action this CSMS does not accept from a station",
            )
        schemas.validate(self.version, call.action, call.payload, response=False, message_id=call.message_id)
        if call.action not in self._adapter.before_acceptance and not await self._is_accepted():
            raise RpcError(
                ErrorKind.SECURITY_ERROR,
                f"{call.action} refused: the station is not accepted by this CSMS",
            )
        self._session.origin = Origin(call.message_id, call.action, utcnow())
        self._session.follow_ups.clear()  # only what this call's handler asks for
        payload = await self._adapter.handle(self._session, call.action, call.payload)
        if call.action == "BootNotification":
            self._accepted = payload.get("status") == RegistrationStatus.ACCEPTED
        return payload

    async def _is_accepted(self) -> bool:
        if self._accepted is None:
            if self._session.reject_boot:
                self._accepted = False
            else:
                status = await self._stations.registration_status(self.station_id)
                self._accepted = status is RegistrationStatus.ACCEPTED
        return self._accepted

    def _settle(self, frame: CallResult | CallError) -> None:
        pending = self._pending.get(frame.message_id)
        if pending is None:
            log.warning("%s: reply to unknown message id %s ignored", self.station_id, frame.message_id)
            return
        _, future = pending
        if not future.done():
            future.set_result(frame)

    async def _send_error(self, error: RpcError, action: str | None = None) -> None:
        text = rpc.encode_error(error, self.version)
        log.info("%s: CALLERROR %s %s", self.station_id, error.code_for(self.version), error.description)
        try:
            await self._ws.send(text)
        except SocketClosed:
            return
        self._log_out(rpc.CALLERROR, error.message_id, action, text, error.code_for(self.version))

    # -- outbound -----------------------------------------------------------------------------

    async def call(self, action: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a CALL and return the station's validated CALLRESULT payload."""
        schemas.validate(self.version, action, payload, response=False, message_id="outbound")
        async with self._call_lock:
            message_id = str(uuid.uuid4())
            future: asyncio.Future = asyncio.get_running_loop().create_future()
            self._pending[message_id] = (action, future)
            text = rpc.encode_call(message_id, action, payload)
            hidden = redaction.redacted(self.version, action, payload, response=False)
            try:
                await self._ws.send(text)
                self._log_out(
                    rpc.CALL, message_id, action,
                    text if hidden is None else rpc.encode_call(message_id, action, hidden),
                )
                frame = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise StationTimeout(f"{self.station_id} did not answer {action} within {timeout:g} s") from None
            except SocketClosed:
                raise StationTimeout(f"{self.station_id} disconnected before answering {action}") from None
            finally:
                self._pending.pop(message_id, None)
        if isinstance(frame, CallError):
            raise StationCallError(frame.code, frame.description, frame.details)
        try:
            schemas.validate(self.version, action, frame.payload, response=True, message_id=message_id)
        except RpcError as error:
            raise StationReplyInvalid(f"{self.station_id} answered {action} with {error.description}") from None
        return frame.payload

    async def close(self, code: int, reason: str) -> None:
        await self._ws.close(code, reason)

    # -- log ----------------------------------------------------------------------------------

    def _log_in(self, kind: int, message_id: str | None, action: str | None, text: str) -> None:
        self._writer.log_message(self.station_id, "in", kind, message_id, action, text, utcnow())

    def _log_out(
        self, kind: int, message_id: str | None, action: str | None, text: str, error: str | None = None
    ) -> None:
        self._writer.log_message(self.station_id, "out", kind, message_id, action, text, utcnow(), error)
