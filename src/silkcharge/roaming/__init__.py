"""OCPI 2.2.1 roaming: silkcharge as a CPO and as an eMSP towards other networks.

An adapter at the edge, like `ocpp/`: the wire format (wire.py), who is calling (auth.py),
the partners and their registration (partners.py, credentials.py), the client we call them
with (client.py), and the routers under /ocpi (http.py) that the API mounts. It builds on
services, store, bus and domain, never on api, app or server (tests/architecture).
"""
