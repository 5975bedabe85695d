"""The 1.6 MeterValues the write benchmarks store, as the gateway's bulk makes them: shared by
`pg_meter_write.py` and `sqlite_meter_write.py`, so the two databases write the same messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from silkcharge.domain.charging import MeterSample
from silkcharge.services.transactions import ENERGY_CHANGES, _Message, _Running

MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"), ("Power.Active.Import", "W"), ("Current.Import", "A"), ("Voltage", "V"),
)
START = datetime(2026, 12, 1, tzinfo=UTC)


def message(station: int, tx: int, reading: int) -> _Message:
    """One station's MeterValues as the gateway's 1.6 bulk makes it: four readings, and its
    session with the energy they moved it to."""
    at = START + timedelta(seconds=60 * reading)
    energy = Decimal(1000 + 120 * reading)
    values = (energy, Decimal(7210), Decimal("31.3"), Decimal("230.1"))
    samples = tuple(MeterSample(at, measurand, value, unit, location="Outlet", context="Sample.Periodic")
                    for (measurand, unit), value in zip(MEASURANDS, values, strict=True))
    session = _Running(tx, f"ST-{station}", "1", 1, "Active", START, Decimal(1000), energy - 1000)
    return _Message(1, f"ST-{station}", 1, samples, session, ENERGY_CHANGES)
