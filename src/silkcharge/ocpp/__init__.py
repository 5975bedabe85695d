"""The OCPP gateway: sockets, RPC framing, and one adapter per protocol version."""
