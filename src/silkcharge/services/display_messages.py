"""Display messages (OCPP 2.0.1 O01-O06): what an operator puts on a charger's screen.

An operator writes one message with its text in as many languages as they like. A 2.0.1
message carries one language, so silkcharge sends one SetDisplayMessage per language the
message goes out in, and keeps them together as one group (the first message's id):

* a message for one transaction (O02) goes out only in its driver's language (the language of
  the driver account that owns the session's idToken), when the message has that text;
* otherwise every text in a language the station can show goes out, where the station says it
  shows several (`DisplayMessageCtrlr.Language` and the list of languages it allows), so each
  driver reads the message in their own;
* a station that shows one language gets the text in that language, else the first text.

The same group id again replaces the group's messages (O06); clearing a group clears each of
them (O05). A station's own report (NotifyDisplayMessages, after GetDisplayMessages) keeps the
stored list current, and a complete unfiltered report replaces it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from silkcharge.bus.local import (
    EventBus,
    StationCallError,
    StationOffline,
    StationReplyInvalid,
    StationTimeout,
)
from silkcharge.domain.clock import utcnow
from silkcharge.domain.commands import (
    ClearDisplayMessage,
    CommandParams,
    GetDisplayMessages,
    SetDisplayMessage,
)
from silkcharge.domain.device import DisplayMessageInfo
from silkcharge.domain.events import DeviceModelChanged
from silkcharge.services.commands import CommandObserver, CommandRefused, CommandService
from silkcharge.services.device_model import RequestInvalid, StationDeclined, UnknownRecord
from silkcharge.services.station_requests import DISPLAY_MESSAGES, StationRequests, part_values
from silkcharge.store.schema import (
    DisplayMessage,
    Driver,
    DriverToken,
    IdToken,
    Station,
    StationRequest,
    Transaction,
)

LANGUAGE_KEY = "DisplayMessageCtrlr.Language"
LANGUAGES_KEY = LANGUAGE_KEY + "#valuesList"
"""The languages a station allows for its display, kept from its device-model report."""
CSMS, STATION = "csms", "station"
STATION_FAILURES = (StationOffline, StationTimeout, StationCallError, StationReplyInvalid)


@dataclass(frozen=True)
class MessageRequest:
    """One operator message: texts by language (RFC 5646 codes such as ru, kk, en)."""

    texts: dict[str, str]
    priority: str = "NormalCycle"
    state: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    transaction_id: int | None = None
    """silkcharge's id of the session the message is for (O02); its driver's language is used."""
    format: str = "UTF8"
    group_id: int | None = None
    """A group to replace (O06); None for a new message."""


@dataclass
class MessageOutcome:
    group_id: int
    languages: list[str]
    messages: list[DisplayMessage] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    """language -> the station's status, for translations it did not take."""


def primary(language: str) -> str:
    return language.replace("_", "-").split("-")[0].lower()


def choose_languages(
    texts: Iterable[str], station_languages: list[str], default: str | None, driver: str | None,
) -> list[str]:
    """Which of the message's languages go to the station (the rules in the module docstring)."""
    given = list(texts)
    by_primary = {primary(language): language for language in reversed(given)}
    if driver and primary(driver) in by_primary:
        return [by_primary[primary(driver)]]
    if len({primary(language) for language in station_languages}) > 1:
        shown = {primary(language) for language in station_languages}
        chosen = [language for language in given if primary(language) in shown]
        if chosen:
            return chosen
    if default and primary(default) in by_primary:
        return [by_primary[primary(default)]]
    return given[:1]


def station_languages(configuration: dict[str, Any]) -> tuple[list[str], str | None]:
    """The languages a station allows and its default, from its stored configuration."""
    default = configuration.get(LANGUAGE_KEY)
    allowed = [v.strip() for v in str(configuration.get(LANGUAGES_KEY, "")).split(",") if v.strip()]
    return allowed or ([str(default)] if default else []), (str(default) if default else None)


