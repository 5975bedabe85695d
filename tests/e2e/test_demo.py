"""`silkcharge demo` (what `make demo` runs): seeded network, platform and chargers, all live."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.e2e.server_process import free_port
from tests.guards import HANG_GUARD

pytestmark = pytest.mark.slow


def wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("the demo did not get there in time")


def read_until(process, text: str, lines: list[str]) -> None:
    """Read the demo's output until a line holds `text`; each line must come within the hang
    guard (the demo reports its progress while it seeds and writes its history)."""
    found = queue.Queue()
    threading.Thread(target=lambda: [found.put(line) for line in process.stdout] + [found.put(None)],
                     daemon=True).start()
    while True:
        line = found.get(timeout=HANG_GUARD)
        assert line is not None, "the demo ended: " + "".join(lines)
        lines.append(line)
        if text in line:
            process.lines = found
            return


def test_demo_serves_the_seeded_network_with_live_sessions_and_stops_on_ctrl_c(tmp_path):
    # Every port free, the TLS one too: a demo someone runs on this machine holds the defaults.
    api_port, ocpp_port, tls_port, partner_port = free_port(), free_port(), free_port(), free_port()
    env = {**os.environ, "SILKCHARGE_DEMO_SESSIONS_PER_HOUR": "1500"}
    demo = subprocess.Popen(
        [sys.executable, "-m", "silkcharge.cli", "demo", "--stations", "12",
         "--api-port", str(api_port), "--ocpp-port", str(ocpp_port), "--tls-port", str(tls_port),
         "--partner-port", str(partner_port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"X-API-Key": "demo-key"}, timeout=HANG_GUARD)
    lines: list[str] = []
    try:
        read_until(demo, "Ctrl-C stops everything.", lines)
        stations = wait_for(lambda: api.get("/api/v1/stations").json(), timeout=2 * HANG_GUARD)
        assert len(stations) == 122
        online = wait_for(
            lambda: (s := api.get("/api/v1/status").json()["summary"]).get("online", 0) >= 12 and s, timeout=2 * HANG_GUARD
        )
        assert online["online"] == 12
        assert online["planned"] == 110  # seeded but not simulated: planned, so no alert
        assert "offline" not in online
        sessions = wait_for(lambda: api.get("/api/v1/transactions").json(), timeout=2 * HANG_GUARD)
        # the demo's driver and taxi cards, bank cards at 2.1 chargers (the payment reference is
        # the session's DirectPayment idToken) and the roaming partner's drivers' cards: nothing
        # else charges in the demo
        assert {s["id_token"][:4] for s in sessions} <= {"DEMO", "DYU-", "PSP-", "KG-D"}
        # the simulated chargers are well-behaved: metered sessions, and no plausibility flag
        wait_for(lambda: any(s["energy_wh"] for s in api.get("/api/v1/transactions").json()), timeout=2 * HANG_GUARD)
        assert api.get("/api/v1/plausibility/flags").json() == []
        # a working business: illustrative tariffs, a week of priced history, smart charging
        tariffs = api.get("/api/v1/tariffs").json()
        assert {t["tariff"]["currency"] for t in tariffs} == {"KZT", "KGS", "UZS", "TJS", "TMT", "CNY"}
        history = [s for s in api.get("/api/v1/transactions", params={"limit": 1000}).json()
                   if s["station_tx_id"].startswith("demo-history-")]
        assert history and {s["state"] for s in history} == {"Ended"}
        assert api.get("/api/v1/cdrs").json()
        smart = wait_for(lambda: len(sites := api.get("/api/v1/smart/sites").json()) == 2 and sites, timeout=2 * HANG_GUARD)
        assert {s["depot"] for s in smart} == {True, False}
        # the taxi depot's V2G car on its bidirectional charger
        depot = wait_for(lambda: api.get("/api/v1/smart/sites/TJ-DUS-002/depot/vehicles").json(), timeout=2 * HANG_GUARD)
        assert [(v["code"], v["station_id"]) for v in depot if v["v2g"]] == [("taxi-02", "TJ-DUS-002-B")]
        # the roaming partner, a second silkcharge (an eMSP), registered over OCPI and pulled our
        # stations: its drivers find them marked as roaming, priced in KGS at its example rates
        [partner] = wait_for(lambda: [p for p in api.get("/api/v1/roaming/partners").json()
                                      if p["state"] == "registered"], timeout=2 * HANG_GUARD)
        assert partner["name"] == "Demo partner eMSP (Kyrgyzstan)"
        with httpx.Client(base_url=f"http://127.0.0.1:{partner_port}", timeout=HANG_GUARD) as theirs:
            found = wait_for(lambda: theirs.get("/api/v1/search/stations", params={
                "lat": 43.24, "lon": 76.9, "radius_km": 10}).json()["results"], timeout=2 * HANG_GUARD)
        assert {r["roaming"]["party"] for r in found} == {"KZ*SLK"}
        prices = [c["price"] for r in found for st in r["stations"] for c in st["connectors"]]
        assert {p["currency"] for p in prices} == {"KGS"} and all(p["roaming"]["currency"] == "KZT" for p in prices)
        # the partner's drivers charge at our stations with the cards it pushed to us: the
        # session is ours and theirs, seen from each side
        ours = wait_for(lambda: [r for r in api.get("/api/v1/roaming/sessions").json()
                                 if r["direction"] == "theirs_at_ours"], timeout=2 * HANG_GUARD)
        assert {r["token_uid"][:7] for r in ours} == {"KG-DPE-"}
        with httpx.Client(base_url=f"http://127.0.0.1:{partner_port}", headers={"X-API-Key": "demo-key"},
                          timeout=HANG_GUARD) as theirs:
            seen = wait_for(lambda: [r for r in theirs.get("/api/v1/roaming/sessions").json()
                                     if r["direction"] == "ours_at_theirs"], timeout=2 * HANG_GUARD)
        assert {r["session_id"] for r in seen} <= {r["session_id"] for r in api.get("/api/v1/roaming/sessions").json()}
        # charging profiles at work on one of those sessions: the partner set one, our operator
        # lowered the station's maximum, and the session's active profile was pushed to the partner
        with httpx.Client(base_url=f"http://127.0.0.1:{partner_port}", headers={"X-API-Key": "demo-key"},
                          timeout=HANG_GUARD) as theirs:
            [pushed] = wait_for(lambda: (got := theirs.get("/api/v1/roaming/charging-profiles/pushed")).status_code
                                == 200 and got.json(), timeout=2 * HANG_GUARD)
        exchanged = {(r["direction"], r["kind"], r["session_id"], r["result"])
                     for r in api.get("/api/v1/roaming/charging-profiles").json()}
        assert {("received", "SET", pushed["session_id"], "ACCEPTED"),
                ("pushed", "ACTIVE", pushed["session_id"], "ACCEPTED")} <= exchanged, exchanged
        # an operator raises a charger to security profile 2: it trusts the demo CA and comes
        # back over wss
        # (12 chargers at 1,500 sessions an hour: for minutes every one may be charging, so an
        # idle one is taken if there is one, else any: a busy one comes back once idle, below)
        online = wait_for(lambda: [(sid, s) for sid, s in api.get("/api/v1/status").json()["stations"].items()
                                   if s["online"]], timeout=2 * HANG_GUARD)
        raised = next((sid for sid, s in online if not any(c["in_transaction"] for c in s["connectors"])),
                      online[0][0])
        upgrade = api.post(f"/api/v1/stations/{raised}/security-profile-upgrade", json={"profile": 2})
        assert upgrade.status_code == 200, upgrade.text
        # A busy 2.0.1 station (or one a driver plugged into since that look) schedules its
        # reset (OnIdle) and starts no new session meanwhile; the operator ends those running.
        assert upgrade.json()["status"] in ("Accepted", "Scheduled")
        stopped: dict[int, object] = {}  # each session stopped, with what the station answered

        def raised_and_back() -> bool:
            station = api.get(f"/api/v1/stations/{raised}").json()
            if station["security_profile"] == 2 and station["online"]:
                return True
            if upgrade.json()["status"] == "Scheduled":
                for tx in api.get("/api/v1/transactions", params={"station_id": raised, "state": "Active"}).json():
                    if tx["id"] not in stopped:  # (it may end on its own meanwhile: any answer will do)
                        answer = api.post(f"/api/v1/stations/{raised}/commands/remote_stop",
                                          json={"transaction_id": tx["id"]})
                        said = answer.json() if "json" in answer.headers.get("content-type", "") else answer.text
                        stopped[tx["id"]] = (tx["evse_id"], answer.status_code,
                                             said.get("status") if isinstance(said, dict) else said)
            return False

        try:
            wait_for(raised_and_back, timeout=2 * HANG_GUARD)
        except AssertionError:
            frames = [(m["at"], m["direction"], m["action"], m["payload"][:200])
                      for m in api.get(f"/api/v1/stations/{raised}/messages", params={"limit": 40}).json()]
            raise AssertionError(f"{raised} is not back on profile 2: the upgrade answered {upgrade.json()}; "
                                 f"now {api.get(f'/api/v1/stations/{raised}').json()}; stopped {stopped}; "
                                 f"its last frames, newest first: {frames}") from None
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            demo.kill()  # never left running after a failure; the test fails on its return code below
            demo.wait()
        api.close()
    rest = getattr(demo, "lines", None)
    while rest is not None and (line := rest.get(timeout=HANG_GUARD)) is not None:
        lines.append(line)
    output = "".join(lines)
    assert demo.returncode == 0, output
    assert f"http://127.0.0.1:{api_port}/docs" in output
    assert f"demo roaming: the partner set 32 A on its driver's session {pushed['session_id']}" in output
    assert (tmp_path / "var/demo/silkcharge.sqlite3").exists()
