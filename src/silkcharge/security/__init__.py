"""Cryptographic building blocks of OCPP security: keys, certificates, CSRs (see pki.py)."""
