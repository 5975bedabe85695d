"""What a process of the gateway role (docs/operations.md: extra gateway processes, or a
gateway of its own) leaves to the processes that serve the API: the availability search's
in-memory network, which only the API asks. It would read the whole network at start, and
follow every status event of every node, for nobody."""

from __future__ import annotations

import pytest

from tests.conftest import running_platform


@pytest.mark.parametrize(("role", "loads"), [("all", 1), ("api", 1), ("gateway", 0)])
async def test_only_a_process_that_serves_the_api_loads_the_network_for_search(settings, role, loads):
    async with running_platform(settings.model_copy(update={"role": role})) as platform:
        assert platform.search.full_loads == loads
