"""The composition root: one Settings object in, the wired platform out. No module-level state.

Running it as a process (the API server, extra gateway processes, signals) is `server.py`."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from silkcharge.bus.local import EventBus, LocalRouter
from silkcharge.domain.plausibility import Limits
from silkcharge.ocpp.adapter import Adapter
from silkcharge.ocpp.gateway import Gateway
from silkcharge.ocpp.v16 import V16Adapter
from silkcharge.ocpp.v21 import V21Adapter
from silkcharge.ocpp.v201 import V201Adapter
from silkcharge.ocpp.v201_device import DeviceManagement201
from silkcharge.planning.rollups import RollupJob
from silkcharge.roaming.charging_profiles import ProfileDesk, ProfileSender
from silkcharge.roaming.commands import CommandDesk, CommandSender
from silkcharge.roaming.driver_start import DriverStarts
from silkcharge.roaming.object_push import ObjectPush
from silkcharge.roaming.partners import PartnerService
from silkcharge.roaming.profile_push import ProfilePush
from silkcharge.roaming.pull import PartnerPull, PartnerPuller
from silkcharge.roaming.push import RoamingPush
from silkcharge.roaming.session_push import RoamingTransactionOwners, SessionFollower
from silkcharge.roaming.state import Roaming
from silkcharge.roaming.tokens import RoamingTokenAuthority, TokenPublisher
from silkcharge.services.access import AccessService
from silkcharge.services.audit import AuditTrail
from silkcharge.services.billing import BillingService
from silkcharge.services.cdr_review import CdrReviews
from silkcharge.services.certificates import CertificateAuthority, CertificateService
from silkcharge.services.charger_cost import ChargerCostService
from silkcharge.services.commands import CommandService
from silkcharge.services.contract_certificates import ContractCertificateService
from silkcharge.services.customer_information import CustomerInformationService
from silkcharge.services.der_control import DerControlService
from silkcharge.services.device_model import DeviceModelServices
from silkcharge.services.device_reports import DeviceReports
from silkcharge.services.display_facts import DisplayFacts
from silkcharge.services.display_messages import DisplayMessageService
from silkcharge.services.driver_data import DriverData
from silkcharge.services.drivers import DriverService
from silkcharge.services.ev_schedules import EvSchedules
from silkcharge.services.exchange_rates import ExchangeRates
from silkcharge.services.external_limits import ExternalLimits
from silkcharge.services.firmware_publishing import FirmwarePublishing
from silkcharge.services.monitoring import MonitoringService
from silkcharge.services.network_profiles import NetworkProfiles
from silkcharge.services.partner_sites import PartnerSites
from silkcharge.services.payments import CardPayments
from silkcharge.services.plausibility import Plausibility
from silkcharge.services.pseudonym_key import PseudonymKey
from silkcharge.services.reservations import ReservationLedger, ReservationService
from silkcharge.services.retention import Retention, RetentionSweep
from silkcharge.services.search import SearchPerDatabase, SearchService
from silkcharge.services.security_events import SecurityEvents
from silkcharge.services.smart import SmartChargingService
from silkcharge.services.station_configuration import StationConfiguration
from silkcharge.services.station_profiles import StationProfiles
from silkcharge.services.station_requests import StationRequests
from silkcharge.services.station_security import StationSecurity
from silkcharge.services.station_tariffs import StationTariffs
from silkcharge.services.stations import StationService
from silkcharge.services.tariff_info import TariffInfoService
from silkcharge.services.transaction_status import TransactionStatusChecks
from silkcharge.services.transactions import TransactionService
from silkcharge.services.writer import BatchWriter, WriterPerDatabase
from silkcharge.settings import Settings
from silkcharge.store.db import create_engine_for, dispose_engine, sessionmaker_for
from silkcharge.store.direct import Direct
from silkcharge.store.group_commit import GroupCommitter
from silkcharge.store.residency import CommitterPerDatabase, Residency, enter_database
from silkcharge.store.workers import Workers

log = logging.getLogger(__name__)


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker
    bus: EventBus
    router: LocalRouter
    writer: BatchWriter
    committer: GroupCommitter
    stations: StationService
    transactions: TransactionService
    commands: CommandService
    billing: BillingService
    reservations: ReservationService
    gateway: Gateway
    search: SearchService
    drivers: DriverService
    security_events: SecurityEvents
    workers: Workers
    """Threads for heavy reads and computations, off the event loop (store/workers.py)."""
    charger_costs: ChargerCostService | None = None
    tariff_info: TariffInfoService | None = None
    smart: SmartChargingService | None = None
    plausibility: Plausibility | None = None
    reviews: CdrReviews | None = None
    rollups: RollupJob | None = None
    """Analytics roll-ups (planning/rollups.py): run where the API runs."""
    station_security: StationSecurity | None = None
    network_profiles: NetworkProfiles | None = None
    certificates: CertificateService | None = None
    device: DeviceModelServices | None = None
    station_profiles: StationProfiles | None = None
    pseudonym_key: PseudonymKey | None = None
    """The key of the pseudonyms shown instead of idTokens and emails (read on start)."""
    driver_data: DriverData | None = None
    retention: RetentionSweep | None = None
    station_tariffs: StationTariffs | None = None
    """OCPP 2.1 local cost: tariffs on stations and the costs they calculate."""
    payments: CardPayments | None = None
    """OCPP 2.1 ad-hoc payment: bank card settlements at the charger and their receipts."""
    access: AccessService | None = None
    """Tenants, operator accounts and API keys (services/access.py)."""
    audit: AuditTrail | None = None
    """Every operator action (services/audit.py, recorded by api/audit.py)."""
    residency: Residency | None = None
    """The databases of tenants that live in their own (store/residency.py); None: one database."""
    roaming: Roaming | None = None
    """OCPI 2.2.1 roaming: partners and what the /ocpi routers need (roaming/state.py)."""
    roaming_push: RoamingPush | None = None
    """OCPI pushes to roaming partners through the outbox (roaming/outbox.py, roaming/push.py)."""
    roaming_sessions: SessionFollower | None = None
    """Sessions and CDRs of partners' drivers pushed to their eMSP (roaming/session_push.py)."""
    roaming_puller: PartnerPuller | None = None
    """Partners' locations and tariffs pulled every roaming_pull_minutes (roaming/pull.py)."""
    roaming_objects: ObjectPush | None = None
    """Our changed locations and tariffs pushed to partners (roaming/object_push.py)."""
    roaming_profiles: ProfilePush | None = None
    """The ActiveChargingProfile of partners' sessions pushed when it changed (roaming/profile_push.py)."""

    async def start(self) -> None:
        if self.residency is not None:
            await self.residency.attach()
        if self.pseudonym_key is not None:
            await self.pseudonym_key.start()
        await self.workers.start()
        self.bus.start()
        self.router.start()
        self.writer.start()
        self.committer.start()
        await self.stations.reset_presence()
        await self.billing.caps.install_shipped()  # before any price is read or checked
        self.billing.start()
        self.reservations.start()
        if self.settings.role != "gateway":  # the availability search answers the API only
            await self.search.start()
        if self.smart is not None and self.settings.role != "gateway":
            self.smart.start()  # one load manager per deployment: where the API runs
        if self.charger_costs is not None:
            await self.charger_costs.start()
        if self.tariff_info is not None:
            self.tariff_info.start()
        if self.rollups is not None and self.settings.role != "gateway":
            self.rollups.start()
        if self.retention is not None and self.settings.role != "gateway":
            self.retention.start()
        if self.device is not None and self.settings.role != "api":
            self.device.transaction_status.start()  # where the gateway hears the transactions
        if self.roaming_push is not None:  # the sender where the API runs, the status where the gateway does
            self.roaming_push.start(send=self.settings.role != "gateway", follow=self.settings.role != "api")
        if self.roaming_sessions is not None:  # every role: the gateway hears sessions, billing makes CDRs
            self.roaming_sessions.start(catch_up=self.settings.role != "gateway")
        if self.roaming_profiles is not None:  # every role: the API records profiles, the gateway hears limits
            self.roaming_profiles.start()
        if self.roaming_puller is not None and self.settings.role != "gateway":
            self.roaming_puller.start()
        if self.roaming_objects is not None and self.settings.role != "gateway":
            self.roaming_objects.start()
        if self.settings.role != "api":
            await self.gateway.start()

    async def stop(self) -> None:
        if self.roaming_profiles is not None:  # first: its rounds ask stations and enqueue pushes
            await self.roaming_profiles.stop()
        await self.gateway.stop()
        if self.roaming is not None and self.roaming.commands is not None:
            await self.roaming.commands.stop()
        if self.roaming is not None and self.roaming.charging_profiles is not None:
            await self.roaming.charging_profiles.stop()
        if self.roaming_sessions is not None:
            await self.roaming_sessions.stop()
        if self.roaming_puller is not None:
            await self.roaming_puller.stop()
        if self.roaming_objects is not None:
            await self.roaming_objects.stop()
        if self.roaming_push is not None:
            await self.roaming_push.stop()
        if self.retention is not None:
            await self.retention.stop()
        if self.rollups is not None:
            await self.rollups.stop()
        if self.device is not None:
            await self.device.transaction_status.stop()
        if self.smart is not None:
            await self.smart.stop()
        if self.charger_costs is not None:
            await self.charger_costs.stop()
        if self.tariff_info is not None:
            await self.tariff_info.stop()
        await self.search.stop()
        await self.reservations.stop()
        await self.billing.stop()
        await self.committer.stop()
        await self.writer.stop()
        await self.router.stop()
        await self.bus.stop()
        await self.workers.stop()
        if self.residency is not None:
            await self.residency.dispose()
        await dispose_engine(self.engine)


