"""`silkcharge loadtest`: tens of thousands of simulated OCPP 1.6 stations against a CSMS.

The generator must not be what limits the measurement, so it is lean: raw WebSocket clients
(no `ocpp` ChargePoint, no schema validation), frames spliced from templates encoded once with
orjson, replies matched by message id, and the stations spread over several worker processes.

    runner.LoadTest     what to run: URL, stations, phases (phases.py), workers, mix
    runner.run()        run it; returns a report.Report (text and JSON)
    probe.ProcessGroup  processes whose CPU and memory the report includes (the server, ...)
"""

from silkcharge.loadtest.phases import BootStorm, Mix, Ramp, ReconnectStorm, Steady
from silkcharge.loadtest.probe import Machine, ProcessGroup
from silkcharge.loadtest.report import PhaseReport, Report
from silkcharge.loadtest.runner import LoadTest, LoadTestFailed, run

__all__ = [
    "BootStorm",
    "LoadTest",
    "LoadTestFailed",
    "Machine",
    "Mix",
    "PhaseReport",
    "ProcessGroup",
    "Ramp",
    "ReconnectStorm",
    "Report",
    "Steady",
    "run",
]
