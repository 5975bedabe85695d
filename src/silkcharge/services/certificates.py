"""Certificate management: the CSMS's CA signing station CSRs, the certificates on each station,
their expiry, and the checks that ask an OCSP responder or a contract-certificate service.

OCPP 2.0.1 blocks A (A02/A03: a station's certificate renewed by CSR) and M (M03-M06:
installed certificates, their status; M01/M02: EV contract certificates), and the same flows of
the OCPP 1.6 security extension. The adapters turn each version's messages into the calls here;
what a station answered to a certificate command is kept through the command service's
listener, whichever way the command was sent (API, console, or silkcharge itself).

Policy for a CSR (the station's own certificate): the PEM must parse and its signature check,
its common name must be the station's own id (a station never obtains a certificate that names
another station), its organization the configured one, its key of an allowed type and size
(pki.check_key). Every refusal is a security event with its reason.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import EventBus
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import (
    REPORTED_CERTIFICATES,
    CertificateSigned,
    CommandParams,
    DeleteCertificate,
    GetInstalledCertificateIds,
    InstallCertificate,
)
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.domain.security_reasons import Reason, reason
from silkcharge.security import pki
from silkcharge.services.commands import (
    CommandObserver,
    CommandRefused,
    CommandResult,
    CommandService,
)
from silkcharge.services.contract_certificates import (
    ContractCertificateService,
    ContractServiceFailure,
)
from silkcharge.services.ocsp import OcspChecker, OcspFailure
from silkcharge.services.security_events import SecurityEvents
from silkcharge.store.schema import CertificateAuthorityRecord, StationCertificate
from silkcharge.store.upsert import insert_ignoring_duplicates

log = logging.getLogger(__name__)

STATION_CERTIFICATE = "ChargingStationCertificate"
LIVE = ("Issued", "Installed")
"""Statuses of a certificate that is (or is about to be) on its station."""


class UnknownCertificate(LookupError):
    pass


@dataclass(frozen=True)
class SigningDecision:
    """The answer to a station's SignCertificate: when accepted, the chain to deliver."""

    accepted: bool
    reason: str | None = None
    chain_pem: str | None = None
    certificate_type: str | None = None


class CertificateAuthority:
    """The CA that signs station CSRs: an external one from files, or silkcharge's own, made
    once and kept in the database so every process of a deployment signs with the same one."""

    def __init__(
        self, sessions: async_sessionmaker, cert_file: Path | None, key_file: Path | None,
        organization: str | None,
    ) -> None:
        if (cert_file is None) != (key_file is None):
            raise ValueError("ca_cert_file and ca_key_file go together")
        self._sessions = sessions
        self._files = (cert_file, key_file) if cert_file and key_file else None
        self._organization = organization
        self._issued: pki.Issued | None = None
        self._chain: list[x509.Certificate] = []
        self._lock = asyncio.Lock()

    @property
    def external(self) -> bool:
        return self._files is not None

    async def get(self) -> pki.Issued:
        async with self._lock:
            if self._issued is None:
                self._issued, self._chain = await self._load()
        return self._issued

    async def chain(self) -> list[x509.Certificate]:
        """The CA's certificate and whatever its file lists above it (sent after a leaf)."""
        await self.get()
        return self._chain

    async def _load(self) -> tuple[pki.Issued, list[x509.Certificate]]:
        if self._files is not None:
            cert_file, key_file = self._files
            certificate_text = cert_file.read_bytes()
            issued = pki.load_issued(certificate_text, key_file.read_bytes())
            return issued, pki.load_certificates(certificate_text)
        async with self._sessions() as session:
            record = await session.get(CertificateAuthorityRecord, 1)
        if record is None:  # the first process to need it makes it; a racing one's is ignored
            async with self._sessions.begin() as session:
                await insert_ignoring_duplicates(session, CertificateAuthorityRecord, [self._new_record()])
            log.info("made silkcharge's own CA for station certificates (no ca_cert_file configured)")
            async with self._sessions() as session:
                record = await session.get(CertificateAuthorityRecord, 1)
        issued = pki.load_issued(record.certificate_pem, record.key_pem)
        return issued, [issued.certificate]

    def _new_record(self) -> dict[str, Any]:
        ca = pki.new_ca("silkcharge station CA", self._organization)
        return {"id": 1, "certificate_pem": pki.certificate_pem(ca.certificate), "key_pem": pki.key_pem(ca.key),
                "created_at": utcnow()}


