"""The trust store for the platform's own outgoing TLS: roaming partners, OCSP responders
and contract-certificate services.

A verifying `ssl.SSLContext` reads and parses the whole CA bundle when it is made: about 30 ms
of CPU, and httpx makes a new one for every client it builds unless it is given one. Roaming
builds a client per exchange (a real-time token authorization while a driver waits at the
charger, a command and its result, a pull, a registration), so that cost was paid on each. The
context is made once per process, the way httpx makes its default (certifi's bundle, or the
files named by SSL_CERT_FILE / SSL_CERT_DIR), and shared: a context holds no per-connection
state, and Python's `ssl` allows one context for many connections.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def verifying_context() -> ssl.SSLContext:
    """The one context that checks servers' certificates and host names."""
    return httpx.create_ssl_context()
