"""Certificates made in the test, written as an operator would deploy them: a CA that issued the
CSMS's server certificate (which stations trust), a CA that issues station client certificates
(profile 3), and client certificates for stations, good and bad."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from silkcharge.domain.clock import utcnow
from silkcharge.security import pki


@dataclass
class TlsMaterial:
    directory: Path
    server_ca: pki.Issued
    station_ca: pki.Issued
    server_cert_file: Path
    server_key_file: Path
    server_ca_file: Path
    station_ca_file: Path

    @classmethod
    def make(cls, directory: Path) -> TlsMaterial:
        directory.mkdir(parents=True, exist_ok=True)
        server_ca = pki.new_ca("silkcharge test root", "silkcharge tests")
        station_ca = pki.new_ca("silkcharge test station CA", "silkcharge tests")
        server = pki.issue_server_certificate(server_ca, ["127.0.0.1", "localhost"])
        files = {
            "server.pem": pki.certificate_pem(server.certificate),
            "server.key": pki.key_pem(server.key),
            "server-ca.pem": pki.certificate_pem(server_ca.certificate),
            "station-ca.pem": pki.certificate_pem(station_ca.certificate),
        }
        for name, text in files.items():
            (directory / name).write_text(text)
        return cls(
            directory, server_ca, station_ca, directory / "server.pem", directory / "server.key",
            directory / "server-ca.pem", directory / "station-ca.pem",
        )

    def settings(self) -> dict:
        return {
            "ocpp_tls_port": 0, "tls_cert_file": self.server_cert_file, "tls_key_file": self.server_key_file,
            "tls_client_ca_file": self.station_ca_file,
        }

    def client_certificate(
        self, common_name: str, *, ca: pki.Issued | None = None, expired: bool = False
    ) -> tuple[Path, Path]:
        """A station certificate and key as PEM files (issued by the station CA unless `ca`)."""
        key = pki.new_key()
        start = utcnow() - timedelta(days=30) if expired else None
        certificate = pki.sign_csr(ca or self.station_ca, pki.make_csr(key, common_name), days=1 if expired else 365,
                                   now=start)
        name = f"{common_name}-{'expired' if expired else 'valid'}-{certificate.serial_number:x}"
        cert_file, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        cert_file.write_text(pki.certificate_pem(certificate))
        key_file.write_text(pki.key_pem(key))
        return cert_file, key_file

    def client_context(self, certificate: tuple[Path, Path] | None = None) -> ssl.SSLContext:
        """What a station uses: the CSMS's root to check the server, and its own certificate."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.server_ca_file))
        if certificate is not None:
            context.load_cert_chain(*certificate)
        return context
