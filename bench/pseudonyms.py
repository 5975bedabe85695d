"""Drivers' data benchmark: what pseudonyms cost on reading the message log, and what deleting an
account costs with a large message log.

1. `Pseudonyms.frame` on typical frames (Heartbeat without personal data, 1.6 StartTransaction,
   2.0.1 TransactionEvent with an idToken object, a 1.6 SendLocalList of 100 cards): microseconds
   per frame; a message-log page is at most 1,000 frames.
2. `DriverService.delete_account` on SQLite with N SYNTHETIC logged frames (seeded RNG; one frame
   in 1,000 carries the driver's card): the account goes in one database transaction, which
   rewrites the frames that carry the card (a scan of the log's payloads).

    .venv/bin/python bench/pseudonyms.py [--frames 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform as machine
import random
import tempfile
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert

from silkcharge.domain.pseudonyms import Pseudonyms
from silkcharge.services.drivers import DriverService
from silkcharge.services.pseudonym_key import PseudonymKey
from silkcharge.store.db import create_engine_for, migrate, sessionmaker_for
from silkcharge.store.schema import OcppMessage

CARD = "04A1B2C3D4E5F6"
FRAMES = {
    "Heartbeat (no personal data)": [2, "m1", "Heartbeat", {}],
    "1.6 StartTransaction": [2, "m2", "StartTransaction", {"connectorId": 1, "idTag": CARD, "meterStart": 1200,
                                                          "timestamp": "2026-11-21T10:00:00.000Z"}],
    "2.0.1 TransactionEvent": [2, "m3", "TransactionEvent", {
        "eventType": "Started", "timestamp": "2026-11-21T10:00:00.000Z", "triggerReason": "Authorized",
        "seqNo": 0, "transactionInfo": {"transactionId": "t-1"}, "evse": {"id": 1, "connectorId": 1},
        "idToken": {"idToken": CARD, "type": "ISO14443"},
        "meterValue": [{"timestamp": "2026-11-21T10:00:00.000Z", "sampledValue": [{"value": 1200.0}]}]}],
    "1.6 SendLocalList, 100 cards": [2, "m4", "SendLocalList", {
        "listVersion": 3, "updateType": "Full",
        "localAuthorizationList": [{"idTag": f"CARD-{n:04d}", "idTagInfo": {"status": "Accepted"}}
                                   for n in range(100)]}],
}


def frame_costs(rounds: int = 20_000) -> None:
    pseudonyms = Pseudonyms(b"k" * 32)
    print("| frame | bytes | µs per frame |\n|---|---:|---:|")
    for name, frame in FRAMES.items():
        text = json.dumps(frame)
        n = rounds if len(text) < 1000 else rounds // 20
        start = time.perf_counter()
        for _ in range(n):
            pseudonyms.frame(text)
        print(f"| {name} | {len(text):,} | {(time.perf_counter() - start) / n * 1e6:.1f} |")


async def deletion_cost(frames: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.sqlite3"
        migrate(url)
        engine = create_engine_for(url)
        sessions = sessionmaker_for(engine)
        key = PseudonymKey(sessions)
        await key.start()
        drivers = DriverService(sessions, timedelta(hours=1), pseudonyms=key)
        account = await drivers.register("bench@example.kz", "correct horse", "Bench")
        rng = random.Random(15)
        at = datetime(2026, 11, 1, tzinfo=timezone.utc)
        app_token = account.tokens[0]
        rows = []
        for n in range(frames):
            token = app_token if rng.random() < 0.001 else f"OTHER-{rng.randrange(10_000):05d}"
            rows.append({"station_id": f"ST-{n % 500:03d}", "direction": "in", "message_type": 2,
                         "message_id": f"m{n}", "action": "Authorize", "error_code": None,
                         "payload": json.dumps([2, f"m{n}", "Authorize", {"idTag": token}]),
                         "at": at + timedelta(seconds=n)})
        async with sessions.begin() as session:
            for chunk in range(0, len(rows), 10_000):
                await session.execute(insert(OcppMessage.__table__), rows[chunk:chunk + 10_000])
        login = await drivers.login("bench@example.kz", "correct horse")
        start = time.perf_counter()
        await drivers.delete_account(login.driver, login.token, "correct horse")
        took = time.perf_counter() - start
        await engine.dispose()
    print(f"\ndelete_account with {frames:,} logged frames (SQLite): {took * 1000:,.0f} ms "
          f"(scrypt check of the password included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    print(f"machine: {machine.processor() or machine.machine()}, Python {machine.python_version()}\n")
    frame_costs()
    asyncio.run(deletion_cost(args.frames))


if __name__ == "__main__":
    main()
