"""The OCPI peer fixtures for the tests beside this file (tests elsewhere import them the same way)."""

from tests.roaming.peer.fixture import ocpi_peer, ocpi_peer_factory  # noqa: F401
