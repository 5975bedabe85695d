"""Ad-hoc payment at the charger (OCPP 2.1): a bank card on the charger's own payment terminal.

The terminal, not the CSMS, takes the card: it reserves an amount, the station starts the
transaction with the payment reference (`pspRef`) as its idToken of type `DirectPayment`, and
when the session ends the terminal settles what the session cost (at most what it reserved)
and the station reports that settlement. The CSMS keeps it with its amount and currency and
answers with the receipt the driver scans at the charger. A driver needs no account, no app
and no card registered with the operator: anyone with a bank card can charge.

A company receipt needs a VAT number; the station asks the CSMS to check one first
(VatNumberValidation). `vat_number_problem` checks its shape by the rules of the site's
country; it does not look the company up in a tax registry (none is open to us), so an
accepted number is well-formed, not proven to exist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from html import escape
from zoneinfo import ZoneInfo

from silkcharge.domain.cdr import format_money
from silkcharge.domain.money import Money

DIRECT_PAYMENT = "DirectPayment"
"""The OCPP 2.1 idToken type of a transaction paid at the charger's payment terminal."""

AD_HOC_CATEGORY = "ad_hoc"
"""The driver category of a card payment's idToken: priced by the tariff for everyone."""


class SettlementStatus(StrEnum):
    """OCPP 2.1 PaymentStatusEnumType."""

    SETTLED = "Settled"
    CANCELED = "Canceled"
    REJECTED = "Rejected"
    FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the payment terminal did with the card at the end (or instead) of a session."""

    psp_ref: str
    status: SettlementStatus
    amount: Decimal
    """In the currency of the station's operator: 2.1 carries none."""
    settled_at: datetime
    station_tx_id: str | None = None
    status_info: str | None = None
    vat_number: str | None = None
    vat_company: dict | None = None
    terminal_receipt_url: str | None = None
    """Set when the terminal or station made the receipt itself; the CSMS then makes none."""

    @property
    def paid(self) -> bool:
        return self.status is SettlementStatus.SETTLED


@dataclass(frozen=True, slots=True)
class VatRule:
    pattern: str
    shape: str
    """How the number looks, in words a driver reads on the charger."""
    check_digit: bool = False


# The shape of a company's tax number by country (the number a company receipt carries).
VAT_NUMBER_RULES: dict[str, VatRule] = {
    "KZ": VatRule(r"\d{12}", "a BIN of 12 digits", check_digit=True),
    "UZ": VatRule(r"\d{9}", "a TIN (STIR) of 9 digits"),
    "KG": VatRule(r"\d{14}", "an INN of 14 digits"),
    "TJ": VatRule(r"\d{9}", "an INN of 9 digits"),
    "CN": VatRule(r"[0-9A-HJ-NPQRTUWXY]{18}", "a unified social credit code of 18 characters"),
}


def vat_number_problem(country: str, number: str) -> str | None:
    """Why `number` cannot be a company's tax number in `country`; None when it can."""
    rule = VAT_NUMBER_RULES.get(country)
    cleaned = number.replace(" ", "").upper()
    if rule is None:
        return f"VAT numbers of country {country} cannot be checked here"
    if not re.fullmatch(rule.pattern, cleaned):
        return f"{number!r} is not {rule.shape}"
    if rule.check_digit and not _bin_check_digit_ok(cleaned):
        return f"{number!r} has a wrong check digit"
    return None


def _bin_check_digit_ok(digits: str) -> bool:
    """Kazakhstan's IIN and BIN share one check digit: the first eleven digits weighted 1..11
    modulo 11; a result of 10 is weighted again 3..11, 1, 2; 10 again means no valid number."""
    values = [int(d) for d in digits]
    for weights in (range(1, 12), [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]):
        check = sum(w * v for w, v in zip(weights, values[:11], strict=True)) % 11
        if check != 10:
            return check == values[11]
    return False


_PAID = {
    "en": {"title": "Card payment at the charger", "paid": "Paid by bank card", "status": "Status",
           "settled": "Settled", "reference": "Payment reference", "vat_number": "Company VAT number",
           "pending": "The session's itemised receipt appears here once it is priced.",
           "differs": "The card was charged {paid}; the session costs {billed}. The operator settles the difference."},
    "ru": {"title": "Оплата картой на зарядной станции", "paid": "Оплачено банковской картой", "status": "Статус",
           "settled": "Расчёт", "reference": "Номер платежа", "vat_number": "ИНН/БИН компании",
           "pending": "Подробный чек сессии появится здесь после расчёта стоимости.",
           "differs": "С карты списано {paid}; сессия стоит {billed}. Разницу урегулирует оператор."},
}


def payment_section(settlement: Settlement, currency: str | None, *, time_zone: str, locale: str,
                    billed: Money | None, session: bool = True) -> str:
    """The receipt's card-payment block (HTML, escaped), in `locale` (en or ru); `billed` is
    the session's price once known, `session` False for a payment no session belongs to."""
    t = _PAID[locale if locale in _PAID else "en"]
    paid = format_money(Money(settlement.amount, currency), locale) if currency else f"{settlement.amount}"
    rows = [
        (t["paid"], paid),
        (t["status"], settlement.status.value),
        (t["settled"], settlement.settled_at.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M:%S %Z")),
        (t["reference"], settlement.psp_ref),
        *([(t["vat_number"], settlement.vat_number)] if settlement.vat_number else []),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    note = ""
    if billed is None and session:
        note = f"<p>{escape(t['pending'])}</p>"
    elif billed is not None and currency == billed.currency and \
            billed.round_to_minor() != Money(settlement.amount, currency).round_to_minor():
        note = "<p>" + escape(t["differs"].format(paid=paid, billed=format_money(billed, locale))) + "</p>"
    return f'<section class="payment"><h2>{escape(t["title"])}</h2><table>{body}</table>{note}</section>'
