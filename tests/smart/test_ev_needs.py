"""What an ISO 15118 car says it needs, in load management's amperes per phase (K15)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from silkcharge.smart.ev_needs import EvNeeds

NOW = datetime(2026, 12, 2, 18, 0, tzinfo=timezone.utc)


def test_k15_ac_needs_give_the_cars_own_current_range_and_the_current_its_departure_needs():
    ev = EvNeeds.from_ocpp201({
        "requestedEnergyTransfer": "AC_three_phase", "departureTime": "2026-12-02T20:00:00.000Z",
        "acChargingParameters": {"energyAmount": 27600, "evMinCurrent": 6, "evMaxCurrent": 16, "evMaxVoltage": 400}})
    assert (ev.min_current_a, ev.max_a(230, 3), ev.departure) == (6, 16, NOW + timedelta(hours=2))
    # 27.6 kWh in 2 h is 13.8 kW: 20 A per phase at 230 V on three phases; half delivered, half.
    assert ev.needed_a(NOW, 0, 230, 3) == pytest.approx(20)
    assert ev.needed_a(NOW, 13800, 230, 3) == pytest.approx(10)
    assert ev.needed_a(NOW, 30000, 230, 3) == 0
    assert ev.needed_a(NOW + timedelta(hours=3), 0, 230, 3) == float("inf")


def test_k15_dc_needs_become_the_ac_current_that_feeds_the_battery():
    by_power = EvNeeds.from_ocpp201({"requestedEnergyTransfer": "DC", "dcChargingParameters": {
        "evMaxCurrent": 200, "evMaxVoltage": 800, "evMaxPower": 13800}})
    assert by_power.max_a(230, 3) == pytest.approx(20)
    by_current = EvNeeds.from_ocpp201({"requestedEnergyTransfer": "DC", "dcChargingParameters": {
        "evMaxCurrent": 20, "evMaxVoltage": 345}})
    assert by_current.max_a(230, 3) == pytest.approx(10)
    assert by_current.needed_a(NOW, 0, 230, 3) is None  # no energy, no departure: nothing to plan for
