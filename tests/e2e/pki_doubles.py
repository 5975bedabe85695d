"""Outside parties of certificate management, as real HTTP servers on a local port: an OCSP
responder (RFC 6960, answers made with `cryptography.x509.ocsp`) and a contract certificate
service. They run in a thread, so the platform under test reaches them over a real socket."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID

from silkcharge.domain.clock import utcnow
from silkcharge.security import pki


class OcspResponder:
    """Answers for the certificates one CA issued: good, unless the test revoked them; serial
    numbers it was never told of are unknown. `signer` (default the CA) signs the answers."""

    def __init__(self, ca: pki.Issued, signer: pki.Issued | None = None) -> None:
        self.ca = ca
        self.signer = signer or ca
        self.issued: dict[int, x509.Certificate] = {}
        self.revoked: set[int] = set()
        self.requests = 0
        self.url = ""

    def knows(self, certificate: x509.Certificate) -> None:
        self.issued[certificate.serial_number] = certificate

    def answer(self, der: bytes) -> bytes:
        self.requests += 1
        request = ocsp.load_der_ocsp_request(der)
        now = utcnow()
        certificate = self.issued.get(request.serial_number)
        builder = ocsp.OCSPResponseBuilder()
        if certificate is None:
            builder = builder.add_response_by_hash(
                request.issuer_name_hash, request.issuer_key_hash, request.serial_number, request.hash_algorithm,
                ocsp.OCSPCertStatus.UNKNOWN, now, now + timedelta(hours=1), None, None,
            )
        else:
            revoked = certificate.serial_number in self.revoked
            builder = builder.add_response(
                certificate, self.ca.certificate, request.hash_algorithm,
                ocsp.OCSPCertStatus.REVOKED if revoked else ocsp.OCSPCertStatus.GOOD,
                now, now + timedelta(hours=1), now - timedelta(minutes=1) if revoked else None,
                x509.ReasonFlags.key_compromise if revoked else None,
            )
        builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, self.signer.certificate)
        carried = [self.ca.certificate] if self.signer is self.ca else [self.signer.certificate, self.ca.certificate]
        builder = builder.certificates(carried)
        return builder.sign(self.signer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def delegated_responder(ca: pki.Issued) -> pki.Issued:
    """An OCSP responder certificate the CA delegates answering to (RFC 6960 4.2.2.2)."""
    key = pki.new_key()
    now = utcnow()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(pki.name("OCSP responder"))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return pki.Issued(certificate, key)


def end_entity(ca: pki.Issued, common_name: str, **kwargs) -> pki.Issued:
    """A certificate (and its key) the CA signs, e.g. a contract or V2G certificate."""
    key = pki.new_key()
    return pki.Issued(pki.sign_csr(ca, pki.make_csr(key, common_name), **kwargs), key)


class ContractService:
    """A contract certificate service: answers every request with a fixed EXI response and
    keeps what it was asked."""

    def __init__(self, exi_response: str = "ZXhpLXJlc3BvbnNl") -> None:
        self.exi_response = exi_response
        self.asked: list[dict] = []
        self.url = ""

    def answer(self, body: bytes) -> bytes:
        request = json.loads(body)
        self.asked.append(request)
        return json.dumps({"status": "Accepted", "exiResponse": self.exi_response}).encode()


@contextlib.contextmanager
def serving(party: OcspResponder | ContractService) -> Iterator[str]:
    """Serve `party` over HTTP on a free local port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            reply = party.answer(body)
            kind = "application/ocsp-response" if isinstance(party, OcspResponder) else "application/json"
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # serve_forever sees a shutdown only between polls: at its default 0.5 s each of the two
    # doubles of a certificate test held its teardown that long (0.7 s a test, 84 tests).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    party.url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        yield party.url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