def bus_and_router(settings: Settings, residency: Residency | None = None) -> tuple[EventBus, LocalRouter]:
    """In one process, the in-memory bus; with Redis, the bus and router shared by every node.
    With data residency, an event carries the database it happened in to its subscribers."""
    where = {} if residency is None else {"origin": residency.current, "enter": enter_database}
    if not settings.redis_url:
        return EventBus(**where), LocalRouter()
    from redis.asyncio import Redis

    from silkcharge.bus.redis import RedisEventBus, RedisRouter

    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=2, socket_timeout=30, health_check_interval=15
    )
    node = settings.node_id or default_node_name()
    return RedisEventBus(redis, node, **where), RedisRouter(redis, node, serves_stations=settings.role != "api")


def build_platform(settings: Settings, engine: AsyncEngine | None = None) -> Platform:
    """The platform for `settings`. `engine`: one for `settings.database_url` that the caller
    made and keeps across platforms (the tests do, so that the statements its cache compiled
    for one platform serve the next); stopping the platform closes its connections, not it."""
    if engine is None:
        engine = create_engine_for(settings.database_url, settings.database_pool_size)
    residency = None
    if settings.tenant_databases:
        residency = Residency(
            engine, settings.tenant_databases, lambda url: create_engine_for(url, settings.database_pool_size)
        )
    sessions = residency.sessionmaker() if residency is not None else sessionmaker_for(engine)
    bus, router = bus_and_router(settings, residency)

    # With residency a batch's statements may go to two databases: sessions route them.
    direct = Direct(engine) if residency is None else None

    def make_writer() -> BatchWriter:
        return BatchWriter(
            sessions, settings.message_log_flush_seconds, keep=timedelta(days=settings.message_log_days),
            direct=direct,
        )

    def make_committer() -> GroupCommitter:
        return GroupCommitter(
            sessions, max_batch=settings.write_batch_max,
            lanes=1 if settings.is_sqlite else max(1, settings.database_pool_size // 4),
            direct=direct,
        )

    # With residency, one writer and one committer per database, so no batch mixes databases.
    writer = make_writer() if residency is None else WriterPerDatabase(residency, make_writer)
    committer = make_committer() if residency is None else CommitterPerDatabase(residency, make_committer)
    plausibility = Plausibility(sessions, Limits(settings.plausibility_limits))
    stations = StationService(sessions, bus, writer, settings, committer, plausibility)
    ledger = ReservationLedger(sessions, plausibility)
    adapters: dict[str, Adapter] = {}  # filled below; the profiles read configuration through them
    profiles = StationProfiles(sessions, adapters)
    transactions = TransactionService(sessions, bus, ledger, committer, plausibility, profiles=profiles)
    security_events = SecurityEvents(sessions)
    adapters.update({
        adapter.version: adapter
        for adapter in (
            V16Adapter(stations, transactions, ledger, security_events),
            V201Adapter(stations, transactions, ledger, security_events),
            V21Adapter(stations, transactions, ledger, security_events),
        )
    })
    commands = CommandService(sessions, router, adapters, stations, settings.call_timeout, profiles=profiles)
    reservations = ReservationService(
        sessions, ledger, commands, profiles,
        max_ahead=timedelta(hours=settings.reservation_max_hours),
        check_every=settings.reservation_check_every,
        # A request whose answer was not stored within two call timeouts never will be.
        unanswered_after=timedelta(seconds=2 * settings.call_timeout + 10),
    )
    billing = BillingService(
        sessions, bus, stale_after=timedelta(hours=settings.stale_session_hours), plausibility=plausibility,
        direct=direct,
    )
    # A 2.0.1 Updated reply's running-cost row, read by the direct write that stores the event.
    transactions.read_with_updates = billing.read_running
    gateway = Gateway(settings, stations, adapters, router, writer, security_events)
    workers = Workers(settings.database_url, settings.heavy_work_threads, settings.heavy_work_queue, residency)

    def make_search() -> SearchService:
        partners = PartnerSites(ExchangeRates(sessions, settings.exchange_rate_max_age_days))  # roaming partners' sites
        return SearchService(sessions, bus, billing, workers, refresh_seconds=settings.search_refresh_seconds,
                             others=partners)

    # Drivers see every operator's stations: with residency, a live network per database.
    search = make_search() if residency is None else SearchPerDatabase(residency, make_search)
    key = settings.pseudonym_key
    pseudonym_key = PseudonymKey(sessions, key.get_secret_value() if key is not None else None)
    drivers = DriverService(sessions, timedelta(hours=settings.driver_session_hours), pseudonyms=pseudonym_key,
                            app_tenant=settings.driver_app_tenant)
    displays = DisplayFacts(sessions, profiles, commands)
    charger_costs = ChargerCostService(
        sessions, bus, billing, commands, adapters, displays, every=settings.cost_update_every
    )
    tariff_info = TariffInfoService(sessions, bus, billing, commands, adapters, profiles, displays)
    for adapter in adapters.values():
        adapter.costs = charger_costs
        adapter.tariffs = tariff_info
    station_tariffs, payments = local_cost_services(settings, sessions, billing, commands)
    for adapter in adapters.values():
        if isinstance(adapter, V21Adapter):
            adapter.station_costs, adapter.payments = station_tariffs, payments
    external_limits = ExternalLimits(sessions, bus)
    smart = SmartChargingService(
        sessions, bus, commands, profiles,
        rebalance_delay=settings.smart_rebalance_delay,
        check_every=settings.smart_check_every,
        over_limit_tolerance_a=settings.smart_over_limit_tolerance_a,
        external_limits=external_limits,
    )
    for adapter in adapters.values():
        adapter.smart = smart
    rollups = RollupJob(
        workers, every=settings.analytics_rollup_every, default_heartbeat=settings.heartbeat_interval,
        grace_seconds=settings.offline_grace, max_days=settings.analytics_max_days,
    )
    certificates = build_certificates(settings, sessions, security_events, commands, bus)
    for adapter in adapters.values():
        adapter.certificates = certificates
    device = device_model_services(sessions, bus, commands, stations, smart, external_limits)
    for adapter in adapters.values():
        if isinstance(adapter, V21Adapter):
            adapter.der = device.der_control
    for adapter in adapters.values():
        if isinstance(adapter, DeviceManagement201):
            adapter.device = device
    partners = PartnerService(sessions, settings)
    # A card our registry does not know may be a roaming partner's driver's (OCPI tokens).
    roaming_authority = RoamingTokenAuthority(settings, sessions, partners)
    transactions.roaming = roaming_authority
    roaming_push = RoamingPush(settings, sessions, bus, partners)
    command_sender = CommandSender(sessions, partners)
    roaming = Roaming(
        settings, sessions, bus, partners,
        tokens=TokenPublisher(settings, sessions, roaming_push.outbox),
        token_owners=RoamingTransactionOwners(),
        commands=CommandDesk(sessions, partners, commands, reservations, call_timeout=settings.call_timeout),
        command_sender=command_sender,
        charging_profiles=ProfileDesk(sessions, partners, commands, smart, call_timeout=settings.call_timeout),
        profile_sender=ProfileSender(sessions, partners),
        driver_starts=DriverStarts(sessions, command_sender, settings.ocpi_token_whitelist),
        pull=PartnerPull(sessions, partners),
        retry_partner=roaming_push.sender.retry_now,
    )
    every = settings.roaming_pull_minutes
    puller = None if every is None else PartnerPuller(sessions, roaming.pull, timedelta(minutes=every))
    roaming_authority.commanded = roaming.commands.commanded_start  # a partner's START_SESSION vouches for its token
    return Platform(
        settings, engine, sessions, bus, router, writer, committer, stations, transactions, commands, billing,
        reservations, gateway, search, drivers, security_events, workers=workers,
        charger_costs=charger_costs, tariff_info=tariff_info, smart=smart, rollups=rollups,
        plausibility=plausibility, reviews=CdrReviews(sessions, billing, plausibility.checks),
        station_security=StationSecurity(
            sessions, commands, adapters, security_events, settings, tls_port=gateway.bound_tls_port
        ),
        network_profiles=NetworkProfiles(
            sessions, commands, {v: a for v, a in adapters.items() if isinstance(a, V201Adapter)}, security_events
        ),
        certificates=certificates, device=device, station_profiles=profiles,
        pseudonym_key=pseudonym_key, driver_data=DriverData(sessions), retention=RetentionSweep(
            sessions, retention_of(settings), every=settings.retention_sweep_every),
        station_tariffs=station_tariffs, payments=payments,
        access=AccessService(sessions, settings.api_key), audit=AuditTrail(sessions), residency=residency,
        roaming=roaming,
        roaming_push=roaming_push,
        roaming_sessions=SessionFollower(sessions, bus, roaming_push.outbox, roaming),
        roaming_puller=puller,
        roaming_objects=ObjectPush(sessions, roaming_push.outbox, settings.roaming_object_push_seconds),
        roaming_profiles=ProfilePush(sessions, bus, roaming_push.outbox, commands),
    )


def local_cost_services(
    settings: Settings, sessions: async_sessionmaker, billing: BillingService, commands: CommandService,
) -> tuple[StationTariffs, CardPayments]:
    """OCPP 2.1 local cost and ad-hoc payment: every tariff sent to a station is checked by
    StationTariffs first, and a card receipt's address is on the console's public address."""
    station_tariffs = StationTariffs(sessions, billing)
    commands.provide_tariffs(station_tariffs.tariff_for)
    commands.observe(station_tariffs)
    public = settings.public_url or f"http://{settings.api_host}:{settings.api_port}"
    return station_tariffs, CardPayments(sessions, public)


def retention_of(settings: Settings) -> Retention:
    """How long each kind of data is kept (the message log's is the writer's `keep`)."""
    samples, profiles = settings.meter_sample_days, settings.roaming_profile_days
    return Retention(
        driver_sessions=timedelta(days=settings.driver_session_days),
        reset_links=timedelta(days=settings.reset_link_days),
        meter_samples=timedelta(days=samples) if samples is not None else None,
        roaming_profiles=timedelta(days=profiles) if profiles is not None else None,
    )


def device_model_services(
    sessions: async_sessionmaker, bus: EventBus, commands: CommandService, stations: StationService,
    smart: SmartChargingService, external_limits: ExternalLimits,
) -> DeviceModelServices:
    requests = StationRequests(sessions)
    return DeviceModelServices(
        monitoring=MonitoringService(sessions, bus, commands, stations, requests),
        display_messages=DisplayMessageService(sessions, bus, commands, requests),
        customer_information=CustomerInformationService(sessions, bus, commands, requests),
        firmware_publishing=FirmwarePublishing(sessions, bus, commands),
        external_limits=external_limits,
        ev_schedules=EvSchedules(sessions, bus, smart.installed_views),
        transaction_status=TransactionStatusChecks(sessions, bus, commands),
        configuration=StationConfiguration(sessions, bus),
        reports=DeviceReports(bus, commands, requests),
        der_control=DerControlService(sessions, bus, commands, requests),
    )


def build_certificates(
    settings: Settings, sessions: async_sessionmaker, security_events: SecurityEvents, commands: CommandService,
    bus: EventBus,
) -> CertificateService:
    authority = CertificateAuthority(
        sessions, settings.ca_cert_file, settings.ca_key_file, settings.certificate_organization
    )
    certificates = CertificateService(
        sessions, security_events, authority,
        organization=settings.certificate_organization,
        days=settings.station_certificate_days,
        expiry_warning_days=settings.certificate_expiry_warning_days,
        ocsp_responder_url=settings.ocsp_responder_url,
        ocsp_timeout=settings.ocsp_timeout,
        contract_service=ContractCertificateService(settings.contract_certificate_service_url, settings.call_timeout),
        bus=bus,
    )
    certificates.attach(commands)
    return certificates


def default_node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"
