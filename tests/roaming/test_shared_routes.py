"""A process builds its HTTP route table once (api/app.py): two networks served side by side
in one process share it, and each request still reaches its own network."""

from __future__ import annotations

import asyncio

import pytest

from silkcharge.api.app import create_api


async def test_two_networks_in_one_process_share_the_route_table_and_each_answers_for_itself(kz, uz):
    assert create_api(kz.platform)._routes is create_api(uz.platform)._routes
    answers = await asyncio.gather(*(
        network.api.get("/api/v1/roaming/identities") for network in (kz, uz, kz, uz)
    ))
    assert [[i["party_id"] for i in answer.json()] for answer in answers] == [["SLK"], ["UZE"], ["SLK"], ["UZE"]]
    versions = await asyncio.gather(kz.ocpi("GET", "versions", None), uz.ocpi("GET", "versions", None))
    assert [answer.status_code for answer in versions] == [401, 401]  # each /ocpi is its network's own


async def test_the_shared_tables_state_is_only_read_inside_a_request(kz):
    with pytest.raises(AttributeError, match="outside a request"):
        create_api(kz.platform)._routes.state.platform
