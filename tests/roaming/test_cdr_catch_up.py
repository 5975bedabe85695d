"""A CDR of a partner's driver whose push was lost (the process stopped between billing's commit
and the push's) reaches the eMSP all the same: the catch-up finds a CDR with no mark of its
push and enqueues it, once. Two silkcharge networks over real HTTP and a real OCPP 1.6 session,
on SQLite and PostgreSQL, as in test_sessions_cdrs.py."""

from __future__ import annotations

from datetime import timedelta

from ocpp.v16 import call

from silkcharge.domain.clock import to_ocpp, utcnow
from silkcharge.store.schema import ChargeDetailRecord, RoamingCdr, RoamingOutboxRow
from tests.e2e.network import add_token
from tests.e2e.peers import connected_peer, eventually
from tests.roaming.test_sessions_cdrs import CARD, card_known, kz, roaming, rows, uz, uzbek_station  # noqa: F401 (the fixtures kz, uz, roaming)


async def test_a_cdr_whose_push_was_lost_is_enqueued_by_the_catch_up_exactly_once(roaming):  # noqa: F811 (the fixture imported above)
    almaty, tashkent, _, _ = roaming
    await add_token(almaty.api, CARD)

    await card_known(tashkent)
    ocpp_url = await uzbek_station(tashkent)
    # The Uzbek follower of sessions and CDRs stops: every push of this session is lost, as when
    # the process dies right after billing commits the CDR.
    await tashkent.platform.roaming_sessions.stop()
    start = utcnow().replace(microsecond=0) - timedelta(hours=1)
    async with connected_peer(ocpp_url, "TAS-01", "1.6") as station:
        await station.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        begun = await station.call(call.StartTransaction(connector_id=1, id_tag=CARD, meter_start=0,
                                                         timestamp=to_ocpp(start)))
        await station.call(call.StopTransaction(meter_stop=12000, timestamp=to_ocpp(start + timedelta(minutes=40)),
                                                transaction_id=begun.transaction_id, id_tag=CARD))

    async def billed_in_tashkent():
        return await rows(tashkent, ChargeDetailRecord)

    [made] = await eventually(billed_in_tashkent)
    assert await rows(tashkent, RoamingOutboxRow, RoamingOutboxRow.module == "cdrs") == []  # lost

    catch_up = tashkent.platform.roaming_sessions.catch_up
    assert await catch_up() == []  # a CDR younger than two minutes is left to its event
    assert await catch_up(after=timedelta(0)) == [made.id]

    async def arrived_in_almaty():
        return await rows(almaty, RoamingCdr)

    [cdr] = await eventually(arrived_in_almaty)
    assert (cdr.session_id, cdr.currency, cdr.total_incl_vat) == (str(begun.transaction_id), "UZS", made.total_incl_vat)
    assert await catch_up(after=timedelta(0)) == []  # marked with its push: never enqueued twice
    assert len(await rows(tashkent, RoamingOutboxRow, RoamingOutboxRow.module == "cdrs")) == 1
