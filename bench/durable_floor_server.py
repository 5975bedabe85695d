"""The durable floor: the least a Python CSMS must do to answer each message only once it is stored.

Issue 20 asks silkcharge, which commits every message before it answers it, to match an
in-memory Node server (ocpp-rpc). This server tells how much of that a Python server can reach
at all on the same machine, whatever its design: it does nothing that a durable CSMS could
leave out, and nothing more.

Per text frame, on one event loop (uvloop) and picows's frames:

- decode with orjson, check the CALL against the official schema with the validator silkcharge
  uses (`silkcharge.ocpp.schemas.validate`, jsonschema-rs), answer a violation with a CALLERROR;
- build the reply (BootNotification Accepted, Heartbeat's time, StatusNotification and
  MeterValues `{}`, StartTransaction's id, TransactionEvent's token status);
- hand the rows to the writer: the CALL and its reply into a message log, and what the message
  says into tables shaped and indexed as silkcharge's are where it matters (the status onto the
  connector's row, a meter value's readings one row each under the same unique key, a
  transaction's start, progress and end);
- send the reply once the batch that holds it is committed; a Heartbeat or an Authorize, which
  change nothing that must be kept, is answered at once, and its frames go into the open batch
  (silkcharge's contract: what a message changes is committed before the answer, the message
  log keeps every frame within a fraction of a second).

Writes are group-committed: while one batch is being written, the next one gathers, and a batch
is one transaction. SQLite: WAL, `synchronous=FULL`, the standard library's `sqlite3` on one
thread of its own, each table's rows in one `executemany`. PostgreSQL: asyncpg, one
transaction, `executemany` per table. No ORM, no services, no events, no tenants, no pricing,
no security checks beyond decoding and the schema: a baseline, not a product.

Two options try what silkcharge's design does not do, to tell what they would be worth at the
floor: `--readings packed` keeps a meter value's readings as one row (their JSON) instead of a
row each, and `--connections N` lets N batches be written at once on PostgreSQL.

    python bench/durable_floor_server.py --port 9300 --database sqlite:///tmp/floor.sqlite3
    python bench/durable_floor_server.py --port 9300 --database postgresql://postgres@127.0.0.1/x \
        --readings packed --connections 4
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import count

import orjson
import uvloop
from picows import (
    WSListener,
    WSMsgType,
    WSUpgradeResponse,
    WSUpgradeResponseWithListener,
    ws_create_server,
)

from silkcharge.ocpp.rpc import RpcError
from silkcharge.ocpp.schemas import validate

SUBPROTOCOLS = {"ocpp1.6": "1.6", "ocpp2.0.1": "2.0.1"}

# Answered at once, as silkcharge answers them: nothing they say must be kept before the reply
# (the station's last contact is kept in memory; the frames go into the next batch, as
# silkcharge's message log keeps every frame within a fraction of a second, not before the reply).
STATELESS = frozenset({"Heartbeat", "Authorize"})

# -- what is stored --------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
    id {text} PRIMARY KEY, version {text} NOT NULL, booted_at {time}
);
CREATE TABLE IF NOT EXISTS connectors (
    id {serial}, station_id {text} NOT NULL, evse_id {int} NOT NULL,
    connector_id {int} NOT NULL, status {text} NOT NULL, error_code {text}, status_at {time},
    updated_at {time} NOT NULL, UNIQUE (station_id, evse_id, connector_id)
);
CREATE TABLE IF NOT EXISTS transactions (
    id {key}, station_id {text} NOT NULL, station_tx_id {text} NOT NULL,
    evse_id {int} NOT NULL, id_token {text}, state {text} NOT NULL, started_at {time} NOT NULL,
    stopped_at {time}, meter_start_wh {text}, energy_wh {text}, last_seq_no {int},
    updated_at {time} NOT NULL, UNIQUE (station_id, station_tx_id)
);
CREATE TABLE IF NOT EXISTS meter_samples (
    id {serial}, station_id {text} NOT NULL, evse_id {int} NOT NULL,
    transaction_id {big}, timestamp {time} NOT NULL, measurand {text} NOT NULL,
    phase {text} NOT NULL, location {text} NOT NULL, context {text} NOT NULL, unit {text},
    value {text} NOT NULL,
    UNIQUE (timestamp, station_id, evse_id, transaction_id, measurand, phase, location, context, value)
);
CREATE INDEX IF NOT EXISTS ix_meter_samples_transaction ON meter_samples (transaction_id, id);
CREATE TABLE IF NOT EXISTS meter_values (
    id {serial}, station_id {text} NOT NULL, evse_id {int} NOT NULL,
    transaction_id {big}, timestamp {time} NOT NULL, context {text} NOT NULL, readings {text} NOT NULL,
    UNIQUE (timestamp, station_id, evse_id, transaction_id, context)
);
CREATE INDEX IF NOT EXISTS ix_meter_values_transaction ON meter_values (transaction_id, id);
CREATE TABLE IF NOT EXISTS ocpp_messages (
    id {serial}, station_id {text} NOT NULL, direction {text} NOT NULL,
    message_type {int} NOT NULL, message_id {text}, action {text}, payload {text} NOT NULL,
    at {time} NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_ocpp_messages_station ON ocpp_messages (station_id, id);
CREATE INDEX IF NOT EXISTS ix_ocpp_messages_at ON ocpp_messages (at);
"""
"""The hot tables as silkcharge keys them, in either database's words (`{serial}`: a key the
database numbers; `{key}`: one the server assigns, a transaction's id it answers with)."""

