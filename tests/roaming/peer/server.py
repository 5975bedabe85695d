"""An OCPI 2.2.1 party that is not silkcharge: the other side of the interoperability tests.

It is built on the `extrawest-ocpi` library (import name `py_ocpi`), an independent FastAPI
implementation of OCPI, and runs in its own virtual environment (`.venv-ocpi-peer`, made by
`make ocpi-peer`): the library pins FastAPI and pydantic versions that silkcharge has left
behind. Nothing in silkcharge imports this file; tests start it as a process
(tests/roaming/peer/fixture.py).

What is ours and what is the library's:
- the library serves the OCPI side: versions, version details, credentials (including its
  call back to the registering party's versions endpoint), and the module endpoints; it checks
  the Authorization header and hands each object to our CRUD class;
- ours is the storage (in memory), the tokens it accepts, the registration this party
  starts itself (the library has no client for that), and a debug surface under `/peer` that
  tests read: every OCPI request received with the answer given, the objects stored, the
  registered partners. The debug surface has no authentication: the process listens on
  127.0.0.1 only and lives for one test.

Run: `.venv-ocpi-peer/bin/python tests/roaming/peer/server.py --port 0 --token-a TOKEN`.
With port 0 the process binds a free port itself; either way it prints
`OCPI-PEER READY <port>` on stdout once the socket is listening.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

READY_LINE = "OCPI-PEER READY"


@dataclass
class PeerConfig:
    host: str
    port: int
    token_a: list[str]
    country_code: str
    party_id: str
    roles: list[str]
    name: str

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/versions"


@dataclass
class Partner:
    """A party registered with this one, from either direction."""

    their_token: str  # the token this peer sends when it calls them
    our_token: str  # the token they send when they call this peer
    versions_url: str
    roles: list[dict]
    endpoints: list[dict]
    initiated_by: str  # "them" (they POSTed credentials here) or "us"


@dataclass
class PeerState:
    """Everything the peer knows, in memory; one per process, built in `main`."""

    config: PeerConfig
    unused_token_a: set[str]
    partners: list[Partner] = field(default_factory=list)
    pending_tokens: set[str] = field(default_factory=set)  # our tokens in registrations we started
    objects: dict[str, dict[str, dict]] = field(default_factory=dict)  # module -> id -> object
    requests: list[dict] = field(default_factory=list)
    changed: asyncio.Condition | None = None

    def accepted_tokens(self) -> list[str]:
        return [p.our_token for p in self.partners] + sorted(self.pending_tokens)

    def partner_by_our_token(self, token: str | None) -> Partner | None:
        return next((p for p in self.partners if p.our_token == token), None)

    def own_credentials(self, token: str) -> dict:
        """This party's Credentials object as a plain dict, before the library's model reads it."""
        return {
            "token": token,
            "url": self.config.versions_url,
            "roles": [
                {
                    "role": role,
                    "business_details": {"name": self.config.name},
                    "party_id": self.config.party_id,
                    "country_code": self.config.country_code,
                }
                for role in self.config.roles
            ],
        }

    async def note_request(self, entry: dict) -> None:
        assert self.changed is not None
        async with self.changed:
            self.requests.append(entry)
            self.changed.notify_all()


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _key(value: Any) -> str:
    return str(value).lower()


def _last_updated(item: dict) -> datetime | None:
    text = item.get("last_updated")
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _as_aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def build_crud(state: PeerState, api: Any) -> Any:
    """An instance of the library's CRUD interface over `state`.

    The library calls `get`, `list`, `create`, `update`, `delete` and `do` with the module and
    role and hands path values (country code, party id, object id) as keywords; objects
    arrive as dicts of the library's own models.
    """
    ModuleID, Action = api.ModuleID, api.Action
    credentials = ModuleID.credentials_and_registration

    class MemoryCrud(api.Crud):
        async def get(self, module, role, id, *args, **kwargs):
            if module == credentials:
                partner = state.partner_by_our_token(kwargs.get("auth_token"))
                return state.own_credentials(partner.our_token) if partner else None
            return state.objects.get(module.value, {}).get(_key(id))

        async def list(self, module, role, filters, *args, **kwargs):
            items = list(state.objects.get(module.value, {}).values())
            date_from = _as_aware(filters.get("date_from"))
            date_to = _as_aware(filters.get("date_to"))
            if date_from is not None:
                items = [i for i in items if (_last_updated(i) or date_from) >= date_from]
            if date_to is not None:
                items = [i for i in items if (_last_updated(i) or date_to) < date_to]
            offset, limit = filters["offset"], filters["limit"]
            page = items[offset : offset + limit]
            return page, len(items), offset + limit >= len(items)

        async def create(self, module, role, data, *args, **kwargs):
            if module == credentials:
                return self._register(data, kwargs.get("auth_token"))
            object_id = data.get("id") or data.get("uid")
            state.objects.setdefault(module.value, {})[_key(object_id)] = data
            return data

        async def update(self, module, role, data, id, *args, **kwargs):
            if module == credentials:
                return self._reregister(data, kwargs.get("auth_token"))
            state.objects.setdefault(module.value, {})[_key(id)] = data
            return data

        async def delete(self, module, role, id, *args, **kwargs):
            if module == credentials:
                partner = state.partner_by_our_token(kwargs.get("auth_token"))
                if partner:
                    state.partners.remove(partner)
                return None
            state.objects.get(module.value, {}).pop(_key(id), None)
            return None

        async def do(self, module, role, action, *args, data=None, **kwargs):
            if action == Action.authorize_token:
                token = state.objects.get("tokens", {}).get(_key(data["token_uid"]))
                allowed = "ALLOWED" if token and token.get("valid") else "NOT_ALLOWED"
                return {"allowed": allowed, "token": token}
            if action == Action.get_client_token:
                partner = state.partner_by_our_token(kwargs.get("auth_token"))
                return partner.their_token if partner else None
            return None

        def _register(self, data: dict, token_a: str | None) -> dict:
            theirs = data["credentials"]
            partner = Partner(
                their_token=theirs["token"],
                our_token=new_token(),
                versions_url=theirs["url"],
                roles=theirs["roles"],
                endpoints=data["endpoints"].get("endpoints", []),
                initiated_by="them",
            )
            state.partners.append(partner)
            state.unused_token_a.discard(token_a or "")
            return state.own_credentials(partner.our_token)

        def _reregister(self, data: dict, token: str | None) -> dict:
            partner = state.partner_by_our_token(token)
            if partner is None:
                raise api.AuthorizationOCPIError
            theirs = data["credentials"]
            partner.their_token = theirs["token"]
            partner.versions_url = theirs["url"]
            partner.roles = theirs["roles"]
            partner.endpoints = data["endpoints"].get("endpoints", [])
            partner.our_token = new_token()
            return state.own_credentials(partner.our_token)

    return MemoryCrud()


def build_authenticator(state: PeerState, api: Any) -> type:
    """The library's Authenticator over `state`: token A until used, then the tokens partners hold.

    The library instantiates the class itself for every request, so it is a class made here
    around this process's state, not an instance.
    """

    class MemoryAuthenticator(api.Authenticator):
        @classmethod
        async def get_valid_token_a(cls) -> list[str]:
            return sorted(state.unused_token_a)

        @classmethod
        async def get_valid_token_c(cls) -> list[str]:
            return state.accepted_tokens()

    return MemoryAuthenticator


class RequestJournal:
    """ASGI middleware: keeps every /ocpi request with the answer given, for tests to read.

    It sits outside the library's own middleware, so it sees the request as sent and the
    response as the library shaped it (HTTP status, body).
    """

    def __init__(self, app: Any, state: PeerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/ocpi"):
            await self.app(scope, receive, send)
            return
        body = bytearray()
        answer = {"status": None, "body": bytearray()}

        async def receiving():
            message = await receive()
            if message["type"] == "http.request":
                body.extend(message.get("body", b""))
            return message

        async def sending(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body":
                answer["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receiving, sending)
        finally:
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            await self.state.note_request(
                {
                    "method": scope["method"],
                    "path": scope["path"],
                    "query": scope["query_string"].decode("latin-1"),
                    "authorization": headers.get("authorization"),
                    "body": _json_or_text(bytes(body)),
                    "status": answer["status"],
                    "response": _json_or_text(bytes(answer["body"])),
                }
            )


def _json_or_text(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def add_debug_routes(app: Any, state: PeerState, api: Any) -> None:
    """The `/peer` surface tests use to see and steer this party (not OCPI)."""
    from fastapi import Body, HTTPException

    @app.get("/peer/requests")
    async def received(after: int = 0, wait: float = 0.0):
        """The OCPI requests received from index `after` on; with `wait`, holds the answer until
        there is at least one (or `wait` seconds pass), so a test waits on the event."""
        assert state.changed is not None
        async with state.changed:
            if wait > 0 and len(state.requests) <= after:
                try:
                    await asyncio.wait_for(
                        state.changed.wait_for(lambda: len(state.requests) > after), timeout=wait
                    )
                except asyncio.TimeoutError:
                    pass
            return {"requests": state.requests[after:], "next": len(state.requests)}

    @app.get("/peer/objects/{module}")
    async def stored(module: str):
        return list(state.objects.get(module, {}).values())

    @app.put("/peer/objects/{module}")
    async def seed(module: str, item: dict = Body(...)):
        """Put an object the peer serves (as the library stored it would be), e.g. an eMSP token."""
        object_id = item.get("id") or item.get("uid")
        if not object_id:
            raise HTTPException(400, "the object needs an id or uid")
        state.objects.setdefault(module, {})[_key(object_id)] = item
        return item

    @app.get("/peer/partners")
    async def partners():
        return [vars(p) for p in state.partners]

    @app.post("/peer/register")
    async def register(request: dict = Body(...)):
        """Register with another party as the credentials Sender: {"versions_url", "token"}."""
        return await register_with(state, api, request["versions_url"], request["token"])


async def register_with(state: PeerState, api: Any, versions_url: str, token_a: str) -> dict:
    """Start the credentials handshake with another party, as OCPI 2.2.1 section 7.1.1 has it.

    GET its versions and 2.2.1 details with its token A, POST our credentials (with a new
    token B it will call us with) to its credentials endpoint, keep the token C it answers
    with. Each step's HTTP status and body are returned, so a test sees where it stopped.
    """
    import httpx

    steps: list[dict] = []
    headers = {"Authorization": f"Token {api.encode_string_base64(token_a)}"}

    def step(name: str, response: httpx.Response) -> Any:
        body = _json_or_text(response.content)
        steps.append(
            {"step": name, "url": str(response.url), "status": response.status_code, "body": body}
        )
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or body.get("status_code") != 1000
        ):
            return None
        return body.get("data")

    our_token = new_token()
    state.pending_tokens.add(our_token)
    try:
        async with httpx.AsyncClient(timeout=20) as client:
            versions = step("versions", await client.get(versions_url, headers=headers))
            if versions is None:
                return {"ok": False, "steps": steps}
            chosen = next((v for v in versions if v.get("version") == "2.2.1"), None)
            if chosen is None:
                return {"ok": False, "steps": steps, "error": "no 2.2.1 in versions"}
            details = step("details", await client.get(chosen["url"], headers=headers))
            if details is None:
                return {"ok": False, "steps": steps}
            endpoint = next(
                (e for e in details.get("endpoints", []) if e.get("identifier") == "credentials"),
                None,
            )
            if endpoint is None:
                return {"ok": False, "steps": steps, "error": "no credentials endpoint"}
            ours = api.Credentials(**state.own_credentials(our_token)).dict()
            theirs = step(
                "credentials", await client.post(endpoint["url"], json=ours, headers=headers)
            )
            if theirs is None:
                return {"ok": False, "steps": steps}
    finally:
        state.pending_tokens.discard(our_token)
    state.partners.append(
        Partner(
            their_token=theirs["token"],
            our_token=our_token,
            versions_url=theirs["url"],
            roles=theirs.get("roles", []),
            endpoints=details.get("endpoints", []),
            initiated_by="us",
        )
    )
    return {"ok": True, "steps": steps, "credentials": theirs}


def parse_args(argv: list[str]) -> PeerConfig:
    env = os.environ.get
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=env("OCPI_PEER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("OCPI_PEER_PORT", "0")))
    parser.add_argument(
        "--token-a",
        action="append",
        default=None,
        help="a token a party may register with (repeatable); env OCPI_PEER_TOKEN_A, comma-separated",
    )
    parser.add_argument("--country-code", default=env("OCPI_PEER_COUNTRY_CODE", "NL"))
    parser.add_argument("--party-id", default=env("OCPI_PEER_PARTY_ID", "EXW"))
    parser.add_argument(
        "--roles", default=env("OCPI_PEER_ROLES", "EMSP"), help="EMSP, CPO or both, comma-separated"
    )
    parser.add_argument("--name", default=env("OCPI_PEER_NAME", "Extrawest OCPI peer"))
    args = parser.parse_args(argv)
    tokens = args.token_a or [t for t in env("OCPI_PEER_TOKEN_A", "").split(",") if t]
    roles = [r.strip().upper() for r in args.roles.split(",") if r.strip()]
    if not tokens:
        parser.error("give at least one --token-a (or OCPI_PEER_TOKEN_A)")
    if not set(roles) <= {"EMSP", "CPO"} or not roles:
        parser.error("--roles takes EMSP and/or CPO")
    return PeerConfig(
        host=args.host,
        port=args.port,
        token_a=tokens,
        country_code=args.country_code,
        party_id=args.party_id,
        roles=roles,
        name=args.name,
    )


def load_library(config: PeerConfig) -> Any:
    """Import the library after its settings are in the environment: it reads them on import
    (host and scheme of every URL it publishes, and its own country code and party id)."""
    os.environ.update(
        {
            "OCPI_HOST": f"{config.host}:{config.port}",
            "PROTOCOL": "http",
            "COUNTRY_CODE": config.country_code,
            "PARTY_ID": config.party_id,
            "ENVIRONMENT": os.environ.get("OCPI_PEER_LIBRARY_ENVIRONMENT", "production"),
        }
    )
    from py_ocpi import get_application
    from py_ocpi.core.authentication.authenticator import Authenticator
    from py_ocpi.core.crud import Crud
    from py_ocpi.core.enums import Action, ModuleID, RoleEnum
    from py_ocpi.core.exceptions import AuthorizationOCPIError
    from py_ocpi.core.utils import encode_string_base64
    from py_ocpi.modules.credentials.v_2_2_1.schemas import Credentials
    from py_ocpi.modules.versions.enums import VersionNumber

    return argparse.Namespace(
        get_application=get_application,
        Authenticator=Authenticator,
        Crud=Crud,
        Action=Action,
        ModuleID=ModuleID,
        RoleEnum=RoleEnum,
        AuthorizationOCPIError=AuthorizationOCPIError,
        encode_string_base64=encode_string_base64,
        Credentials=Credentials,
        VersionNumber=VersionNumber,
    )


def build_app(state: PeerState, api: Any) -> Any:
    module_ids = api.ModuleID
    modules = [
        module_ids.credentials_and_registration,
        module_ids.locations,
        module_ids.tariffs,
        module_ids.sessions,
        module_ids.cdrs,
        module_ids.tokens,
        module_ids.commands,
    ]
    ocpi_app = api.get_application(
        version_numbers=[api.VersionNumber.v_2_2_1],
        roles=[api.RoleEnum(role) for role in state.config.roles],
        crud=build_crud(state, api),
        modules=modules,
        authenticator=build_authenticator(state, api),
    )
    add_debug_routes(ocpi_app, state, api)

    @ocpi_app.on_event("startup")
    async def announce() -> None:
        state.changed = asyncio.Condition()
        print(f"{READY_LINE} {state.config.port}", flush=True)

    return RequestJournal(ocpi_app, state)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(sys.argv[1:] if argv is None else argv)
    # Bind (and listen) before the library reads its host setting, so port 0 works and a
    # client that connects before the server loop runs waits in the backlog, not refused.
    # IPPROTO_TCP named, so asyncio sets TCP_NODELAY on accepted sockets (a kept-alive request
    # would otherwise wait ~40 ms on the client's delayed ACK).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((config.host, config.port))
    listener.listen(128)
    config.port = listener.getsockname()[1]
    api = load_library(config)
    state = PeerState(config=config, unused_token_a=set(config.token_a))
    app = build_app(state, api)

    import uvicorn

    # A test that stops the peer may leave a long poll of /peer/requests open: do not wait for it.
    server_config = uvicorn.Config(
        app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(server_config)
    asyncio.run(server.serve(sockets=[listener]))


if __name__ == "__main__":
    main()
