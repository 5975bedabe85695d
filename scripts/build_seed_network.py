"""Build the curated seed network shipped in ``silkcharge/data/seed/network.json``.

The seed network is what the demo, the simulator and the tests run against: about 120 charging
stations in the cities and along the corridors of Central Asia. It is *approximate*. The script
keeps sourced facts and illustrative choices apart so that every site can say which is which:

* sourced: the cities, the corridors, charger counts, the IRS km markers on the M34 and the
  Arkadag site, each taken from ``region/facts.md`` and checked against it at build time;
* derived: corridor positions, placed on the routes of the road graph the trip planner and
  the network planning use (``silkcharge.trips.roads``: OpenStreetMap-derived, ODbL-1.0, with
  mountain legs corrected to reference km), so every corridor site lies on the route a plan
  through that corridor follows;
* illustrative: the exact spot of a city site, the number of stations per site and all hardware.

The product never reads the shared data folder; only the generated JSON ships.

Usage::

    .venv/bin/python scripts/build_seed_network.py [SHARED_DATA_DIR] [--output PATH]

``SHARED_DATA_DIR`` defaults to ``../shared/data`` relative to the repository root; only its
``region/facts.md`` is read (the road graph is the packaged one).
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from silkcharge.data.seed import validate_seed_network
from silkcharge.domain.geo import haversine_km
from silkcharge.trips.roads import BorderPassage, RoadGraph, Route, load_road_graph

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUTPUT = REPO_ROOT / "src" / "silkcharge" / "data" / "seed" / "network.json"

GENERATED = "2026-11-21"
"""Compilation date written to ``meta.generated``; bump it when the facts or the choices change."""

SNAP_KM = 2.0
"""A corridor point this close (in road km) to a node of its route is moved onto the node."""

CURVY_EDGE_RATIO = 1.10
"""A route segment longer than this multiple of its straight line bends (or was corrected for a
mountain road); a point interpolated on it may lie off the real road."""


# --------------------------------------------------------------------------------------------
# Facts carried over from region/facts.md. `evidence` is quoted from the file and checked at
# build time (whitespace collapsed, markdown bold removed), so a changed facts file is noticed.
# `source` is the source note exactly as facts.md gives it; "[memory]" marks an unverified fact.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    evidence: str
    source: str
    date: str


FACTS: dict[str, Fact] = {
    "kz_almaty": Fact("Almaty 283", "Ministry of Transport via airpres.kz", "undated (~2024)"),
    "kz_astana": Fact("Astana 21", "Ministry of Transport via airpres.kz", "undated (~2024)"),
    "kz_shymkent": Fact("Shymkent 11", "Ministry of Transport via airpres.kz", "undated (~2024)"),
    "kz_highways": Fact("23 stations on republican highways", "qazaqstan.tv", "undated"),
    "kz_hw_centre_south": Fact("Yekaterinburg–Almaty | 7", "qazaqstan.tv", "undated"),
    "kz_hw_a2": Fact("Tashkent–Shymkent–Taraz–Almaty | 5", "qazaqstan.tv", "undated"),
    "kz_hw_khorgos": Fact("Almaty–Shelek–Khorgos | 2", "qazaqstan.tv", "undated"),
    "corr_a2": Fact(
        "KZ national A2, 1,292 km from the Uzbek border near Tashkent to Khorgos",
        "A2 (Kazakhstan) Wikipedia mirror",
        "undated",
    ),
    "corr_kordai": Fact("crosses the Kordai pass", "24.kg", "2024-02-16"),
    "corr_centre_south": Fact(
        '"Center–South" corridor, four lanes end to end', "astanatv.kz; qazaqstan.tv", "undated"
    ),
    "corr_m39": Fact("part of Soviet M39", "uzbekistan.travel", "undated"),
    "corr_m37": Fact(
        'in Uzbekistan the "Zarafshan tract"', "source not named in facts.md", "undated"
    ),
    "corr_m34": Fact("Dushanbe–Khujand ≈330 km", "source not named in facts.md", "undated"),
    "corr_bishkek_osh": Fact(
        "Bishkek–Osh road (E010)", "Lonely Planet; trvlland; Wikipedia mirror", "undated"
    ),
    "corr_too_ashuu": Fact(
        "about 120–135 km from Bishkek", "Lonely Planet; trvlland; Wikipedia mirror", "undated"
    ),
    "corr_khorgos": Fact(
        "Khorgos/Nur Zholy is the main road crossing", "[memory], unverified", "undated"
    ),
    "kg_counts": Fact("≈60 in Bishkek", "24.kg", "2026-03-02"),
    "kg_national": Fact("230 charging stations nationwide", "24.kg", "2026-03-02"),
    "kg_chakan": Fact(
        "Chakan HPP is building 10 stations on the Bishkek–Osh and Bishkek–Karakol roads",
        "24.kg; naturenews.africa",
        "2025-09-10",
    ),
    "uz_tashkent": Fact("Tashkent city | 820", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "uz_tashkent_region": Fact(
        "Tashkent region | 154", "trend.az; aniq.uz; daryo.uz", "2025-05-01"
    ),
    "uz_samarkand": Fact("Samarkand | 67", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "uz_bukhara": Fact("Bukhara | 39", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "uz_jizzakh": Fact("Jizzakh | 50", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "uz_navoi": Fact("Navoi | 23", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "uz_syrdarya": Fact("Syrdarya | 13", "trend.az; aniq.uz; daryo.uz", "2025-05-01"),
    "tj_irs": Fact(
        "km 11 and 15 (Varzob), km 107 and 130 (Ayni), km 284 (J. Rasulov), km 300 (Khujand) "
        "and km 322 (B. Gafurov)",
        "Avesta via azda.tv",
        "undated",
    ),
    "tj_irs_units": Fact("60 × 180 kW units", "Avesta via azda.tv", "undated"),
    "tj_fleet": Fact(
        "≈34,000 EVs by 2025 (120 in 2022); all Dushanbe taxis ordered electric by Sept 2025",
        "tajikauto.com; Global Voices",
        "2025",
    ),
    "tj_no_count": Fact("No reliable national charger count found", "facts.md", "undated"),
    "tm_arkadag": Fact(
        "Arkadag city has 5 charging units", "autoturkmen.com; sng.fm", "undated"
    ),
}


def check_facts(facts_md: str) -> None:
    """Fail loudly if a fact this script relies on is no longer stated in facts.md."""
    text = " ".join(facts_md.replace("**", "").split())
    missing = [key for key, fact in FACTS.items() if " ".join(fact.evidence.split()) not in text]
    if missing:
        raise SystemExit(f"facts.md no longer states: {', '.join(missing)}; update FACTS")


# --------------------------------------------------------------------------------------------
# Countries, operators, places
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    currency: str
    vat_percent: str
    timezone: str


COUNTRIES = {
    "KZ": Country("KZ", "Kazakhstan", "KZT", "16", "Asia/Almaty"),
    "KG": Country("KG", "Kyrgyzstan", "KGS", "12", "Asia/Bishkek"),
    "UZ": Country("UZ", "Uzbekistan", "UZS", "12", "Asia/Tashkent"),
    "TJ": Country("TJ", "Tajikistan", "TJS", "14", "Asia/Dushanbe"),
    "TM": Country("TM", "Turkmenistan", "TMT", "15", "Asia/Ashgabat"),
    "CN": Country("CN", "China (Xinjiang)", "CNY", "13", "Asia/Shanghai"),
}

VAT_NOTE = (
    "Standard VAT rates as of the generation date, not taken from facts.md: KZ 16 % (new Tax "
    "Code, in force 2026-01-01; high), UZ 12 % (high), KG 12 % (high), TJ 14 % (Tax Code 2021, "
    "reduced from 15 % in 2024; medium, verify), TM 15 % (medium, verify), CN 13 % on the "
    "electricity, while a separately invoiced charging service fee may be taxed at 6 % "
    "(medium). Check each rate before billing real customers."
)

TIMEZONE_NOTE = (
    "KZ has used a single UTC+5 since 2024-03-01 (IANA Asia/Almaty is UTC+5 from tzdata 2024a); "
    "KG UTC+6; UZ, TJ, TM UTC+5. Xinjiang officially keeps Beijing time, so CN sites use "
    "Asia/Shanghai (UTC+8), not Asia/Urumqi (UTC+6, the unofficial local time)."
)


@dataclass(frozen=True)
class Place:
    """A well-known place; coordinates are public city-centre values (about 1 km precision)."""

    code: str
    country: str
    lat: float
    lon: float


PLACES = {
    "Almaty": Place("ALA", "KZ", 43.238, 76.889),
    "Astana": Place("AST", "KZ", 51.169, 71.449),
    "Shymkent": Place("SHY", "KZ", 42.317, 69.590),
    "Taraz": Place("TAR", "KZ", 42.900, 71.367),
    "Merke": Place("MER", "KZ", 42.870, 73.180),
    "Kordai": Place("KOR", "KZ", 43.040, 74.710),
    "Balkhash": Place("BAL", "KZ", 46.848, 74.995),
    "Karaganda": Place("KAR", "KZ", 49.806, 73.088),
    "Temirtau": Place("TEM", "KZ", 50.055, 72.965),
    "Shelek": Place("SHE", "KZ", 43.597, 78.249),
    "Zharkent": Place("ZHA", "KZ", 44.163, 80.000),
    "Bishkek": Place("BIS", "KG", 42.875, 74.603),
    "Kara-Balta": Place("KBA", "KG", 42.815, 73.849),
    "Tash-Kumyr": Place("TKU", "KG", 41.348, 72.217),
    "Jalal-Abad": Place("JAL", "KG", 40.933, 73.001),
    "Osh": Place("OSH", "KG", 40.513, 72.816),
    "Tashkent": Place("TAS", "UZ", 41.311, 69.279),
    "Jizzakh": Place("JIZ", "UZ", 40.116, 67.842),
    "Samarkand": Place("SAM", "UZ", 39.655, 66.975),
    "Kattakurgan": Place("KAT", "UZ", 39.899, 66.256),
    "Navoi": Place("NAV", "UZ", 40.084, 65.379),
    "Bukhara": Place("BUK", "UZ", 39.775, 64.421),
    "Dushanbe": Place("DUS", "TJ", 38.560, 68.787),
    "Khujand": Place("KHU", "TJ", 40.283, 69.622),
    "Arkadag": Place("ARK", "TM", 37.940, 58.120),
    "Urumqi": Place("URU", "CN", 43.825, 87.617),
}


# --------------------------------------------------------------------------------------------
# Hardware profiles: all illustrative (plausible for the region, not surveyed).
# OCPP 1.6 profiles have one connector per EVSE, so evse_id is the OCPP 1.6 connectorId.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hardware:
    vendor: str
    model: str
    ocpp_version: str
    evses: tuple[tuple[tuple[str, str], ...], ...]  # per EVSE: (standard, max kW) per connector
    role: str = ""  # why the demo needs this one, for its site's note; {letter} is its station


HARDWARE = {
    "dc60": Hardware(
        "XCharge", "DC 60 kW, GB/T DC + CCS2 (generic)", "1.6",
        ((("gbt_dc", "60"),), (("ccs2", "60"),)),
    ),
    "dc120": Hardware(
        "TELD", "DC 120 kW, 2 x GB/T DC (generic)", "1.6",
        ((("gbt_dc", "120"),), (("gbt_dc", "120"),)),
    ),
    "dc160": Hardware(
        "Star Charge", "DC 160 kW, GB/T DC + CCS2 (generic)", "2.0.1",
        ((("gbt_dc", "160"),), (("ccs2", "160"),)),
    ),
    "dc180": Hardware(
        "Kehua", "DC 180 kW, GB/T DC + CCS2 (generic)", "2.0.1",
        ((("gbt_dc", "180"),), (("ccs2", "180"),)),
    ),
    "dc150": Hardware(
        "ABB", "DC 150 kW, CCS2 + CHAdeMO (generic)", "2.0.1",
        ((("ccs2", "150"), ("chademo", "50")),),
    ),
    "dc240": Hardware(
        "Autel", "DC 240 kW, 2 EVSEs each GB/T DC + CCS2 (generic)", "2.0.1",
        ((("gbt_dc", "240"), ("ccs2", "240")), (("gbt_dc", "240"), ("ccs2", "240"))),
    ),
    "ac22": Hardware(
        "Schneider Electric", "AC 22 kW, 2 x Type 2 (generic)", "1.6",
        ((("type2", "22"),), (("type2", "22"),)),
    ),
    # One only, where the demo needs it: the Dushanbe taxi depot's V2G charger.
    "ac22v2g": Hardware(
        "Schneider Electric", "AC 22 kW bidirectional (ISO 15118-20 AC BPT), 2 x Type 2 (generic)",
        "2.1", ((("type2", "22"),), (("type2", "22"),)),
        role=(
            "The bidirectional OCPP 2.1 AC station ({letter}) is the demo taxi depot's V2G "
            "charger (business.json `depot`)"
        ),
    ),
    "acgbt": Hardware(
        "TELD", "AC 7 kW, 2 x GB/T AC (generic)", "1.6",
        ((("gbt_ac", "7"),), (("gbt_ac", "7"),)),
    ),
    "acmix": Hardware(
        "Autel", "AC 22 kW Type 2 + 7 kW GB/T AC (generic)", "2.0.1",
        ((("type2", "22"),), (("gbt_ac", "7"),)),
    ),
}

HARDWARE_NOTE = (
    "Hardware (vendor, model, OCPP version, connectors, power) is illustrative: a plausible mix "
    "for a GB/T-first market, not surveyed."
)


# --------------------------------------------------------------------------------------------
# The sites: city sites at illustrative spots around public city centres, corridor sites on
# the road graph.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CitySites:
    city: str
    facts: tuple[str, ...]
    confidence: str
    why: str  # what the sourced facts establish, and so why this confidence
    sites: tuple[tuple[str, ...], ...]  # hardware keys, one tuple per site


SOURCED_COUNT = "a public charger count for the city, so public charging certainly exists here"
REGION_COUNT = "a public charger count for its region only"

CITY_SITES = (
    CitySites("Almaty", ("kz_almaty",), "high", SOURCED_COUNT, (
        ("dc240", "dc120", "ac22", "acgbt"), ("dc160", "dc60", "acmix"),
        ("dc120", "ac22"), ("dc60", "acgbt"), ("dc150", "ac22"),
    )),
    CitySites("Astana", ("kz_astana",), "high", SOURCED_COUNT, (
        ("dc160", "acgbt"), ("dc60", "ac22"), ("dc150", "acmix"),
    )),
    CitySites("Shymkent", ("kz_shymkent",), "high", SOURCED_COUNT, (
        ("dc120", "acgbt"), ("dc60", "ac22"),
    )),
    CitySites("Bishkek", ("kg_counts",), "high", SOURCED_COUNT, (
        ("dc120", "acgbt"), ("dc160", "ac22"), ("dc60", "acmix"), ("dc120", "acgbt"),
    )),
    CitySites("Osh", ("kg_national",), "medium", (
        "the country's charger count; facts.md has none for Osh, a regional capital"
    ), (
        ("dc120", "acgbt"), ("dc60",),
    )),
    CitySites("Tashkent", ("uz_tashkent",), "high", SOURCED_COUNT, (
        ("dc240", "dc160", "acgbt"), ("dc120", "dc60", "acmix"), ("dc160", "acgbt"),
        ("dc150", "ac22"), ("dc120", "acgbt"),
    )),
    CitySites("Samarkand", ("uz_samarkand",), "medium", REGION_COUNT, (
        ("dc160", "acgbt"), ("dc120", "ac22"), ("dc60", "acmix"),
    )),
    CitySites("Bukhara", ("uz_bukhara",), "medium", REGION_COUNT, (
        ("dc120", "acgbt"), ("dc60", "ac22"),
    )),
    CitySites("Dushanbe", ("tj_fleet", "tj_no_count"), "medium", (
        "a large EV fleet with electric taxis in the capital; facts.md has no charger count "
        "for Tajikistan"
    ), (
        ("dc160", "acgbt"), ("dc60", "ac22v2g"), ("dc120", "acmix"),
    )),
    CitySites("Khujand", ("tj_irs", "tj_no_count"), "medium", (
        "IRS announced a DC site at km 300 (Khujand); facts.md has no charger count for the city"
    ), (
        ("dc60", "acgbt"),
    )),
    CitySites("Arkadag", ("tm_arkadag",), "medium", (
        "5 charging units in the city for a fleet of 10 JAC cars and 10 buses; whether they "
        "are public is not stated, the city's coordinates are approximate (from memory, not "
        "verified), and Turkmenistan is otherwise a charging desert"
    ), (
        ("dc60", "acgbt"),
    )),
)


@dataclass(frozen=True)
class Corridor:
    code: str
    name: str
    stops: tuple[str, ...]  # the route runs through these road-graph places in this order
    facts: tuple[str, ...]
    reference: tuple[str, float] | None = None  # (stop, its marker km) to scale km markers
    reference_note: str = ""
    private_car: bool = True  # route as the planner does for a private car


CORRIDORS = {
    "ALB": Corridor("ALB", "Almaty-Bishkek", ("Almaty", "Bishkek"), ("corr_a2", "corr_kordai")),
    "BTT": Corridor(
        "BTT", "Bishkek-Taraz-Shymkent-Tashkent", ("Bishkek", "Taraz", "Shymkent", "Tashkent"),
        ("corr_a2", "kz_hw_a2"),
    ),
    "TSB": Corridor(
        "TSB", "Tashkent-Samarkand-Bukhara", ("Tashkent", "Samarkand", "Bukhara"),
        ("corr_m39", "corr_m37"),
    ),
    "M34": Corridor(
        "M34", "Tashkent-Khujand-Dushanbe", ("Dushanbe", "Khujand", "Tashkent"),
        ("corr_m34", "tj_irs"), reference=("Khujand", 300.0),
        reference_note=(
            " The IRS count runs about 10 % short of the ≈330 km reference distance to which "
            "the road graph is corrected. Read as road km unscaled, km 300 would lie 30 km "
            "short of Khujand and km 130 15 km short of Ayni; scaled, km 130 falls within 3 km "
            "of Ayni's centre."
        ),
    ),
    "BOS": Corridor(
        "BOS", "Bishkek-Osh", ("Bishkek", "Jalal-Abad", "Osh"),
        ("corr_bishkek_osh", "kg_chakan"),
    ),
    "AAS": Corridor(
        "AAS", "Almaty-Balkhash-Karaganda-Astana", ("Almaty", "Balkhash", "Karaganda", "Astana"),
        ("corr_centre_south", "kz_hw_centre_south"),
    ),
    "AKH": Corridor(
        "AKH", "Almaty-Khorgos", ("Almaty", "Urumqi"), ("corr_a2", "kz_hw_khorgos", "corr_khorgos"),
        private_car=False,  # the road data closes Khorgos to independent private cars
    ),
}


@dataclass(frozen=True)
class CorridorSite:
    """A site on a corridor, placed at a town (nearest point of the route) or at a chainage.

    ``km`` is road km along the corridor's route from its first stop, or marker km when
    ``marker`` is set (then scaled onto the route with the corridor's reference). ``label``
    names the spot.
    """

    corridor: str
    country: str
    label: str
    hardware: tuple[str, ...]
    facts: tuple[str, ...]
    confidence: str
    town: str | None = None
    km: float | None = None
    marker: bool = False


CORRIDOR_SITES = (
    CorridorSite("ALB", "KZ", "km 100 from Almaty", ("dc120",), (), "low", km=100),
    CorridorSite("ALB", "KZ", "Kordai", ("dc160", "acgbt"), (), "low", town="Kordai"),
    CorridorSite("ALB", "KG", "northern approach to Bishkek", ("dc60",), (), "low", km=222),
    CorridorSite("BTT", "KZ", "Merke", ("dc120", "ac22"), (), "low", town="Merke"),
    CorridorSite("BTT", "KZ", "Taraz", ("dc160", "acgbt"), (), "medium", town="Taraz"),
    CorridorSite("BTT", "KZ", "km 410 from Bishkek, between Taraz and Shymkent", ("dc120",),
                 (), "low", km=410),
    CorridorSite("BTT", "KZ", "km 592 from Bishkek, Kazakh side of the Uzbek border",
                 ("dc60", "acgbt"), (), "low", km=592),
    CorridorSite("TSB", "UZ", "km 100 from Tashkent (Syrdarya region)", ("dc120", "acgbt"),
                 ("uz_syrdarya",), "low", km=100),
    CorridorSite("TSB", "UZ", "Jizzakh", ("dc160", "ac22"), ("uz_jizzakh",), "medium",
                 town="Jizzakh"),
    CorridorSite("TSB", "UZ", "Kattakurgan", ("dc60",), ("uz_samarkand",), "medium",
                 town="Kattakurgan"),
    CorridorSite("TSB", "UZ", "Navoi", ("dc120", "acmix"), ("uz_navoi",), "medium",
                 town="Navoi"),
    CorridorSite("M34", "TJ", "IRS km 11 (Varzob)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=11, marker=True),
    CorridorSite("M34", "TJ", "IRS km 15 (Varzob)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=15, marker=True),
    CorridorSite("M34", "TJ", "IRS km 107 (Ayni)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=107, marker=True),
    CorridorSite("M34", "TJ", "IRS km 130 (Ayni)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=130, marker=True),
    CorridorSite("M34", "TJ", "IRS km 284 (J. Rasulov)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=284, marker=True),
    CorridorSite("M34", "TJ", "IRS km 300 (Khujand)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=300, marker=True),
    CorridorSite("M34", "TJ", "IRS km 322 (B. Gafurov)", ("dc180", "dc180"), ("tj_irs_units",),
                 "medium", km=322, marker=True),
    CorridorSite("M34", "UZ", "about 70 road km from Tashkent toward Khujand", ("dc120",),
                 ("uz_tashkent_region",), "low", km=418),
    CorridorSite("BOS", "KG", "Kara-Balta", ("dc120", "acgbt"), (), "low", town="Kara-Balta"),
    CorridorSite("BOS", "KG", "south of the Too-Ashuu tunnel (Suusamyr valley)", ("dc160",),
                 ("corr_too_ashuu",), "low", km=149),
    CorridorSite("BOS", "KG", "km 216 from Bishkek", ("dc60",), (), "low", km=216),
    CorridorSite("BOS", "KG", "Tash-Kumyr", ("dc120",), (), "low", town="Tash-Kumyr"),
    CorridorSite("BOS", "KG", "Jalal-Abad", ("dc120", "acgbt"), (), "medium",
                 town="Jalal-Abad"),
    CorridorSite("AAS", "KZ", "km 320 from Almaty", ("dc120",), (), "low", km=320),
    CorridorSite("AAS", "KZ", "Balkhash", ("dc160", "acgbt"), (), "medium", town="Balkhash"),
    CorridorSite("AAS", "KZ", "km 794 from Almaty", ("dc120",), (), "low", km=794),
    CorridorSite("AAS", "KZ", "km 952 from Almaty", ("dc60",), (), "low", km=952),
    CorridorSite("AAS", "KZ", "Karaganda", ("dc160", "ac22"), (), "medium",
                 town="Karaganda"),
    CorridorSite("AAS", "KZ", "Temirtau", ("dc120",), (), "low", town="Temirtau"),
    CorridorSite("AAS", "KZ", "km 1150 from Almaty", ("dc120",), (), "low", km=1150),
    CorridorSite("AKH", "KZ", "Shelek", ("dc120",), (), "low", town="Shelek"),
    CorridorSite("AKH", "KZ", "Zharkent", ("dc60", "acgbt"), (), "low", town="Zharkent"),
    CorridorSite("AKH", "KZ", "approach to the Khorgos crossing", ("dc160", "dc60"), (), "low",
                 km=305),
    CorridorSite("AKH", "CN", "China side, east of the Khorgos crossing", ("dc120", "acgbt"),
                 (), "low", km=343),
)

TOWN_MAX_OFFSET_KM = 12.0
"""A town-placed corridor site must land this close to the town, or the build fails."""


# --------------------------------------------------------------------------------------------
# Corridor routes on the shared road graph (silkcharge.trips.roads, as the trip planner uses)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CorridorPath:
    """A corridor routed leg by leg through its stops, and the road km at which each stop lies."""

    route: Route
    stop_km: dict[str, float]


@dataclass(frozen=True)
class RoutePoint:
    lat: float
    lon: float
    km: float  # road km from the corridor's first stop
    vertex: bool  # True on a graph node of the route, False if interpolated between two
    step_km: float  # road km of the route segment it lies on (0 at a vertex)
    chord_km: float  # straight-line km of that segment


def corridor_path(graph: RoadGraph, corridor: Corridor) -> CorridorPath:
    """The shared graph's shortest route from each stop to the next, joined into one route."""
    legs = [graph.shortest_path(a, b, private_car=corridor.private_car)
            for a, b in zip(corridor.stops, corridor.stops[1:])]
    nodes, coords, cumulative = [*legs[0].nodes], [*legs[0].coords], [*legs[0].cumulative_km]
    crossings, hazards, notes = [*legs[0].border_crossings], [*legs[0].hazards], []
    stop_km = {corridor.stops[0]: 0.0, corridor.stops[1]: legs[0].km}
    for stop, leg in zip(corridor.stops[2:], legs[1:]):
        offset = cumulative[-1]
        nodes += leg.nodes[1:]
        coords += leg.coords[1:]
        cumulative += [offset + km for km in leg.cumulative_km[1:]]
        crossings += [BorderPassage(p.crossing, offset + p.km) for p in leg.border_crossings]
        hazards += [h for h in leg.hazards if h not in hazards]
        stop_km[stop] = cumulative[-1]
    for leg in legs:
        notes += leg.border_notes
    route = Route(nodes=tuple(nodes), coords=tuple(coords), km=cumulative[-1],
                  cumulative_km=tuple(cumulative), border_crossings=tuple(crossings),
                  hazards=tuple(hazards), border_notes=tuple(notes))
    return CorridorPath(route, stop_km)


def point_at(graph: RoadGraph, route: Route, km: float) -> RoutePoint:
    """The route point ``km`` road km from its start, moved onto a route vertex within SNAP_KM."""
    cum = route.cumulative_km
    if not 0 <= km <= cum[-1]:
        raise SystemExit(f"km {km:.1f} is off a route of {cum[-1]:.1f} km")
    i = min(int(np.searchsorted(cum, km, side="right")) - 1, len(cum) - 2)
    for vertex in (i, i + 1):
        if abs(km - cum[vertex]) <= SNAP_KM:
            lat, lon = route.coords[vertex]
            return RoutePoint(lat, lon, cum[vertex], True, 0.0, 0.0)
    lat, lon = graph.km_along(route, km)
    chord = haversine_km(*route.coords[i], *route.coords[i + 1])
    return RoutePoint(lat, lon, km, False, cum[i + 1] - cum[i], chord)


def nearest_point(graph: RoadGraph, route: Route, lat: float, lon: float) -> RoutePoint:
    """The route point nearest to (lat, lon), found in a local flat projection."""
    scale = np.array([110.57, 111.32 * math.cos(math.radians(lat))])
    pts = (np.asarray(route.coords) - [lat, lon]) * scale
    a, ab = pts[:-1], pts[1:] - pts[:-1]
    t = np.clip(-(a * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
    i = int(np.hypot(*(a + ab * t[:, None]).T).argmin())
    cum = route.cumulative_km
    return point_at(graph, route, cum[i] + float(t[i]) * (cum[i + 1] - cum[i]))


def road_country(graph: RoadGraph, point: RoutePoint) -> str:
    """The country of the road graph node nearest to a point."""
    return str(graph.country[graph.nearest_node(point.lat, point.lon)])


# --------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------


def operator_code(country: str) -> str:
    return f"{country}-SLK"


def build_operators() -> list[dict]:
    return [
        {
            "code": operator_code(c.code),
            "name": f"SilkCharge Demo {c.name}",
            "country": c.code,
            "currency": c.currency,
            "vat_percent": c.vat_percent,
        }
        for c in COUNTRIES.values()
    ]


def build_stations(site_code: str, hardware_keys: tuple[str, ...]) -> list[dict]:
    stations = []
    for letter, key in zip("ABCDEFGH", hardware_keys):
        hw = HARDWARE[key]
        evses = [
            {
                "evse_id": evse_id,
                "connectors": [
                    {"connector_id": cid, "standard": standard, "max_power_kw": kw}
                    for cid, (standard, kw) in enumerate(connectors, start=1)
                ],
            }
            for evse_id, connectors in enumerate(hw.evses, start=1)
        ]
        stations.append({
            "station_id": f"{site_code}-{letter}",
            "vendor": hw.vendor,
            "model": hw.model,
            "ocpp_version": hw.ocpp_version,
            "evses": evses,
        })
    return stations


def roles_note(hardware_keys: tuple[str, ...]) -> str:
    """What the site's special-purpose stations are there for, or nothing."""
    return "".join(
        " " + HARDWARE[key].role.format(letter=letter) + ": illustrative, not a surveyed device."
        for letter, key in zip("ABCDEFGH", hardware_keys) if HARDWARE[key].role
    )


def cite(keys: tuple[str, ...]) -> tuple[str, str]:
    """(source line, date line) for a set of facts."""
    facts = [FACTS[k] for k in dict.fromkeys(keys)]
    source = "; ".join(f"facts.md: \"{f.evidence}\" [{f.source}]" for f in facts)
    dates = sorted({f.date for f in facts if f.date != "undated"} or {"undated"})
    return source, ", ".join(dates)


def spot_offset(index: int) -> tuple[float, float, float]:
    """A deterministic illustrative spot near a city centre: (km north, km east, radius km).

    Sites spiral out by the golden angle so that they do not overlap on a map, nor sit on a
    corridor site placed at the centre.
    """
    radius = 1.5 + index
    angle = math.radians(45 + 137.5 * index)
    return radius * math.cos(angle), radius * math.sin(angle), radius


def city_sites() -> list[dict]:
    sites = []
    for spec in CITY_SITES:
        place = PLACES[spec.city]
        source, date = cite(spec.facts)
        for index, hardware in enumerate(spec.sites):
            north_km, east_km, radius = spot_offset(index)
            lat = place.lat + north_km / 110.57
            lon = place.lon + east_km / (111.32 * math.cos(math.radians(place.lat)))
            code = f"{place.country}-{place.code}-{index + 1:03d}"
            where = f"{radius:.1f} km from the city centre"
            note = (
                f"Sourced: {spec.why}. Illustrative: the exact spot (a point {where}, not a "
                f"surveyed charger) and the number of stations. {HARDWARE_NOTE}"
            ) + roles_note(hardware)
            sites.append(site_record(
                code, country=place.country, name=f"{spec.city}, city site {index + 1}",
                city=spec.city, latlon=(lat, lon),
                address=f"{spec.city} (illustrative point {where}; no street address)",
                corridor=None, hardware=hardware,
                provenance={"source": source, "date": date, "confidence": spec.confidence,
                            "note": note},
            ))
    return sites


def site_record(
    code: str, *, country: str, name: str, city: str, latlon: tuple[float, float], address: str,
    corridor: str | None, provenance: dict[str, str], hardware: tuple[str, ...],
) -> dict:
    lat, lon = latlon
    return {
        "code": code,
        "operator": operator_code(country),
        "name": name,
        "city": city,
        "country": country,
        "lat": round(lat, 4),
        "lon": round(lon, 4),
        "timezone": COUNTRIES[country].timezone,
        "address": address,
        "corridor": corridor,
        "provenance": provenance,
        "stations": build_stations(code, hardware),
    }


def corridor_sites(graph: RoadGraph) -> list[dict]:
    paths = {code: corridor_path(graph, c) for code, c in CORRIDORS.items()}
    counters: Counter[str] = Counter()
    sites = []
    for spec in CORRIDOR_SITES:
        corridor = CORRIDORS[spec.corridor]
        point, placement = place_on_corridor(spec, corridor, graph, paths[spec.corridor])
        if road_country(graph, point) != spec.country:
            raise SystemExit(f"{corridor.name}, {spec.label}: the point lies in "
                             f"{road_country(graph, point)}, not {spec.country}")
        prefix = f"{spec.country}-{corridor.code}"
        counters[prefix] += 1
        source, date = cite(corridor.facts + spec.facts)
        confidence, note = corridor_note(spec, corridor, point, placement)
        sites.append(site_record(
            f"{prefix}-{counters[prefix]:03d}", country=spec.country,
            name=f"{corridor.name} corridor, {spec.label}",
            city=spec.town or f"{corridor.name} road", latlon=(point.lat, point.lon),
            address=f"{corridor.name} road, {spec.label} ({point.km:.0f} road km from "
                    f"{corridor.stops[0]}; approximate, no street address)",
            corridor=corridor.name, hardware=spec.hardware,
            provenance={"source": source, "date": date, "confidence": confidence, "note": note},
        ))
    return sites


def corridor_note(
    spec: CorridorSite, corridor: Corridor, point: RoutePoint, placement: str
) -> tuple[str, str]:
    """(confidence, note): a point on a strongly bent segment is downgraded to low confidence."""
    confidence, caution = spec.confidence, ""
    if not point.vertex and point.step_km > CURVY_EDGE_RATIO * point.chord_km:
        confidence = "low"
        caution = (
            f" The point is interpolated on a route segment of {point.step_km:.0f} road km "
            f"whose straight line is {point.chord_km:.0f} km (a bent road simplified, or a "
            "mountain leg corrected to reference km), so it may lie well off the real road."
        )
    spacing = "" if spec.marker else " and the spacing of sites"
    note = (
        f"Sourced: the {corridor.name} corridor{sourced_extra(spec)}. Derived: placed on the "
        f"corridor's route on the road graph the trip planner uses (OpenStreetMap-derived, "
        f"© OpenStreetMap contributors, ODbL-1.0; mountain legs corrected to reference km) "
        f"{placement}{caution} Illustrative: that a site is exactly here{spacing}, and the "
        f"number of stations. {HARDWARE_NOTE}"
    )
    return confidence, note


def sourced_extra(spec: CorridorSite) -> str:
    if spec.marker:
        return (
            f"; IRS announced a DC site at {spec.label.removeprefix('IRS ')} with 180 kW "
            "units (announcement, undated; not confirmed as built)"
        )
    if spec.town:
        return f"; the town of {spec.town} lies on it"
    return ""


def place_on_corridor(
    spec: CorridorSite, corridor: Corridor, graph: RoadGraph, path: CorridorPath
) -> tuple[RoutePoint, str]:
    """Locate a corridor site on its route; returns the point and a sentence saying how."""
    start = corridor.stops[0]
    if spec.town:
        town = PLACES[spec.town]
        point = nearest_point(graph, path.route, town.lat, town.lon)
        offset = haversine_km(town.lat, town.lon, point.lat, point.lon)
        if offset > TOWN_MAX_OFFSET_KM:
            raise SystemExit(f"{spec.town} is {offset:.0f} km off the {corridor.name} route")
        how = (
            f"at the point nearest to {spec.town}'s centre ({offset:.1f} km away), "
            f"{point.km:.0f} road km from {start}."
        )
        return point, how
    assert spec.km is not None
    if not spec.marker:
        point = point_at(graph, path.route, spec.km)
        return point, f"at {point.km:.0f} road km from {start}."
    if corridor.reference is None:
        raise SystemExit(f"{corridor.name} has no reference to scale km markers with")
    stop, marker_km = corridor.reference
    scale = path.stop_km[stop] / marker_km
    point = point_at(graph, path.route, spec.km * scale)
    how = (
        f"at {point.km:.0f} road km from {start}: the marker list puts {stop} at "
        f"km {marker_km:.0f}, where the route measures {path.stop_km[stop]:.0f} road km, so "
        f"marker km are multiplied by {scale:.2f}.{corridor.reference_note}"
    )
    if spec.km > marker_km:
        how += (
            f" Km {spec.km:.0f} lies beyond {stop}, so it is placed where the corridor "
            f"continues toward {corridor.stops[-1]}; the marker list does not say which road "
            f"out of {stop} it is on."
        )
    return point, how


def build_meta() -> dict:
    return {
        "title": "silkcharge seed network: demo charging sites for Central Asia",
        "generated": GENERATED,
        "sources": [
            {
                "name": "region/facts.md (silkcharge shared research notes)",
                "licence": "facts with their cited sources",
                "note": "Cities, corridors, charger counts, IRS M34 km markers and the Arkadag "
                        "site; each site's provenance quotes the facts it uses.",
            },
            {
                "name": "OpenStreetMap highways, simplified (scgraph-data 2.0.0 world_highways)",
                "licence": "ODbL-1.0",
                "note": "© OpenStreetMap contributors. Corridor site coordinates are derived "
                        "from this road graph, as packaged for the trip planner "
                        "(silkcharge/data/roads, mountain legs corrected to reference km), "
                        "and remain under ODbL-1.0.",
            },
            {
                "name": "Public city-centre coordinates",
                "licence": "facts",
                "note": "Well-known approximate coordinates (about 1 km) of city centres.",
            },
            {"name": "VAT rates", "licence": "facts", "note": VAT_NOTE},
            {"name": "Time zones (IANA tzdata)", "licence": "public domain", "note": TIMEZONE_NOTE},
            {"name": "Hardware mix", "licence": "illustrative", "note": HARDWARE_NOTE},
        ],
        "caveat": (
            "Approximate seed network: a small illustrative sample placed on sourced cities, "
            "corridors and announced sites, for the demo and the tests. It is never complete "
            "and not a survey: the real networks are far larger (e.g. Almaty 283, Tashkent "
            "city 820 public stations), the exact spots and all hardware are illustrative, "
            "and Turkmenistan is a charging desert. Do not use it for navigation."
        ),
        "corridors": corridor_routes(),
    }


def corridor_routes() -> dict[str, dict]:
    """``meta.corridors``: how each corridor was routed, so a reader can route it again."""
    return {
        c.name: {"stops": list(c.stops), "private_car": c.private_car}
        for c in CORRIDORS.values()
    }


def build(shared: Path) -> dict:
    check_facts((shared / "region" / "facts.md").read_text(encoding="utf-8"))
    network = {
        "meta": build_meta(),
        "operators": build_operators(),
        "sites": city_sites() + corridor_sites(load_road_graph()),
    }
    return network


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shared", nargs="?", type=Path, default=DEFAULT_SHARED,
                        help="the shared data folder, for region/facts.md (default: "
                             "../shared/data from the repo); corridor routes come from the "
                             "packaged road graph, not from this folder")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    network = build(args.shared)
    validate_seed_network(network)
    args.output.write_text(
        json.dumps(network, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    stations = sum(len(site["stations"]) for site in network["sites"])
    print(f"wrote {args.output}: {len(network['sites'])} sites, {stations} stations")


if __name__ == "__main__":
    main()
