"""Chargers that manage certificates the way a certified station does: the `ocpp` package's
ChargePoint (through tests/e2e/peers.py) with a key of its own, a CSR on request, a trust store
answered truthfully, and the 1.6 security extension's firmware and log flows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import websockets
from cryptography import x509
from ocpp.routing import after, on
from ocpp.v16 import call as c16
from ocpp.v16 import call_result as r16
from ocpp.v201 import call as c201
from ocpp.v201 import call_result as r201

from silkcharge.security import pki
from tests.e2e.network import PASSWORD
from tests.e2e.peers import Peer16, Peer201, basic_auth

_USE_16 = {"CentralSystemRootCertificate": "CSMSRootCertificate",
           "ManufacturerRootCertificate": "ManufacturerRootCertificate"}


class CertificateStore:
    """The station side: its key, the chain it was given, its trust store by type."""

    def __init__(self, station_id: str) -> None:
        self.key = pki.new_key()
        self.common_name = station_id
        self.organization: str | None = None
        self.chain: list[x509.Certificate] = []
        self.roots: dict[str, list[x509.Certificate]] = {}
        self.signed = asyncio.Event()

    def csr(self) -> str:
        return pki.csr_pem(pki.make_csr(self.key, self.common_name, self.organization))

    def take_chain(self, pem: str) -> bool:
        chain = pki.load_certificates(pem)
        if chain[0].public_key().public_numbers() != self.key.public_key().public_numbers():
            return False
        self.chain = chain
        self.signed.set()
        return True

    def hash_data(self, types: list[str]) -> list[tuple[str, dict[str, str]]]:
        return [(kind, pki.hash_data(root, root)) for kind in types for root in self.roots.get(kind, [])]

    def delete(self, data: dict[str, str]) -> bool:
        for kind, roots in self.roots.items():
            for root in roots:
                if pki.hash_data(root, root) == data:
                    roots.remove(root)
                    return True
        return False


class CertificatePeer16(Peer16):
    def __init__(self, station_id: str, connection) -> None:
        super().__init__(station_id, connection)
        self.store = CertificateStore(station_id)
        self.configuration["SecurityProfile"] = "1"
        self.log_status = asyncio.Event()
        self.firmware_done = asyncio.Event()

    async def request_certificate(self) -> str:
        return (await self.call(c16.SignCertificate(csr=self.store.csr()))).status

    @on("ExtendedTriggerMessage")
    def extended_trigger(self, **p):
        self.saw("ExtendedTriggerMessage", **p)
        return r16.ExtendedTriggerMessage(status="Accepted")

    @after("ExtendedTriggerMessage")
    async def after_extended_trigger(self, **p):
        if p["requested_message"] == "SignChargePointCertificate":
            await self.request_certificate()
        elif p["requested_message"] == "LogStatusNotification":
            await self.call(c16.LogStatusNotification(status="Idle", request_id=0))

    @on("CertificateSigned")
    def certificate_signed(self, **p):
        self.saw("CertificateSigned", **p)
        accepted = self.store.take_chain(p["certificate_chain"])
        return r16.CertificateSigned(status="Accepted" if accepted else "Rejected")

    @on("InstallCertificate")
    def install_certificate(self, **p):
        self.saw("InstallCertificate", **p)
        self.store.roots.setdefault(_USE_16[p["certificate_type"]], []).extend(
            pki.load_certificates(p["certificate"]))
        return r16.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def get_installed_certificate_ids(self, **p):
        self.saw("GetInstalledCertificateIds", **p)
        found = [data for _, data in self.store.hash_data([_USE_16[p["certificate_type"]]])]
        if not found:
            return r16.GetInstalledCertificateIds(status="NotFound")
        return r16.GetInstalledCertificateIds(status="Accepted", certificate_hash_data=found)

    @on("DeleteCertificate")
    def delete_certificate(self, **p):
        self.saw("DeleteCertificate", **p)
        deleted = self.store.delete(_camel(p["certificate_hash_data"]))
        return r16.DeleteCertificate(status="Accepted" if deleted else "NotFound")

    @on("SignedUpdateFirmware")
    def signed_update_firmware(self, **p):
        self.saw("SignedUpdateFirmware", **p)
        return r16.SignedUpdateFirmware(status="Accepted")

    @after("SignedUpdateFirmware")
    async def after_signed_update_firmware(self, **p):
        for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
            await self.call(c16.SignedFirmwareStatusNotification(status=status, request_id=p["request_id"]))
        self.firmware_done.set()

    @on("GetLog")
    def get_log(self, **p):
        self.saw("GetLog", **p)
        return r16.GetLog(status="Accepted", filename="security-log.tar.gz")

    @after("GetLog")
    async def after_get_log(self, **p):
        for status in ("Uploading", "Uploaded"):
            await self.call(c16.LogStatusNotification(status=status, request_id=p["request_id"]))
        self.log_status.set()


class CertificatePeer201(Peer201):
    def __init__(self, station_id: str, connection) -> None:
        super().__init__(station_id, connection)
        self.store = CertificateStore(station_id)

    async def request_certificate(self) -> str:
        reply = await self.call(c201.SignCertificate(csr=self.store.csr(), certificate_type="ChargingStationCertificate"))
        return reply.status

    @after("TriggerMessage")
    async def after_trigger(self, **p):
        if p["requested_message"] == "SignChargingStationCertificate":
            await self.request_certificate()

    @on("CertificateSigned")
    def certificate_signed(self, **p):
        self.saw("CertificateSigned", **p)
        accepted = self.store.take_chain(p["certificate_chain"])
        return r201.CertificateSigned(status="Accepted" if accepted else "Rejected")

    @on("InstallCertificate")
    def install_certificate(self, **p):
        self.saw("InstallCertificate", **p)
        self.store.roots.setdefault(p["certificate_type"], []).extend(pki.load_certificates(p["certificate"]))
        return r201.InstallCertificate(status="Accepted")

    @on("GetInstalledCertificateIds")
    def get_installed_certificate_ids(self, **p):
        self.saw("GetInstalledCertificateIds", **p)
        types = p.get("certificate_type") or list(self.store.roots)
        found = [{"certificate_type": kind, "certificate_hash_data": data} for kind, data in self.store.hash_data(types)]
        if not found:
            return r201.GetInstalledCertificateIds(status="NotFound")
        return r201.GetInstalledCertificateIds(status="Accepted", certificate_hash_data_chain=found)

    @on("DeleteCertificate")
    def delete_certificate(self, **p):
        self.saw("DeleteCertificate", **p)
        deleted = self.store.delete(_camel(p["certificate_hash_data"]))
        return r201.DeleteCertificate(status="Accepted" if deleted else "NotFound")


def _camel(data: dict[str, str]) -> dict[str, str]:
    return {"hashAlgorithm": data["hash_algorithm"], "issuerNameHash": data["issuer_name_hash"],
            "issuerKeyHash": data["issuer_key_hash"], "serialNumber": data["serial_number"]}


PEERS = {"1.6": (CertificatePeer16, "ocpp1.6"), "2.0.1": (CertificatePeer201, "ocpp2.0.1")}


@contextlib.asynccontextmanager
async def certificate_peer(url: str, station_id: str, version: str) -> AsyncIterator[CertificatePeer16 | CertificatePeer201]:
    cls, subprotocol = PEERS[version]
    async with websockets.connect(
        f"{url}/{station_id}", subprotocols=[subprotocol], additional_headers=basic_auth(station_id, PASSWORD),
    ) as ws:
        peer = cls(station_id, ws)
        task = asyncio.create_task(peer.start())
        try:
            yield peer
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
