"""A simulated station's certificates: its own key and the chain the CSMS signed for it, and its
trust store of root certificates, answered truthfully to Install / GetInstalledCertificateIds /
DeleteCertificate in either OCPP version.

Types are spelled as OCPP 2.0.1 spells them; the 1.6 link maps the security extension's names.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509

from silkcharge.domain.clock import utcnow
from silkcharge.security import pki


class StationCertificates:
    def __init__(self, station_id: str, organization: str | None = None) -> None:
        self.station_id = station_id
        self.organization = organization
        self.key = pki.new_key()
        """The key of the station's current certificate (what a TLS client certificate would use)."""
        self._pending_key: pki.PrivateKey | None = None
        self.chain: list[x509.Certificate] = []
        self.roots: dict[str, list[x509.Certificate]] = {}

    def csr(self) -> str:
        """A CSR for a new key (kept until the signed certificate comes back, A02/A03)."""
        self._pending_key = pki.new_key()
        return pki.csr_pem(pki.make_csr(self._pending_key, self.station_id, self.organization))

    def needs_renewal(self, within: timedelta) -> bool:
        return not self.chain or self.chain[0].not_valid_after_utc - utcnow() < within

    def take_chain(self, pem: str) -> str | None:
        """Install the chain the CSMS signed; None, or why it is refused (then the station
        keeps its old certificate and reports InvalidChargingStationCertificate)."""
        try:
            chain = pki.load_certificates(pem)
        except ValueError:
            return "the certificate chain is not PEM"
        leaf, key = chain[0], self._pending_key
        if key is None or leaf.public_key().public_numbers() != key.public_key().public_numbers():
            return "the certificate is not for the key of this station's last CSR"
        if pki.common_name(leaf.subject) != self.station_id:
            return f"the certificate names {pki.common_name(leaf.subject)!r}, not this station"
        now = utcnow()
        if not leaf.not_valid_before_utc - timedelta(minutes=5) <= now <= leaf.not_valid_after_utc:
            return "the certificate is not valid now"
        if len(chain) > 1 and not pki.signed_by(leaf, chain[1]):
            return "the certificate is not signed by the next certificate of the chain"
        self.chain, self.key, self._pending_key = chain, key, None
        return None

    def install(self, kind: str, pem: str) -> str:
        """InstallCertificate status: Accepted, or Rejected for what is not a self-signed root."""
        try:
            certificate = pki.load_certificates(pem)[0]
        except ValueError:
            return "Rejected"
        if pki.issuer_of(certificate, []) is not certificate:
            return "Rejected"
        roots = self.roots.setdefault(kind, [])
        if certificate not in roots:
            roots.append(certificate)
        return "Accepted"

    def installed(self, kinds: list[str]) -> list[tuple[str, dict[str, str]]]:
        """(type, CertificateHashData) of each root of the given types (every type when empty)."""
        wanted = kinds or list(self.roots)
        return [(kind, pki.hash_data(root, root)) for kind in wanted for root in self.roots.get(kind, [])]

    def delete(self, data: dict[str, str]) -> str:
        """DeleteCertificate status: Accepted, or NotFound."""
        wanted = _key(data)
        for roots in self.roots.values():
            for root in roots:
                if _key(pki.hash_data(root, root, data["hashAlgorithm"])) == wanted:
                    roots.remove(root)
                    return "Accepted"
        return "NotFound"


def _key(data: dict[str, str]) -> tuple[str, ...]:
    return (data["hashAlgorithm"], data["issuerNameHash"].lower(), data["issuerKeyHash"].lower(),
            data["serialNumber"].lower().lstrip("0"))
