"""What the stations of one worker saw in one phase, and the arithmetic to merge and summarise.

Every CALL ends in exactly one of: a reply in time (its latency recorded; a CALLERROR also
counted by code), a reply after the timeout (`late`), or none at all (`lost`: the socket closed
under it, or the run ended first). `timeouts` counts CALLs that outlived the timeout, whether a
late reply came or not, so `sent == answered + timeouts` once the phase is over and
`timeouts == late + lost_after_timeout`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Tally:
    sent: int = 0
    answered: int = 0
    answered_in_window: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    call_errors: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    late: int = 0
    lost: int = 0
    disconnects: int = 0
    reconnects: int = 0
    handshake_failures: dict[str, int] = field(default_factory=dict)
    connect_ms: list[float] = field(default_factory=list)
    boots_accepted: int = 0
    boots_pending: int = 0
    boots_rejected: int = 0
    boot_ms: list[float] = field(default_factory=list)
    transactions_started: int = 0
    transactions_stopped: int = 0
    stations: int = 0  # stations that took part
    settled: int = 0  # of those, how many reached the phase's goal (booted, reconnected)
    last_settled_at: float | None = None  # system-wide monotonic clock
    held: int = 0  # sockets open at the end of the phase
    loadgen_cpu_s: float = 0.0

    def count_error(self, code: str) -> None:
        self.call_errors[code] = self.call_errors.get(code, 0) + 1

    def count_handshake_failure(self, reason: str) -> None:
        self.handshake_failures[reason] = self.handshake_failures.get(reason, 0) + 1

    def settle(self, moment: float) -> None:
        self.settled += 1
        if self.last_settled_at is None or moment > self.last_settled_at:
            self.last_settled_at = moment

    def merge(self, other: Tally) -> None:
        for name, value in vars(other).items():
            mine = getattr(self, name)
            if isinstance(value, list):
                mine.extend(value)
            elif isinstance(value, dict):
                for key, count in value.items():
                    mine[key] = mine.get(key, 0) + count
            elif name == "last_settled_at":
                if value is not None and (mine is None or value > mine):
                    self.last_settled_at = value
            else:
                setattr(self, name, mine + value)
