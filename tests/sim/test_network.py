"""What a simulated station lets a CSMS change about how it connects, as a real one would."""

from __future__ import annotations

from silkcharge.sim.network import Network

WS, WSS = "ws://csms.test/ocpp", "wss://csms.test/ocpp"


def network(**options) -> Network:
    return Network("ST-1", "first-password-16", WS, tls_url=WSS, **options)


def test_b09_a_network_profile_below_the_current_security_profile_is_refused():
    station = network(security_profile=2)
    assert station.current().url == WSS
    assert station.set_slot(1, WS, 1) == "Rejected"
    assert station.set_slot(1, WSS, 2) == "Accepted"


def test_b09_the_slot_in_use_and_profile_3_without_a_certificate_are_refused():
    station = network()
    assert station.set_slot(0, WSS, 2) == "Rejected"
    assert station.set_slot(1, WSS, 3) == "Rejected"
    assert station.set_slot(1, WS, 2) == "Rejected"  # profile 2 is TLS
    assert network(certificate_file="station.pem").set_slot(1, WSS, 3) == "Accepted"


def test_b10_priority_names_configured_slots_only_and_a_failing_profile_falls_back():
    station = network(attempts=2)
    assert station.set_priority("1,0") is False
    station.set_slot(1, WSS, 2)
    assert station.set_priority("1,0") is True
    assert station.current().url == WSS
    station.failed()
    station.failed()
    assert station.current().url == WS
    station.start_over()
    assert station.current().url == WSS


def test_tc_073_authorization_key_is_the_password_hex_encoded_of_16_to_20_bytes():
    station = network()
    assert station.set_authorization_key("not hex") == "Rejected"
    assert station.set_authorization_key(b"short".hex()) == "Rejected"
    assert station.set_authorization_key((b"x" * 21).hex()) == "Rejected"
    assert station.set_authorization_key(b"sixteen-chars-ok".hex().upper()) == "Accepted"
    assert station.headers(station.current())["Authorization"].startswith("Basic ")
    assert station.password == b"sixteen-chars-ok"


def test_tc_084_a_1_6_security_profile_is_only_raised():
    station = network(security_profile=2)
    assert station.raise_profile(1) == "Rejected"
    assert station.raise_profile(3) == "Rejected"  # no client certificate
    assert network().raise_profile(2) == "Accepted"
