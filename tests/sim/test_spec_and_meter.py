"""Fleet files and the meter model: pure pieces, no sockets."""

from __future__ import annotations

import json
import random
from decimal import Decimal

import pytest

from silkcharge.domain.connectors import ConnectorStandard, CurrentType
from silkcharge.sim.meter import Ev, Meter
from silkcharge.sim.spec import ConnectorSpec, FleetFileError, load_fleet, save_fleet

STATION = {
    "station_id": "BISH-07", "password": "pw", "ocpp_version": "1.6", "vendor": "Kyrgyz EV",
    "model": "AC-22", "firmware_version": "0.9",
    "connectors": [{"evse_id": 1, "connector_id": 1, "standard": "Type 2",
                    "max_power_kw": "22"}],
}


def test_load_fleet_reads_stations_with_decimal_power(tmp_path):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([STATION]))
    [spec] = load_fleet(path)
    assert spec.station_id == "BISH-07" and spec.ocpp_version == "1.6"
    assert spec.connectors == (ConnectorSpec(1, 1, ConnectorStandard.TYPE2, Decimal("22")),)


def test_a_fleet_file_others_may_read_is_read_with_a_warning_and_saved_for_its_owner_only(tmp_path, caplog):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{**STATION, "security_profile": 2}]))
    path.chmod(0o644)
    [spec] = load_fleet(path)
    assert spec.security_profile == 2 and spec.certificate_file is None  # optional fields
    assert "others may read it" in caplog.text
    save_fleet(path, [STATION])
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("change, message", [
    ({"ocpp_version": "1.5"}, "OCPP version"),
    ({"security_profile": 3}, "needs a certificate_file"),
    ({"security_profile": 4}, "not 1, 2 or 3"),
    ({"colour": "blue"}, "unknown fields"),
    ({"connectors": []}, "at least one connector"),
    ({"connectors": [{**STATION["connectors"][0], "max_power_kw": "-3"}]}, "max_power_kw"),
    ({"connectors": [{**STATION["connectors"][0], "standard": "SCART"}]}, "unknown connector"),
])
def test_load_fleet_names_the_entry_that_is_wrong(tmp_path, change, message):
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps([{**STATION, **change}]))
    with pytest.raises(FleetFileError, match=message):
        load_fleet(path)


def meter(standard: ConnectorStandard, kw: str) -> Meter:
    spec = ConnectorSpec(1, 1, standard, Decimal(kw))
    return Meter(spec, random.Random(1), Decimal(1000))


def test_meter_integrates_power_over_time_into_the_register():
    m = meter(ConnectorStandard.TYPE2, "22")
    m.connect(Ev(Decimal(60000), Decimal(20), Decimal(30000), Decimal(11000)), now=0.0)
    sample = m.advance(now=360.0)  # a tenth of an hour at 11 kW
    assert sample.energy_wh == 1000 + 1100
    assert sample.power_w == 11000 and len(sample.current_a) == 3
    assert sample.soc_percent is None and sample.current_type is CurrentType.AC


def test_meter_stops_drawing_once_the_ev_has_what_it_wanted():
    m = meter(ConnectorStandard.CCS2, "150")
    m.connect(Ev(Decimal(60000), Decimal(20), Decimal(500), Decimal(100000)), now=0.0)
    sample = m.advance(now=3600.0)
    assert sample.energy_wh == 1500 and sample.power_w == 0
    assert m.ev.full and sample.soc_percent == 20


def test_dc_power_tapers_above_80_percent_soc():
    m = meter(ConnectorStandard.GBT_DC, "120")
    m.connect(Ev(Decimal(50000), Decimal(90), Decimal(5000), Decimal(150000)), now=0.0)
    assert Decimal(0) < m.power_w() < Decimal(120000)
    assert len(m.sample().current_a) == 1


def test_single_phase_for_small_ac_connectors():
    m = meter(ConnectorStandard.TYPE2, "7.4")
    m.connect(Ev(Decimal(40000), Decimal(20), Decimal(1000), Decimal(7400)), now=0.0)
    assert len(m.sample().current_a) == 1