SQLITE_SCHEMA = SCHEMA.format(serial="INTEGER PRIMARY KEY", key="INTEGER PRIMARY KEY", int="INTEGER",
                              big="INTEGER", text="TEXT", time="DATETIME")
POSTGRES_SCHEMA = SCHEMA.format(serial="bigserial PRIMARY KEY", key="bigint PRIMARY KEY", int="int",
                                big="bigint", text="text", time="timestamptz")

# One statement per kind of row; a batch runs each as one executemany, in this order.
STATEMENTS = {
    "station": (
        "INSERT INTO stations (id, version, booted_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (id) DO UPDATE SET version = excluded.version, booted_at = excluded.booted_at"
    ),
    "status": (
        "INSERT INTO connectors (station_id, evse_id, connector_id, status, error_code, status_at, "
        "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (station_id, evse_id, connector_id) "
        "DO UPDATE SET status = excluded.status, error_code = excluded.error_code, "
        "status_at = excluded.status_at, updated_at = excluded.updated_at"
    ),
    "start": (
        "INSERT INTO transactions (id, station_id, station_tx_id, evse_id, id_token, state, started_at, "
        "meter_start_wh, last_seq_no, updated_at) VALUES ($1, $2, $3, $4, $5, 'Active', $6, $7, $8, $9) "
        "ON CONFLICT (station_id, station_tx_id) DO NOTHING"
    ),
    "progress": (
        "UPDATE transactions SET energy_wh = $3, last_seq_no = $4, updated_at = $5 "
        "WHERE station_id = $1 AND station_tx_id = $2"
    ),
    "stop": (
        "UPDATE transactions SET state = 'Completed', stopped_at = $3, energy_wh = $4, updated_at = $5 "
        "WHERE station_id = $1 AND station_tx_id = $2"
    ),
    "reading": (
        "INSERT INTO meter_samples (station_id, evse_id, transaction_id, timestamp, measurand, phase, "
        "location, context, unit, value) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT DO NOTHING"
    ),
    "frame": (
        "INSERT INTO ocpp_messages (station_id, direction, message_type, message_id, action, payload, at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ),
}

# --readings packed: a meter value's readings as one row (their JSON), keyed by its time, station,
# EVSE, session and context, as some CSMSs keep them; the default is silkcharge's row a reading.
PACKED_READINGS = (
    "INSERT INTO meter_values (station_id, evse_id, transaction_id, timestamp, context, readings) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
)


def statements(readings: str) -> dict[str, str]:
    return STATEMENTS if readings == "rows" else {**STATEMENTS, "reading": PACKED_READINGS}


def aware(moment: datetime) -> datetime:
    return moment


def naive_text(moment: datetime) -> str:
    """A datetime as silkcharge's SQLite columns hold one: naive UTC text with microseconds."""
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite(statement: str) -> str:
    """The same statement with SQLite's numbered parameters (`?1` for `$1`)."""
    return statement.replace("$", "?")


def instant(text: str) -> datetime:
    """A station's timestamp as an aware UTC datetime (3.11 reads the trailing Z); a writer's
    `stamp` then makes it what its database binds."""
    return datetime.fromisoformat(text).astimezone(UTC)


def ocpp_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Batch:
    """The rows of the messages gathered while the previous batch was written, and their replies."""

    __slots__ = ("rows", "replies")

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = {name: [] for name in STATEMENTS}
        self.replies: list[tuple[object, bytes]] = []


# -- the writers -----------------------------------------------------------------------------------


class SqliteWriter:
    """One connection on a thread of its own; a batch is one transaction of executemany calls."""

    stamp = staticmethod(naive_text)
    parallel = 1  # one writer at a time: SQLite's own rule

    def __init__(self, path: str, readings: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._statements = {name: _sqlite(sql) for name, sql in statements(readings).items()}

    def _open(self) -> int:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.executescript(SQLITE_SCHEMA)
        self._db = db
        return db.execute("SELECT coalesce(max(id), 0) FROM transactions").fetchone()[0]

    async def open(self) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self._open)

    def _write(self, rows: dict[str, list[tuple]]) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            for name, sql in self._statements.items():
                if rows[name]:
                    db.executemany(sql, rows[name])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    async def write(self, rows: dict[str, list[tuple]]) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, self._write, rows)

    async def close(self) -> None:
        if self._db is not None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self._db.close)
        self._pool.shutdown()


