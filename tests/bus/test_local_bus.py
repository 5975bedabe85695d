"""The in-process event bus: each subscriber gets the kinds of event it asked for, in order."""

from __future__ import annotations

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.events import ConnectorStatusChanged, TransactionEnded


def status(station: str) -> ConnectorStatusChanged:
    return ConnectorStatusChanged(station, utcnow(), 1, 1, "Charging", None)


def ended(station: str, transaction_id: int) -> TransactionEnded:
    return TransactionEnded(station, utcnow(), transaction_id, "1200", "Local")


async def test_a_subscriber_that_names_kinds_is_given_only_those_and_one_that_names_none_every_event():
    bus = EventBus()
    async with bus.subscribe(kinds=(TransactionEnded,)) as billing, bus.subscribe() as view:
        bus.publish(status("A"))
        bus.publish(ended("A", 7))
        bus.publish(status("B"))
        bus.publish(ended("B", 8))
        assert [billing.get_nowait().transaction_id for _ in range(billing.qsize())] == [7, 8]
        assert [type(view.get_nowait()).__name__ for _ in range(view.qsize())] == [
            "ConnectorStatusChanged", "TransactionEnded", "ConnectorStatusChanged", "TransactionEnded"]


async def test_events_from_other_nodes_reach_views_of_their_kinds_and_never_local_only_subscribers():
    bus = EventBus()
    async with (
        bus.subscribe(local_only=True, kinds=(TransactionEnded,)) as acting,
        bus.subscribe(kinds=(ConnectorStatusChanged,)) as map_view,
    ):
        bus.publish_remote(ended("C", 9))
        bus.publish_remote(status("C"))
        assert acting.empty()
        assert map_view.qsize() == 1 and map_view.get_nowait().station_id == "C"
