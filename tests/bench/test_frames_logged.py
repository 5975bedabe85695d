"""bench/ocpp_versus.py reports how much of a closed-loop phase's message log was in the database
when the phase ended (`servers.Target.frames_logged_since`): on SQLite and on PostgreSQL it counts
the frames stamped from a moment on, as the platform's writer stored them."""

from __future__ import annotations

from datetime import timedelta

from silkcharge.domain.clock import utcnow
from silkcharge.services.writer import BatchWriter
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from tests.loading import script_module


async def test_the_frames_counted_are_those_the_log_stored_from_the_moment_asked(database_url):
    servers = script_module("bench/servers.py")
    engine = create_engine_for(database_url, 2)
    writer = BatchWriter(sessionmaker_for(engine))
    now = utcnow()
    earlier, since = now - timedelta(seconds=5), now - timedelta(seconds=1)
    try:
        writer.log_message("LOG-1", "in", 2, "m0", "Heartbeat", "[]", earlier)  # before the phase
        for n in range(3):
            writer.log_message("LOG-1", "in", 2, f"m{n + 1}", "Heartbeat", "[]", since + timedelta(microseconds=n))
            writer.log_message("LOG-1", "out", 3, f"m{n + 1}", None, "[]", since + timedelta(microseconds=n))
        await writer.flush()
    finally:
        await dispose_engine(engine)
    target, in_memory = servers.Target("silkcharge", database_url=database_url), servers.Target("in memory")
    try:
        assert target.frames_logged_since(since) == 6  # the first at `since` itself counts
        assert target.frames_logged_since(now) == 0
        assert in_memory.frames_logged_since(since) is None
    finally:
        target.cleanup()
        in_memory.cleanup()