class CertificateService(CommandObserver):
    def __init__(
        self,
        sessions: async_sessionmaker,
        security_events: SecurityEvents,
        authority: CertificateAuthority,
        *,
        organization: str | None,
        days: int,
        expiry_warning_days: int,
        ocsp_responder_url: str | None,
        ocsp_timeout: float,
        contract_service: ContractCertificateService,
        bus: EventBus | None = None,
    ) -> None:
        self._sessions = sessions
        self._events = security_events
        self.authority = authority
        self._organization = organization
        self._days = days
        self.expiry_warning = timedelta(days=expiry_warning_days)
        self._ocsp = OcspChecker(ocsp_responder_url, ocsp_timeout, self._known_issuers)
        self._contracts = contract_service
        self._commands: CommandService | None = None
        self._bus = bus

    def _changed(self, station_id: str) -> None:
        """Tell live views (the console's station page) that the station's certificates changed:
        a CSR signed or a station's answer arrives after the command that caused it."""
        if self._bus is not None:
            self._bus.publish(DeviceModelChanged(station_id, utcnow(), "certificates"))

    def attach(self, commands: CommandService) -> None:
        """Send CertificateSigned through `commands`, and keep what stations answer to it."""
        self._commands = commands
        commands.observe(self)

    # -- A02/A03: a station's CSR ------------------------------------------------------------------

    async def sign_request(
        self, station_id: str, csr_pem: str, certificate_type: str | None = None
    ) -> SigningDecision:
        certificate_type = certificate_type or STATION_CERTIFICATE
        try:
            csr = self._acceptable_csr(station_id, csr_pem, certificate_type)
        except CsrRefused as refusal:
            await self._events.decided(station_id, refusal.event_type, refusal.reason)
            return SigningDecision(False, refusal.reason.text)
        ca = await self.authority.get()
        try:
            leaf = pki.sign_csr(ca, csr, days=self._days)
        except ValueError as exc:
            await self._events.decided(station_id, "CsrRefused", reason("csr_not_signed", detail=exc))
            return SigningDecision(False, str(exc))
        await self._store(station_id, leaf, ca.certificate, certificate_type, source="csr", status="Issued")
        chain = "".join(pki.certificate_pem(c) for c in [leaf, *await self.authority.chain()])
        log.info("%s: signed a %s (serial %x) from its CSR", station_id, certificate_type, leaf.serial_number)
        return SigningDecision(True, chain_pem=chain, certificate_type=certificate_type)

    def _acceptable_csr(self, station_id: str, csr_pem: str, certificate_type: str) -> x509.CertificateSigningRequest:
        if certificate_type != STATION_CERTIFICATE:
            raise CsrRefused(reason("csr_type", type=certificate_type))
        try:
            csr = pki.load_csr(csr_pem)
        except ValueError:
            raise CsrRefused(reason("csr_not_pem")) from None
        if not csr.is_signature_valid:
            raise CsrRefused(reason("csr_bad_signature"))
        common_name = pki.common_name(csr.subject)
        if common_name != station_id:
            raise CsrRefused(reason("csr_other_station", name=common_name, station=station_id),
                             event_type="CsrForAnotherStation")
        organization = pki.organization(csr.subject)
        if self._organization is not None and organization != self._organization:
            raise CsrRefused(reason("csr_organization", organization=organization, expected=self._organization))
        try:
            pki.check_key(csr.public_key())
        except ValueError as exc:
            raise CsrRefused(reason("csr_key", detail=exc)) from None
        return csr

    async def deliver(self, station_id: str, decision: SigningDecision) -> None:
        """Send the signed chain (after the SignCertificate reply went out); the station's answer
        is kept by the listener. A station that does not answer keeps the certificate Issued."""
        if self._commands is None or not decision.accepted:
            return
        params: dict[str, Any] = {"certificate_chain": decision.chain_pem,
                                  "certificate_type": decision.certificate_type}
        try:
            result = await self._commands.send(station_id, "certificate_signed", params)
        except Exception as exc:  # the station went away or refused the call: say so, keep going
            log.warning("%s: CertificateSigned could not be delivered: %s", station_id, exc)
            return
        if result.status != "Accepted":
            log.warning("%s: the station rejected the certificate silkcharge signed for it", station_id)

    async def renew(self, station_id: str) -> CommandResult:
        """A02: ask the station for a new CSR (2.0.1 TriggerMessage, 1.6 ExtendedTriggerMessage)."""
        commands = self._require_commands()
        return await commands.send(station_id, "trigger_message", {"message": "SignChargingStationCertificate"})

    # -- M06 and C07: OCSP ----------------------------------------------------------------------------

    async def certificate_status(self, station_id: str, hashes_of: dict[str, str]) -> tuple[bool, str | None]:
        """GetCertificateStatus: (True, base64 OCSP answer) when the responder vouches for the
        certificate; otherwise (False, None), with the reason in the security event list."""
        try:
            result = await self._ocsp.check(hashes_of)
        except OcspFailure as failure:
            await self._events.decided(station_id, "OcspCheckFailed", reason("ocsp_failed_status", detail=failure))
            return False, None
        if result.answer.status != "good":
            await self._events.decided(station_id, _ocsp_event(result.answer.status), reason(
                "ocsp_answer_status", serial=hashes_of["serialNumber"], status=result.answer.status))
            return False, None
        return True, base64.b64encode(result.der).decode("ascii")

    async def contract_status(
        self, station_id: str, hash_data: list[dict[str, str]], certificate_pem: str | None
    ) -> str:
        """Authorize with ISO 15118 certificate data (C07): the AuthorizeCertificateStatus.
        Every certificate of the chain must be current, and the responder must vouch for each
        one the station names."""
        if certificate_pem is not None:
            try:
                chain = pki.load_certificates(certificate_pem)
            except ValueError:
                await self._events.decided(station_id, "ContractCertificateRefused", reason("contract_not_pem"))
                return "CertChainError"
            now = utcnow()
            for certificate in chain:
                if certificate.not_valid_after_utc < now or certificate.not_valid_before_utc > now:
                    await self._events.decided(station_id, "CertificateExpired", reason(
                        "contract_expired", subject=certificate.subject.rfc4514_string(),
                        valid_from=f"{certificate.not_valid_before_utc:%Y-%m-%d}",
                        valid_to=f"{certificate.not_valid_after_utc:%Y-%m-%d}"))
                    return "CertificateExpired"
        for item in hash_data:
            try:
                result = await self._ocsp.check(item)
            except OcspFailure as failure:
                status = "SignatureError" if "signature" in str(failure) else "CertChainError"
                await self._events.decided(station_id, "OcspCheckFailed", reason("ocsp_failed_authorize", detail=failure))
                return status
            if result.answer.status != "good":
                await self._events.decided(station_id, _ocsp_event(result.answer.status), reason(
                    "ocsp_answer_authorize", serial=item["serialNumber"], status=result.answer.status))
                return "CertificateRevoked" if result.answer.status == "revoked" else "CertChainError"
        return "Accepted"

    # -- M01/M02: EV contract certificates ----------------------------------------------------------

    async def ev_certificate(
        self, station_id: str, schema_version: str, action: str, exi_request: str
    ) -> tuple[str, str]:
        """Get15118EVCertificate: (status, exiResponse) from the contract certificate service."""
        try:
            answer = await self._contracts.request(station_id, schema_version, action, exi_request)
        except ContractServiceFailure as failure:
            log.warning("%s: Get15118EVCertificate failed: %s", station_id, failure)
            return "Failed", ""
        return answer.status, answer.exi_response

    # -- the certificates on each station -----------------------------------------------------------

    async def find(
        self, station_id: str | None = None, *, expiring: bool = False, include_deleted: bool = False,
    ) -> list[StationCertificate]:
        """A station's certificates (newest first), or every live certificate that expires within
        the warning period (soonest first) when `expiring`."""
        statement = select(StationCertificate)
        if station_id is not None:
            statement = statement.where(StationCertificate.station_id == station_id)
        if expiring:
            statement = statement.where(
                StationCertificate.status.in_(LIVE),
                StationCertificate.not_after <= utcnow() + self.expiry_warning,
            ).order_by(StationCertificate.not_after)
        else:
            if not include_deleted:
                statement = statement.where(StationCertificate.status != "Deleted")
            statement = statement.order_by(StationCertificate.id.desc())
        async with self._sessions() as session:
            return list((await session.scalars(statement)).all())

    async def get(self, station_id: str, certificate_id: int) -> StationCertificate:
        async with self._sessions() as session:
            row = await session.get(StationCertificate, certificate_id)
        if row is None or row.station_id != station_id:
            raise UnknownCertificate(f"station {station_id} has no certificate {certificate_id}")
        return row

    async def install(self, station_id: str, certificate_pem: str, certificate_type: str) -> CommandResult:
        """M05: install a root certificate. Refused before sending when it could not be named
        afterwards (not a certificate, or issued by a CA silkcharge does not know)."""
        try:
            certificate = pki.load_certificates(certificate_pem)[0]
        except ValueError:
            raise CommandRefused("certificate: not a PEM certificate") from None
        if pki.issuer_of(certificate, await self._known_issuers()) is None:
            raise CommandRefused(
                "certificate: neither self-signed nor issued by a CA silkcharge knows, so it could not "
                "be named for DeleteCertificate; install its root instead"
            )
        return await self._require_commands().send(
            station_id, "install_certificate",
            {"certificate": certificate_pem, "certificate_type": certificate_type},
        )

    async def delete(self, station_id: str, certificate_id: int) -> CommandResult:
        """M04: delete a certificate from the station by its hash data."""
        row = await self.get(station_id, certificate_id)
        return await self._require_commands().send(station_id, "delete_certificate", {
            "hash_algorithm": row.hash_algorithm, "issuer_name_hash": row.issuer_name_hash,
            "issuer_key_hash": row.issuer_key_hash, "serial_number": row.serial_number,
        })

    async def refresh(self, station_id: str, certificate_types: list[str]) -> CommandResult:
        """M03: ask the station what it has; the store follows its answer."""
        return await self._require_commands().send(
            station_id, "get_installed_certificate_ids", {"certificate_types": certificate_types}
        )

    # -- keeping what stations answered -------------------------------------------------------------

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        """Keep the station's certificate store current whichever route sent the command."""
        if isinstance(params, CertificateSigned):
            await self._signed_answered(station_id, params, status)
        elif isinstance(params, InstallCertificate):
            await self._install_answered(station_id, params, status)
        elif isinstance(params, DeleteCertificate) and status in ("Accepted", "NotFound"):
            await self._mark_deleted(station_id, _hash_key(params.model_dump()))
        elif isinstance(params, GetInstalledCertificateIds) and status in ("Accepted", "NotFound"):
            await self._report_answered(station_id, params, details.get("certificates", []))

    async def _signed_answered(self, station_id: str, params: CertificateSigned, status: str | None) -> None:
        chain = pki.load_certificates(params.certificate_chain)
        issuer = pki.issuer_of(chain[0], chain[1:] + await self._known_issuers())
        if issuer is None:
            log.warning("%s: the delivered chain does not name its leaf's issuer; not listed", station_id)
            return
        await self._store(
            station_id, chain[0], issuer, params.certificate_type or STATION_CERTIFICATE,
            source="delivered", status="Installed" if status == "Accepted" else "Rejected",
        )

    async def _install_answered(self, station_id: str, params: InstallCertificate, status: str | None) -> None:
        certificate = pki.load_certificates(params.certificate)[0]
        issuer = pki.issuer_of(certificate, await self._known_issuers())
        if issuer is None:
            log.warning("%s: installed certificate's issuer is unknown; its next report lists it", station_id)
            return
        await self._store(station_id, certificate, issuer, params.certificate_type, source="install",
                          status="Installed" if status == "Accepted" else "Rejected")

    async def _report_answered(
        self, station_id: str, params: GetInstalledCertificateIds, reported: list[dict[str, Any]]
    ) -> None:
        asked = set(params.certificate_types or REPORTED_CERTIFICATES)
        seen: set[tuple[str, str, str, str]] = set()
        async with self._sessions.begin() as session:
            rows = (await session.scalars(select(StationCertificate).where(
                StationCertificate.station_id == station_id,
                StationCertificate.certificate_type.in_(asked),
            ))).all()
            by_key = {_row_key(row): row for row in rows}
            for item in reported:
                key = _hash_key(item)
                seen.add(key)
                row = by_key.get(key)
                if row is None:
                    session.add(StationCertificate(
                        station_id=station_id, certificate_type=item["certificate_type"], source="report",
                        status="Installed", hash_algorithm=key[0], issuer_name_hash=key[1],
                        issuer_key_hash=key[2], serial_number=key[3],
                    ))
                elif row.status != "Installed":
                    row.status = "Installed"
            for key, row in by_key.items():
                if key not in seen and row.status == "Installed":
                    row.status = "Deleted"
        self._changed(station_id)

    async def _mark_deleted(self, station_id: str, key: tuple[str, str, str, str]) -> None:
        async with self._sessions.begin() as session:
            for row in await self._matching(session, station_id, key):
                row.status = "Deleted"
        self._changed(station_id)

    async def _store(
        self, station_id: str, certificate: x509.Certificate, issuer: x509.Certificate, certificate_type: str,
        *, source: str, status: str,
    ) -> None:
        data = pki.hash_data(certificate, issuer)
        key = _hash_key(data)
        async with self._sessions.begin() as session:
            existing = await self._matching(session, station_id, key)
            row = existing[0] if existing else StationCertificate(station_id=station_id, source=source)
            row.certificate_type = certificate_type
            row.status = status
            row.hash_algorithm, row.issuer_name_hash, row.issuer_key_hash, row.serial_number = key
            row.subject = certificate.subject.rfc4514_string()[:300]
            row.issuer = certificate.issuer.rfc4514_string()[:300]
            row.not_before = certificate.not_valid_before_utc
            row.not_after = certificate.not_valid_after_utc
            row.pem = pki.certificate_pem(certificate)
            if not existing:
                session.add(row)
        self._changed(station_id)

    @staticmethod
    async def _matching(session, station_id: str, key: tuple[str, str, str, str]) -> list[StationCertificate]:
        algorithm, name_hash, key_hash, serial = key
        return list((await session.scalars(select(StationCertificate).where(
            StationCertificate.station_id == station_id,
            StationCertificate.hash_algorithm == algorithm,
            StationCertificate.serial_number == serial,
            StationCertificate.issuer_name_hash == name_hash,
            StationCertificate.issuer_key_hash == key_hash,
        ).order_by(StationCertificate.id))).all())

    async def _known_issuers(self) -> list[x509.Certificate]:
        """The CA silkcharge signs with, and the roots it installed on stations."""
        issuers = list(await self.authority.chain())
        async with self._sessions() as session:
            pems = (await session.scalars(select(StationCertificate.pem).where(
                StationCertificate.source == "install", StationCertificate.status == "Installed",
            ).distinct())).all()
        for pem in pems:
            if pem:
                issuers.extend(pki.load_certificates(pem))
        return issuers

    def _require_commands(self) -> CommandService:
        if self._commands is None:
            raise RuntimeError("CertificateService.attach(commands) was not called")
        return self._commands


class CsrRefused(Exception):
    def __init__(self, why: Reason, *, event_type: str = "CsrRefused") -> None:
        super().__init__(why.text)
        self.reason = why
        self.event_type = event_type


def _ocsp_event(status: str) -> str:
    return {"revoked": "CertificateRevoked", "unknown": "CertificateUnknown"}.get(status, "OcspCheckFailed")


def _hash_key(data: dict[str, Any]) -> tuple[str, str, str, str]:
    """CertificateHashData (OCPP or snake_case names) as one comparable key: lower-case hex,
    the serial number without leading zeros."""
    def pick(camel: str, snake: str) -> str:
        return str(data.get(camel, data.get(snake, "")))

    serial = pick("serialNumber", "serial_number").lower().lstrip("0") or "0"
    return (pick("hashAlgorithm", "hash_algorithm"), pick("issuerNameHash", "issuer_name_hash").lower(),
            pick("issuerKeyHash", "issuer_key_hash").lower(), serial)


def _row_key(row: StationCertificate) -> tuple[str, str, str, str]:
    return _hash_key({"hashAlgorithm": row.hash_algorithm, "issuerNameHash": row.issuer_name_hash,
                      "issuerKeyHash": row.issuer_key_hash, "serialNumber": row.serial_number})
