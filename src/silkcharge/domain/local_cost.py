"""Cost calculated on the station (OCPP 2.1 local cost), set beside the platform's own price.

A 2.1 station given a tariff prices the session itself and reports the result in its
transaction events. The platform's CDR stays the bill: the station's figure is kept to be
compared, never billed a second time. A difference beyond `TOLERANCE` (the station rounds per
minute and has no billing steps) is shown to the operator, who decides which one is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from silkcharge.domain.money import Money

TOLERANCE = Decimal("0.01")
"""A relative difference (1 %) below which station and platform agree."""


@dataclass(frozen=True, slots=True)
class StationCost:
    """The station's own cost of a transaction so far (2.1 costDetails), version-neutral."""

    reported_at: datetime
    event: str
    """Started, Updated or Ended: whether this is a running or a final cost."""
    currency: str | None
    total_excl_vat: Decimal | None
    total_incl_vat: Decimal | None
    type_of_cost: str | None = None
    """NormalCost, or MinCost / MaxCost when the tariff's minimum or maximum applied."""
    tariff_id: str | None = None
    energy_wh: Decimal | None = None
    charging_seconds: int | None = None
    idle_seconds: int | None = None
    failure_reason: str | None = None
    """Set when the station says it failed to calculate (then there are no totals)."""

    @property
    def failed(self) -> bool:
        return self.failure_reason is not None

    @property
    def total(self) -> Money | None:
        amount = self.total_incl_vat if self.total_incl_vat is not None else self.total_excl_vat
        if amount is None or self.currency is None:
            return None
        return Money(amount, self.currency)


@dataclass(frozen=True, slots=True)
class CostComparison:
    """The station's total against the platform's for one transaction."""

    station: Money | None
    platform: Money | None
    difference: Money | None
    """station - platform, incl. VAT; None when either is missing or they differ in currency."""
    agrees: bool | None
    """None when there is nothing to compare yet."""
    reason: str | None = None


def compare(station: StationCost | None, platform: Money | None) -> CostComparison:
    """Whether the station's latest cost and the platform's price agree within `TOLERANCE`."""
    if station is None:
        return CostComparison(None, platform, None, None, "the station reported no cost")
    if station.failed:
        return CostComparison(None, platform, None, False, f"the station could not calculate: {station.failure_reason}")
    mine = station.total
    if mine is None or platform is None:
        why = "the station reported no total" if mine is None else "the platform has not priced it yet"
        return CostComparison(mine, platform, None, None, why)
    if mine.currency != platform.currency:
        return CostComparison(mine, platform, None, False,
                              f"the station priced in {mine.currency}, the platform in {platform.currency}")
    difference = mine - platform
    allowed = abs(platform.amount) * TOLERANCE
    agrees = abs(difference.amount) <= allowed
    reason = None if agrees else (
        f"the station's {mine.amount} {mine.currency} differs from the platform's "
        f"{platform.amount} {platform.currency} by {difference.amount}")
    return CostComparison(mine, platform, difference, agrees, reason)
