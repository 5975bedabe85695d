"""What the processes under measurement spent, read from /proc (Linux).

A group is a set of root processes and everything below them, so a server that forks gateway
workers, or PostgreSQL with a backend per connection, is measured whole. CPU includes the
children a process already reaped (its cutime and cstime), so short-lived backends count too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat from the 'state' field on (the command name may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, with_reaped_children: bool = False) -> float:
    """User + system CPU seconds of a process (all its threads)."""
    fields = stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
    if with_reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / CLOCK_TICK


def rss_kib(pid: int) -> int:
    """Resident memory now (the second field of /proc/<pid>/statm, in pages)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB


def sockets_open(pid: int) -> int:
    """How many sockets the process has open (listening ones, database connections included)."""
    count = 0
    for entry in os.scandir(f"/proc/{pid}/fd"):
        try:
            count += os.readlink(entry.path).startswith("socket:")
        except OSError:
            continue
    return count


def parent_of(pid: int) -> int | None:
    try:
        return int(stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return None


def descendants(roots: tuple[int, ...]) -> set[int]:
    """The roots and every live process below them."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid for pid in roots if Path(f"/proc/{pid}").exists()]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (user, nice, system, irq, softirq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields)
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICK


def memory_used_kib() -> int:
    """The machine's memory in use: MemTotal - MemAvailable."""
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _, value = line.partition(":")
        info[name] = int(value.split()[0])
    return info["MemTotal"] - info["MemAvailable"]


@dataclass(frozen=True)
class Sample:
    cpu_s: float
    rss_kib: int
    processes: int | None  # None for the machine as a whole
    sockets: int | None = None


@dataclass(frozen=True)
class ProcessGroup:
    """Processes measured as one: a server's, the database's, the load generator's."""

    name: str
    roots: tuple[int, ...]
    tree: bool = True

    def sample(self) -> Sample:
        pids = descendants(self.roots) if self.tree else set(self.roots)
        cpu, rss, alive, sockets = 0.0, 0, 0, 0
        for pid in pids:
            try:
                cpu += cpu_seconds(pid, with_reaped_children=True)
                rss += rss_kib(pid)
                sockets += sockets_open(pid)
                alive += 1
            except (OSError, ValueError, IndexError):
                continue  # it exited between the listing and the read
        return Sample(cpu, rss, alive, sockets)


@dataclass(frozen=True)
class Machine:
    """The whole machine as a group: every core's busy time, and the memory in use."""

    name: str = "machine"

    def sample(self) -> Sample:
        return Sample(machine_busy_seconds(), memory_used_kib(), None)
