"""OCPP timestamps: written as YYYY-MM-DDTHH:MM:SS.mmmZ in UTC, read back to the millisecond."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from silkcharge.domain.clock import parse_ocpp, to_ocpp

OCPP_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30),
    timezones=st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))),
)


@given(moments)
def test_any_aware_moment_is_written_in_utc_to_the_millisecond_and_reads_back(moment):
    text = to_ocpp(moment)
    assert OCPP_FORMAT.match(text), text
    in_utc = moment.astimezone(timezone.utc)
    assert parse_ocpp(text) == in_utc.replace(microsecond=in_utc.microsecond // 1000 * 1000)


def test_a_moment_in_almaty_is_written_as_the_same_instant_in_utc():
    almaty = timezone(timedelta(hours=5))
    assert to_ocpp(datetime(2026, 12, 5, 21, 30, 0, 987_654, tzinfo=almaty)) == "2026-12-05T16:30:00.987Z"


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="naive"):
        to_ocpp(datetime(2026, 12, 5, 12, 0))