class PostgresWriter:
    """asyncpg; a batch is one transaction, each table's rows one executemany (pipelined), on
    one of `connections` connections: that many batches may be written at once."""

    stamp = staticmethod(aware)

    def __init__(self, dsn: str, readings: str, connections: int) -> None:
        self._dsn = dsn
        self._statements = statements(readings)
        self.parallel = connections
        self._free: asyncio.Queue = asyncio.Queue()
        self._all: list = []

    async def open(self) -> int:
        import asyncpg

        self._all = [await asyncpg.connect(self._dsn) for _ in range(self.parallel)]
        for db in self._all:
            self._free.put_nowait(db)
        await self._all[0].execute(POSTGRES_SCHEMA)
        return await self._all[0].fetchval("SELECT coalesce(max(id), 0) FROM transactions")

    async def write(self, rows: dict[str, list[tuple]]) -> None:
        db = self._free.get_nowait()  # GroupCommit never has more batches out than connections
        try:
            async with db.transaction():
                for name, sql in self._statements.items():
                    if rows[name]:
                        await db.executemany(sql, rows[name])
        finally:
            self._free.put_nowait(db)

    async def close(self) -> None:
        for db in self._all:
            await db.close()


class GroupCommit:
    """Gathers each message's rows into the open batch and hands it to the writer as soon as the
    writer can take one (one at a time on SQLite, up to a connection each on PostgreSQL); a reply
    is sent once its batch is committed. A station's messages stay in order with batches in
    flight at once: OCPP-J lets a station send its next CALL only after the answer to the last,
    so no two of its CALLs are ever out at the same time."""

    def __init__(self, writer) -> None:
        self._writer = writer
        self._open = Batch()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(writer.parallel)
        self._task: asyncio.Task | None = None
        self._writing: set[asyncio.Task] = set()

    @property
    def batch(self) -> Batch:
        self._wake.set()
        return self._open

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await self._slots.acquire()
            self._wake.clear()
            batch, self._open = self._open, Batch()
            task = asyncio.get_running_loop().create_task(self._write(batch))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)

    async def _write(self, batch: Batch) -> None:
        try:
            await self._writer.write(batch.rows)
        except BaseException:
            traceback.print_exc()
            os._exit(70)  # a floor that cannot store must not look slow: the benchmark sees it die
        self._slots.release()
        for transport, reply in batch.replies:
            transport.send(WSMsgType.TEXT, reply)

    async def stop(self) -> None:
        for task in (self._task, *self._writing):
            if task is not None:
                task.cancel()


