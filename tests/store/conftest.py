from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.store.residents import Resident, resident_platform


@pytest.fixture
async def resident() -> AsyncIterator[Resident]:
    """Two real databases, a tenant living in each (tests/store/residents.py)."""
    async with resident_platform() as built:
        yield built
