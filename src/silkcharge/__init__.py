"""silkcharge: an open EV charging platform for the networks of Central Asia."""

__version__ = "0.1.0"