# -- the protocol ----------------------------------------------------------------------------------


class Station(WSListener):
    """One connection: every CALL checked, answered, and its rows put into the open batch."""

    def __init__(self, server: FloorServer, station_id: str, version: str) -> None:
        self.server = server
        self.station_id = station_id
        self.version = version

    def on_ws_frame(self, transport, frame) -> None:
        if frame.msg_type == WSMsgType.TEXT:
            self.on_text(transport, frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()

    def on_text(self, transport, data: bytes) -> None:
        now = datetime.now(UTC)
        at = self.server.stamp(now)
        batch = self.server.commit.batch
        try:
            message = orjson.loads(data)
            message_type, message_id, action, payload = message
        except (orjson.JSONDecodeError, ValueError, TypeError):
            transport.send(WSMsgType.TEXT, orjson.dumps([4, "-1", "FormatViolation", "not an OCPP CALL", {}]))
            return
        if message_type != 2:
            return  # a station's answer to a CALL of ours: this server sends none
        try:
            validate(self.version, action, payload, response=False, message_id=message_id)
            reply = self.server.handle(self, action, payload, now, at, batch.rows)
            frame = [3, message_id, reply]
        except RpcError as error:
            reply = None
            frame = [4, message_id, error.kind.value, error.description, {}]
        text = orjson.dumps(frame)
        frames = batch.rows["frame"]
        frames.append((self.station_id, "in", 2, message_id, action, data.decode(), at))
        frames.append((self.station_id, "out", frame[0], message_id, action, text.decode(), at))
        if action in STATELESS or reply is None:
            transport.send(WSMsgType.TEXT, text)  # nothing to keep but the log's frames
        else:
            batch.replies.append((transport, text))


class FloorServer:
    def __init__(self, writer, packed: bool) -> None:
        self.commit = GroupCommit(writer)
        self.packed = packed
        self._writer = writer
        self.stamp = writer.stamp
        self._transaction_ids = count(1)
        self._running: dict[tuple[str, str], int] = {}  # (station, its transaction id) -> ours

    async def open(self) -> None:
        self._transaction_ids = count(await self._writer.open() + 1)
        self.commit.start()

    def handle(self, station: Station, action: str, payload: dict, now: datetime, at, rows) -> dict:
        """The reply to a valid CALL; its rows go into `rows` (`at`: now, as the writer stores it)."""
        sid, stamp = station.station_id, self.stamp
        if action == "BootNotification":
            rows["station"].append((sid, station.version, at))
            return {"status": "Accepted", "currentTime": ocpp_time(now), "interval": 300}
        if action == "Heartbeat":
            return {"currentTime": ocpp_time(now)}
        if action == "StatusNotification":
            if station.version == "1.6":
                evse, connector, status = payload["connectorId"], payload["connectorId"], payload["status"]
                error = payload["errorCode"]
            else:
                evse, connector, status = payload["evseId"], payload["connectorId"], payload["connectorStatus"]
                error = None
            status_at = stamp(instant(payload["timestamp"])) if "timestamp" in payload else at
            rows["status"].append((sid, evse, connector, status, error, status_at, at))
            return {}
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}} if station.version == "1.6" else {
                "idTokenInfo": {"status": "Accepted"}}
        if action == "StartTransaction":
            transaction_id = next(self._transaction_ids)
            rows["start"].append((transaction_id, sid, str(transaction_id), payload["connectorId"],
                                  payload["idTag"], stamp(instant(payload["timestamp"])),
                                  str(payload["meterStart"]), None, at))
            return {"transactionId": transaction_id, "idTagInfo": {"status": "Accepted"}}
        if action == "MeterValues":
            tx = payload.get("transactionId")
            self._readings(rows, sid, payload["connectorId"], tx, payload["meterValue"], "value", "unit")
            if tx is not None:
                rows["progress"].append((sid, str(tx), self._energy(payload["meterValue"], "value"), None, at))
            return {}
        if action == "StopTransaction":
            tx = str(payload["transactionId"])
            rows["stop"].append((sid, tx, stamp(instant(payload["timestamp"])), str(payload["meterStop"]), at))
            return {"idTagInfo": {"status": "Accepted"}}
        if action == "TransactionEvent":
            return self._transaction_event(rows, sid, payload, at)
        return {}

    def _transaction_event(self, rows, sid: str, payload: dict, at) -> dict:
        stamp = self.stamp
        info = payload["transactionInfo"]
        tx, event, seq = info["transactionId"], payload["eventType"], payload["seqNo"]
        meter = payload.get("meterValue", ())
        energy = self._energy(meter, "value")
        if event == "Started":
            transaction_id = self._running[sid, tx] = next(self._transaction_ids)
            token = payload.get("idToken", {}).get("idToken")
            rows["start"].append((transaction_id, sid, tx, payload["evse"]["id"], token,
                                  stamp(instant(payload["timestamp"])), energy, seq, at))
        elif event == "Ended":
            transaction_id = self._running.pop((sid, tx), None)
            rows["stop"].append((sid, tx, stamp(instant(payload["timestamp"])), energy, at))
        else:
            transaction_id = self._running.get((sid, tx))
            rows["progress"].append((sid, tx, energy, seq, at))
        evse = payload.get("evse", {}).get("id", 0)
        self._readings(rows, sid, evse, transaction_id, meter, "value", None)
        return {"idTokenInfo": {"status": "Accepted"}} if "idToken" in payload else {}

    def _readings(self, rows, sid, evse, tx, meter_values, value_key, unit_key) -> None:
        readings = rows["reading"]
        for meter_value in meter_values:
            at = self.stamp(instant(meter_value["timestamp"]))
            if self.packed:
                sampled = meter_value["sampledValue"]
                context = sampled[0].get("context", "Sample.Periodic")
                readings.append((sid, evse, tx, at, context, orjson.dumps(sampled).decode()))
                continue
            for sampled in meter_value["sampledValue"]:
                unit = sampled.get(unit_key) if unit_key else sampled.get("unitOfMeasure", {}).get("unit")
                readings.append((
                    sid, evse, tx, at, sampled.get("measurand", "Energy.Active.Import.Register"),
                    sampled.get("phase", ""), sampled.get("location", "Outlet"),
                    sampled.get("context", "Sample.Periodic"), unit, str(sampled[value_key]),
                ))

    @staticmethod
    def _energy(meter_values, value_key) -> str | None:
        for meter_value in meter_values:
            for sampled in meter_value["sampledValue"]:
                if sampled.get("measurand", "Energy.Active.Import.Register") == "Energy.Active.Import.Register":
                    return str(sampled[value_key])
        return None


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=True, help="sqlite:///PATH or postgresql://...")
    parser.add_argument("--readings", choices=("rows", "packed"), default="rows",
                        help="a row a reading, as silkcharge (default), or a row a meter value")
    parser.add_argument("--connections", type=int, default=1,
                        help="PostgreSQL: batches written at once, a connection each (default 1)")
    args = parser.parse_args()
    if args.database.startswith("sqlite:///"):
        if args.connections != 1:
            parser.error("SQLite has one writer: --connections is for PostgreSQL")
        writer = SqliteWriter(args.database.removeprefix("sqlite:///"), args.readings)
    else:
        writer = PostgresWriter(args.database, args.readings, max(1, args.connections))
    server = FloorServer(writer, args.readings == "packed")
    await server.open()

    def upgrade(request):
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        subprotocol = next((p for p in SUBPROTOCOLS if p in offered), None)
        if subprotocol is None:
            return WSUpgradeResponse.create_error_response(400, b"no OCPP subprotocol offered")
        station_id = request.path.decode().rstrip("/").rsplit("/", 1)[-1]
        response = WSUpgradeResponse.create_101_response({"Sec-WebSocket-Protocol": subprotocol})
        return WSUpgradeResponseWithListener(response, Station(server, station_id, SUBPROTOCOLS[subprotocol]))

    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    listener = await ws_create_server(upgrade, "127.0.0.1", args.port)
    async with listener:
        print("ready", flush=True)
        await stop.wait()
    await server.commit.stop()
    await writer.close()


if __name__ == "__main__":
    uvloop.run(main())
