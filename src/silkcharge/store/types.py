"""Column types that keep exact decimals and aware UTC times on both SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import DateTime, Numeric, String
from sqlalchemy.types import TypeDecorator

DIGITS_BEFORE_POINT = 14
"""NUMERIC(20, 6): what an exact decimal column holds, on both engines."""


class ExactDecimal(TypeDecorator):
    """NUMERIC on PostgreSQL; text on SQLite, whose NUMERIC affinity would round-trip through float.
    Both refuse a number beyond NUMERIC(20, 6), so SQLite stores nothing PostgreSQL could not."""

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(20, 6, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if not value.is_finite() or value.adjusted() >= DIGITS_BEFORE_POINT:
            raise ValueError(f"{value} does not fit an exact decimal column (NUMERIC(20, 6))")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return plain(Decimal(value))


class ExactRate(ExactDecimal):
    """An exchange rate: NUMERIC(22, 12) on PostgreSQL (10 digits before the point, 12 after:
    UZS→USD is about 0.00008, which NUMERIC(20, 6) would round to 0.00008 flat), text on SQLite.
    domain/exchange.py `check_rate` keeps rates within these bounds; this refuses what slipped
    past it instead of letting PostgreSQL round it."""

    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(22, 12, asdecimal=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value)
        if not value.is_finite() or value.adjusted() >= 10 or value.normalize().as_tuple().exponent < -12:
            raise ValueError(f"{value} does not fit an exchange rate column (NUMERIC(22, 12))")
        return str(value) if dialect.name == "sqlite" else value


def plain(value: Decimal) -> Decimal:
    """The same number without trailing zeros or exponent: 1700.000000 and 1.7E+3 become 1700.
    Exact at any size (a row stored before the column was bounded may hold 1E+30)."""
    if not value.is_finite():
        return value
    normal = value.normalize()
    return Decimal(int(normal)) if normal.as_tuple().exponent > 0 else normal


_LAST_BOUND: tuple[datetime | None, str | None] = (None, None)
"""The datetime `UtcDateTime` last bound on SQLite and its text (see `bind_processor`)."""


class UtcDateTime(TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python, whatever the engine stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC times")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect):
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite stores the UTC time as text, in SQLAlchemy's own format for its DATETIME
        # ("2026-12-05 09:01:02.000000"), which is what `isoformat` writes: one C call in place
        # of the dialect's formatting through a dict and this decorator's hop, for every bound
        # timestamp of every row (py-spy: 9 % of the gateway's time on StatusNotification).
        # The readings of one meter value share its time, one datetime object bound once per
        # reading: the last one bound keeps its text (an aware datetime's formatting costs
        # 1.4 µs; the identity check nothing, where a dict's look-up would hash every miss,
        # 0.7 µs). Threads that bind in turn only miss: the pair is replaced whole.
        def process(value: datetime | None) -> str | None:
            global _LAST_BOUND
            if value is None:
                return None
            last, text = _LAST_BOUND
            if value is last:
                return text
            if value.tzinfo is None:
                raise ValueError("naive datetime given to the store; use aware UTC times")
            utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
            text = utc.isoformat(" ", "microseconds")[:26]
            _LAST_BOUND = (value, text)
            return text

        return process

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)
