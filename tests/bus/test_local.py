"""The in-process event bus: who is handed which event."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from silkcharge.bus.local import EventBus
from silkcharge.domain.events import (
    ConnectorStatusChanged,
    Event,
    StationBooted,
    StationConnected,
    TransactionEnded,
)

AT = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


def status(station: str = "KZ-ALA-001") -> ConnectorStatusChanged:
    return ConnectorStatusChanged(station, AT, 1, 1, "Charging", None)


def boot(station: str = "KZ-ALA-001") -> StationBooted:
    return StationBooted(station, AT, "Accepted")


def drained(queue: asyncio.Queue) -> list[Event]:
    taken = []
    while not queue.empty():
        taken.append(queue.get_nowait())
    return taken


async def test_a_subscriber_naming_kinds_is_handed_only_those_and_one_naming_none_every_event():
    bus = EventBus()
    async with bus.subscribe(kinds=(StationBooted, TransactionEnded)) as some, bus.subscribe() as every:
        events = [status(), boot(), StationConnected("KZ-ALA-001", AT, "1.6"), boot("UZ-TAS-002")]
        for event in events:
            bus.publish(event)
        assert drained(some) == [events[1], events[3]]
        assert drained(every) == events


async def test_a_kind_takes_its_subclasses_too():
    class Rebooted(StationBooted):
        pass

    bus = EventBus()
    async with bus.subscribe(kinds=(StationBooted,)) as queue:
        event = Rebooted("KZ-ALA-001", AT, "Accepted")
        bus.publish(event)
        assert drained(queue) == [event]


async def test_subscribers_joining_and_leaving_after_events_of_a_kind_were_routed_are_heard():
    """Where each kind of event goes is worked out once; a subscriber that comes or goes
    changes it."""
    bus = EventBus()
    async with bus.subscribe(kinds=(ConnectorStatusChanged,)) as first:
        bus.publish(status("A"))
        async with bus.subscribe(kinds=(ConnectorStatusChanged,)) as second:
            bus.publish(status("B"))
            assert [e.station_id for e in drained(second)] == ["B"]
        bus.publish(status("C"))
        assert [e.station_id for e in drained(first)] == ["A", "B", "C"]
        assert second.empty()  # gone: not handed C


async def test_an_event_from_another_node_skips_local_only_subscribers_and_keeps_to_kinds():
    bus = EventBus()
    async with (
        bus.subscribe(local_only=True, kinds=(ConnectorStatusChanged,)) as acting,
        bus.subscribe(kinds=(ConnectorStatusChanged,)) as view,
        bus.subscribe(kinds=(StationBooted,)) as other_view,
    ):
        remote = status("ELSEWHERE")
        bus.publish_remote(remote)
        bus.publish(status("HERE"))
        assert [e.station_id for e in drained(view)] == ["ELSEWHERE", "HERE"]
        assert [e.station_id for e in drained(acting)] == ["HERE"]
        assert other_view.empty()


async def test_an_event_nobody_takes_asks_no_origin():
    """With data residency each event carries where it happened; one that no subscriber takes
    is not even stamped."""
    asked = []
    bus = EventBus(origin=lambda: asked.append(1) or "kz-db", enter=lambda _place: None)
    async with bus.subscribe(kinds=(StationBooted,)) as queue:
        bus.publish(status())
        assert asked == []
        bus.publish(boot())
        assert asked == [1]
        assert drained(queue) == [boot()]


@pytest.mark.parametrize("kinds", [(str,), ("StationBooted",), (StationBooted, int)])
async def test_kinds_that_are_not_event_classes_are_refused_at_subscription(kinds):
    bus = EventBus()
    with pytest.raises(TypeError, match="Event classes"):
        async with bus.subscribe(kinds=kinds):
            pass
