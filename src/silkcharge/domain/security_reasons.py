"""Why the CSMS took a security decision about a station, in words an operator can read in any
of the console's languages.

Each reason is a code, its values (station ids, profile numbers, a certificate's serial, a
library's technical message) and the English sentence they make. The security event list keeps
all three (services/security_events.py): the log, the API's `reason` and a refused handshake's
HTTP answer use the sentence; the console words the code in the operator's language from
`security.reason.<code>` of web/src/i18n, with the same `{placeholders}`
(tests/domain/test_security_reasons.py holds the English of both to the same text).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

REASONS: dict[str, str] = {
    # an operator's or the CSMS's own change of a station's security
    "password_rotated": "the station accepted a new Basic-auth password; the previous one is accepted until it "
                        "connects with the new one",
    "profile_set": "set from {before} to {profile} by an operator; handshakes below {profile} are refused",
    "profile_upgrade_accepted": "the station accepted security profile {profile} (now {current}); it is raised when "
                                "the station comes back on it",
    "profile_upgrade_scheduled": "the station accepted security profile {profile} (now {current}); it is raised when "
                                 "the station comes back on it; it answered Scheduled to the reset: it reboots once "
                                 "its running sessions end, and starts no new one meanwhile (stop them to raise it "
                                 "now)",
    "profile_upgrade_later": "the station accepted security profile {profile} (now {current}); it is raised when the "
                             "station comes back on it; it answered {status} to the reset, so that happens at its "
                             "next reboot",
    "profile_raised": "came back on security profile {profile}; handshakes below it are refused from now on",
    "migrate_requested": "the station accepted a network profile for {url} in slot {slot}, first in priority; it "
                         "answered {status} to the reset and leaves this CSMS when it reboots",
    # handshakes refused
    "wrong_password": "wrong or missing password for this station",
    "no_password": "station {station} has no password, so any caller could speak for it: set one (PATCH "
                   "/api/v1/stations/{station}), or allow stations without a password "
                   "(SILKCHARGE_ALLOW_STATIONS_WITHOUT_PASSWORD, insecure)",
    "below_profile_2_plain": "station {station} is at security profile 2: connect over wss:// (TLS) with its "
                             "Basic-auth password (this handshake: plain ws, profile 1)",
    "below_profile_3_plain": "station {station} is at security profile 3: connect over wss:// with its client "
                             "certificate (this handshake: plain ws, profile 1)",
    "below_profile_3_tls": "station {station} is at security profile 3: connect over wss:// with its client "
                           "certificate (this handshake: TLS without a valid client certificate, profile 2)",
    "certificate_refused": "{detail}; a station at security profile 3 shows a valid certificate whose common name "
                           "is its id",
    "tls_certificate_refused": "client certificate refused at the TLS handshake: {detail}",
    "too_many_station": "too many failed handshakes for station {key} ({limit} within {window} s); try again in "
                        "{retry} s",
    "too_many_address": "too many failed handshakes for source address {key} ({limit} within {window} s); try "
                        "again in {retry} s",
    # certificate signing requests (A02, A03)
    "csr_type": "silkcharge's CA signs charging station certificates only, not {type} (ISO 15118 certificates "
                "come from the V2G PKI)",
    "csr_not_pem": "the CSR is not a PEM-encoded PKCS#10 certificate signing request",
    "csr_bad_signature": "the CSR's signature does not match its public key",
    "csr_other_station": "the CSR names '{name}', not this station ('{station}'): a station may only have its own "
                         "id certified",
    "csr_organization": "the CSR's organization is '{organization}', not '{expected}'",
    "csr_key": "the CSR's key is not allowed: {detail}",
    "csr_not_signed": "the CSR could not be signed: {detail}",
    # OCSP and contract certificates (M06, C07)
    "ocsp_failed_status": "GetCertificateStatus: the OCSP check failed: {detail}",
    "ocsp_answer_status": "GetCertificateStatus: the OCSP responder says certificate serial {serial} is {status}",
    "contract_not_pem": "Authorize: the contract certificate is not PEM",
    "contract_expired": "Authorize: contract certificate {subject} is valid from {valid_from} to {valid_to}",
    "ocsp_failed_authorize": "Authorize: the OCSP check failed: {detail}",
    "ocsp_answer_authorize": "Authorize: the OCSP responder says contract certificate serial {serial} is {status}",
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@dataclass(frozen=True)
class Reason:
    code: str
    values: dict[str, str]

    @property
    def text(self) -> str:
        """The English sentence."""
        return REASONS[self.code].format(**self.values)


def reason(code: str, **values: object) -> Reason:
    """The reason `code` with its values (as text); KeyError for a code or a value it has not."""
    template = REASONS[code]
    given = {name: str(value) for name, value in values.items()}
    if set(given) != placeholders(template):
        raise KeyError(f"reason {code} takes {sorted(placeholders(template))}, not {sorted(given)}")
    return Reason(code, given)
