"""Holding tens of thousands of client sockets on one machine.

Two limits stop a load generator long before the server does:

- **Open files.** Every socket is a file descriptor, and a process's soft RLIMIT_NOFILE is often
  1,024 (20,000 on the project's machine, hard limit included). `raise_open_files` lifts the
  soft limit to what is needed, and the hard limit too when the process may (root, or
  CAP_SYS_RESOURCE), up to the kernel's `fs.nr_open`.
- **Ephemeral ports.** A TCP connection is named by (source address, source port, destination
  address, destination port). Towards one server port, each source address has only the
  ephemeral range, `net.ipv4.ip_local_port_range` (32768-60999: about 28,000 ports). The whole
  127.0.0.0/8 block is loopback, so against a server on 127.0.0.x the generator spreads its
  sockets over several source addresses, binding each socket with IP_BIND_ADDRESS_NO_PORT so the
  kernel picks the port at connect time from the full four-tuple.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import resource
import socket
from pathlib import Path

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)  # Linux >= 4.2
# Connect picks its port from the odd half of the ephemeral range first (Linux leaves the even
# half to bind()), about 14,000 ports per source address, and searches it from a random start:
# at 17,000 sockets per address a 50,000-station ramp spent half the generator's CPU inside
# connect(). A few thousand per address keeps the search short.
SOCKETS_PER_SOURCE = 5_000
FILES_BESIDES_SOCKETS = 256  # pipes, the interpreter's own files, a margin


class LimitTooLow(Exception):
    """The process may not open as many sockets as asked for."""


def raise_open_files(needed: int) -> int:
    """Make room for `needed` sockets; return the soft limit now in force.

    Raises LimitTooLow, naming the fix, when even the hard limit is too low and this process
    may not raise it."""
    wanted = needed + FILES_BESIDES_SOCKETS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            ceiling = min(wanted, int(Path("/proc/sys/fs/nr_open").read_text()))
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
        except (OSError, ValueError):
            raise LimitTooLow(
                f"{needed} sockets need {wanted} open files but the hard limit is {hard} "
                f"(see `ulimit -Hn`): raise it (limits.conf, systemd LimitNOFILE=, or run as "
                f"root) or use more worker processes"
            ) from None
        if ceiling < wanted:
            raise LimitTooLow(f"{needed} sockets need {wanted} open files; fs.nr_open is {ceiling}")
        return ceiling
    soft = wanted if hard == resource.RLIM_INFINITY else hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def source_addresses(host: str, sockets: int) -> tuple[str, ...]:
    """Source addresses to spread `sockets` connections to `host` over: for a loopback server,
    enough addresses of 127.0.0.0/8 for SOCKETS_PER_SOURCE each; otherwise none (the kernel
    picks the machine's address, and its ~28,000 ports per server port are the limit)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return ()
    if not (address.version == 4 and address.is_loopback):
        return ()
    count = max(1, math.ceil(sockets / SOCKETS_PER_SOURCE))
    return tuple(f"127.0.{k // 250}.{k % 250 + 2}" for k in range(count))


async def open_tcp(host: str, port: int, source: str | None) -> socket.socket:
    """A connected, non-blocking TCP socket, bound to `source` when given."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and a station's
    # small frames must not wait for the server's delayed ACK (Nagle's algorithm).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setblocking(False)
        if source:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((source, 0))
        await asyncio.get_running_loop().sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def resolve(host: str, port: int) -> str:
    """The server's address, looked up once so 50,000 connects do not each ask the resolver."""
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return address[0]