class DisplayMessageService(CommandObserver):
    def __init__(
        self, sessions: async_sessionmaker, bus: EventBus, commands: CommandService, requests: StationRequests,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._commands = commands
        self._requests = requests
        self._groups: dict[tuple[str, int], int] = {}  # (station, message id) -> group, while sending
        commands.observe(self)

    # -- operator actions ------------------------------------------------------------------------

    async def set(self, station_id: str, request: MessageRequest) -> MessageOutcome:
        if not request.texts or not all(text.strip() for text in request.texts.values()):
            raise RequestInvalid("a display message needs at least one non-empty text")
        version, configuration, station_tx_id, driver_language = await self._context(
            station_id, request.transaction_id)
        # A station whose version has display messages also says which languages it shows.
        if LANGUAGE_KEY not in configuration and self._commands.can(version, "set_display_message"):
            configuration = await self._ask_language(station_id, configuration)
        allowed, default = station_languages(configuration)
        languages = choose_languages(request.texts, allowed, default, driver_language)
        ids, dropped = await self._message_ids(station_id, request.group_id, languages)
        outcome = MessageOutcome(request.group_id or ids[languages[0]], languages)
        for language in languages:
            params = SetDisplayMessage(
                message_id=ids[language], priority=request.priority, state=request.state,
                starts_at=request.starts_at, ends_at=request.ends_at, station_tx_id=station_tx_id,
                format=request.format, language=language, content=request.texts[language],
            )
            self._groups[(station_id, params.message_id)] = outcome.group_id
            try:
                result = await self._commands.send(station_id, "set_display_message", params.model_dump())
            finally:
                self._groups.pop((station_id, params.message_id), None)
            if result.status != "Accepted":
                outcome.refused[language] = result.status or "Rejected"
        for message_id in dropped:  # a replacement without a language the group had
            await self._commands.send(station_id, "clear_display_message", {"message_id": message_id})
        outcome.messages = [m for m in await self.messages(station_id) if m.group_id == outcome.group_id]
        if not outcome.messages:
            refusals = ", ".join(f"{lang}: {status}" for lang, status in outcome.refused.items())
            raise StationDeclined(f"station {station_id} took none of the message's languages ({refusals})",
                                  next(iter(outcome.refused.values()), None))
        return outcome

    async def clear(self, station_id: str, message_id: int) -> list[tuple[int, str]]:
        """Clear a message and the other languages of its group; (message id, station's answer)
        for each. A message neither stored nor known to the station is UnknownRecord."""
        async with self._sessions() as session:
            row = await session.scalar(select(DisplayMessage).where(
                DisplayMessage.station_id == station_id, DisplayMessage.message_id == message_id))
            ids = [message_id]
            if row is not None and row.group_id is not None:
                ids = list(await session.scalars(select(DisplayMessage.message_id).where(
                    DisplayMessage.station_id == station_id, DisplayMessage.group_id == row.group_id)))
        answers = []
        for each in sorted(ids):
            result = await self._commands.send(station_id, "clear_display_message", {"message_id": each})
            answers.append((each, result.status or "Unknown"))
        if row is None and all(status == "Unknown" for _, status in answers):
            raise UnknownRecord(f"station {station_id} has no display message {message_id} "
                                "(it answered Unknown, and silkcharge has none stored)")
        return answers

    async def request_report(
        self, station_id: str, ids: list[int] | None = None, priority: str | None = None, state: str | None = None,
    ) -> StationRequest:
        """O03/O04: the station answers with NotifyDisplayMessages parts."""
        asked = {"ids": ids or [], "priority": priority, "state": state}
        row = await self._requests.reserve(station_id, DISPLAY_MESSAGES, asked)
        await self._commands.send(station_id, "get_display_messages", {"request_id": row.request_id, **asked})
        return await self._requests.get(station_id, DISPLAY_MESSAGES, row.request_id) or row

    async def messages(self, station_id: str) -> list[DisplayMessage]:
        async with self._sessions() as session:
            return list((await session.scalars(
                select(DisplayMessage).where(DisplayMessage.station_id == station_id)
                .order_by(func.coalesce(DisplayMessage.group_id, DisplayMessage.message_id), DisplayMessage.message_id)
            )).all())

    async def _ask_language(self, station_id: str, configuration: dict[str, Any]) -> dict[str, Any]:
        """The display's language, asked once of a 2.0.1 station that never reported it (the
        answer is stored like any other). The languages it allows come only with a report
        (get_base_report), or from an operator's pin."""
        try:
            result = await self._commands.send(station_id, "get_configuration", {"keys": [LANGUAGE_KEY]})
        except (CommandRefused, *STATION_FAILURES):
            return configuration
        return {**configuration, **result.details.get("values", {})}

    async def _context(
        self, station_id: str, transaction_id: int | None,
    ) -> tuple[str | None, dict[str, Any], str | None, str | None]:
        """The station's version and configuration; the transaction's own id and its driver's
        language, for a message tied to one."""
        async with self._sessions() as session:
            station = await session.get(Station, station_id)
            if station is None:
                raise UnknownRecord(f"no station {station_id}")
            if transaction_id is None:
                return station.ocpp_version, station.configuration or {}, None, None
            tx = await session.get(Transaction, transaction_id)
            if tx is None or tx.station_id != station_id:
                raise UnknownRecord(f"station {station_id} has no transaction {transaction_id}")
            if tx.state != "Active":
                raise RequestInvalid(f"transaction {transaction_id} has ended; a message for it would never show")
            language = await session.scalar(
                select(Driver.language).join(DriverToken, DriverToken.driver_id == Driver.id)
                .join(IdToken, IdToken.id == DriverToken.id_token_id).where(IdToken.token == tx.id_token)
            ) if tx.id_token else None
        return station.ocpp_version, station.configuration or {}, tx.station_tx_id, language

    async def _message_ids(
        self, station_id: str, group_id: int | None, languages: list[str],
    ) -> tuple[dict[str, int], list[int]]:
        """Ids per language: a replaced group keeps its own per language (O06); new languages
        get ids after every id stored for the station. Also the group's ids no language uses
        any more (to clear)."""
        async with self._sessions() as session:
            highest = await session.scalar(
                select(func.max(DisplayMessage.message_id)).where(DisplayMessage.station_id == station_id)
            ) or 0
            existing: dict[str, int] = {}
            if group_id is not None:
                rows = (await session.scalars(select(DisplayMessage).where(
                    DisplayMessage.station_id == station_id, DisplayMessage.group_id == group_id))).all()
                if not rows:
                    raise UnknownRecord(f"station {station_id} has no display message {group_id}")
                existing = {primary(r.language or ""): r.message_id for r in rows}
        ids: dict[str, int] = {}
        next_id = highest + 1
        for language in languages:
            if primary(language) in existing:
                ids[language] = existing.pop(primary(language))
            else:
                ids[language], next_id = next_id, next_id + 1
        return ids, sorted(existing.values())

    # -- what replies and reports teach --------------------------------------------------------

    async def before(self, station_id: str, params: CommandParams) -> None:
        if isinstance(params, GetDisplayMessages):
            await self._requests.opened(station_id, DISPLAY_MESSAGES, params.request_id, {
                "ids": params.ids, "priority": params.priority, "state": params.state,
            })

    async def after(
        self, station_id: str, params: CommandParams, reply: dict[str, Any], details: dict[str, Any],
        status: str | None,
    ) -> None:
        if isinstance(params, SetDisplayMessage) and status == "Accepted":
            group = self._groups.get((station_id, params.message_id), params.message_id)
            await self._upsert(station_id, [_info(params)], CSMS, group)
        elif isinstance(params, ClearDisplayMessage) and status in ("Accepted", "Unknown"):
            await self._remove(station_id, [params.message_id])
        elif isinstance(params, GetDisplayMessages) and status is not None:
            await self._requests.answered(station_id, DISPLAY_MESSAGES, params.request_id, status,
                                          done=status != "Accepted")
            if status == "Unknown" and not params.ids and params.priority is None and params.state is None:
                await self._replace_all(station_id, set())

    async def failed(self, station_id: str, params: CommandParams, reason: str) -> None:
        if isinstance(params, GetDisplayMessages):
            await self._requests.answered(station_id, DISPLAY_MESSAGES, params.request_id, "Failed", done=True)

    async def reported(
        self, station_id: str, request_id: int, messages: list[DisplayMessageInfo], more_to_come: bool,
    ) -> None:
        """One NotifyDisplayMessages part."""
        if messages:
            await self._upsert(station_id, messages, STATION, None)
        row = await self._requests.part(
            station_id, DISPLAY_MESSAGES, request_id, None, last=not more_to_come,
            data=[m.message_id for m in messages],
        )
        asked = row.asked or {}
        unfiltered = not asked.get("ids") and asked.get("priority") is None and asked.get("state") is None
        if row.complete and row.status != "Unsolicited" and unfiltered:
            await self._replace_all(station_id, {i for ids in part_values(row) for i in ids or []})

    async def _upsert(
        self, station_id: str, messages: list[DisplayMessageInfo], source: str, group_id: int | None,
    ) -> None:
        async with self._sessions.begin() as session:
            stored = {
                row.message_id: row for row in (await session.scalars(select(DisplayMessage).where(
                    DisplayMessage.station_id == station_id,
                    DisplayMessage.message_id.in_([m.message_id for m in messages]),
                ))).all()
            }
            for message in messages:
                row = stored.get(message.message_id)
                if row is None:
                    row = DisplayMessage(station_id=station_id, message_id=message.message_id, source=source,
                                         group_id=group_id)
                    session.add(row)
                elif group_id is not None:
                    row.group_id = group_id
                row.priority, row.state = message.priority, message.state
                row.starts_at, row.ends_at = message.starts_at, message.ends_at
                row.transaction_id, row.display = message.transaction_id, message.display
                row.format, row.language, row.content = message.format, message.language, message.content
                row.updated_at = utcnow()
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "display_messages"))

    async def _remove(self, station_id: str, ids: list[int]) -> None:
        async with self._sessions.begin() as session:
            await session.execute(delete(DisplayMessage).where(
                DisplayMessage.station_id == station_id, DisplayMessage.message_id.in_(ids)))
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "display_messages"))

    async def _replace_all(self, station_id: str, reported: set[int]) -> None:
        async with self._sessions.begin() as session:
            statement = delete(DisplayMessage).where(DisplayMessage.station_id == station_id)
            if reported:
                statement = statement.where(DisplayMessage.message_id.not_in(reported))
            await session.execute(statement)
        self._bus.publish(DeviceModelChanged(station_id, utcnow(), "display_messages"))


def _info(params: SetDisplayMessage) -> DisplayMessageInfo:
    return DisplayMessageInfo(
        message_id=params.message_id, priority=params.priority, content=params.content, format=params.format,
        language=params.language, state=params.state, starts_at=params.starts_at, ends_at=params.ends_at,
        transaction_id=params.station_tx_id, display=params.display.model_dump(exclude_none=True)
        if params.display else None,
    )
