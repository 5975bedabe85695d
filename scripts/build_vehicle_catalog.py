"""Build silkcharge's packaged vehicle catalog from two public datasets.

Usage:  python scripts/build_vehicle_catalog.py <shared-data-dir>

<shared-data-dir> holds ``open-ev-data/`` (specifications, layered JSON) and
``kilowatt-open-ev-data/`` (DC charging curves). The script writes
``src/silkcharge/data/vehicles/catalog.json`` and the two licence files next to it; the
product reads only those. The rules (layer merging, market variants, curve matching, row
filters) are described in ``src/silkcharge/data/vehicles/README.md``: keep the two in step.
The output is deterministic: the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "src" / "silkcharge" / "data" / "vehicles"

OPEN_EV_DATA_RELEASE = "1.24.0 (2025-12-30)"
KILOWATT_CREDIT = "Open EV Data (https://github.com/KilowattApp/open-ev-data)"

# Makes whose home market is China: their CN-market cars carry GB/T inlets by law (GB/T 20234),
# and their export trims usually CCS2 + Type 2.
CHINESE_MAKES = {
    "byd", "changan", "chery", "dongfeng", "fangchengbao", "gac_aion", "geely", "gwm",
    "hiphi", "hongqi", "im_motors", "leapmotor", "m_hero", "mg", "nammi", "nio",
    "rising_auto", "roewe", "voyah", "xpeng", "yangwang", "zeekr",
}
# Foreign makes whose cars for China are built there with GB/T inlets.
CN_BUILT_FOREIGN_MAKES = {"tesla"}
EUROPE = {
    "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR", "HU", "IE", "IS", "IT",
    "LU", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
}

# open-ev-data connector -> silkcharge ConnectorStandard value, and whether it is a DC inlet.
CONNECTORS = {
    "gb_t_dc": ("gbt_dc", True), "gb_t_ac": ("gbt_ac", False),
    "ccs2": ("ccs2", True), "ccs1": ("ccs1", True),
    "type_2": ("type2", False), "type2": ("type2", False), "tesla_type_2": ("type2", False),
    "type_1": ("type1", False), "type1": ("type1", False),
    "chademo": ("chademo", True), "nacs": ("nacs", True),
}
# The AC inlet that a combined DC inlet carries (a CCS2 inlet's upper half is a Type 2 socket).
COMBO_AC = {"ccs2": "type2", "ccs1": "type1", "nacs": "nacs"}

# Rated-cycle preference when consumption is derived from battery / rated range:
# the most realistic cycle first.
CYCLE_PREFERENCE = ("epa", "wltp", "cltc", "nedc", "jc08", "other")

# Default DC curves (fraction of peak power by SoC) where no measured curve fits. LFP packs
# hold their plateau longer; NMC/NCA and unspecified Li-ion taper earlier.
DEFAULT_SHAPES = {
    "LFP": ((0, 0.70), (10, 0.95), (20, 1.0), (50, 1.0), (60, 0.85), (80, 0.55), (90, 0.30),
            (100, 0.10)),
    "other": ((0, 0.70), (10, 0.95), (15, 1.0), (40, 1.0), (60, 0.75), (80, 0.45),
              (90, 0.25), (100, 0.08)),
}

# Kilowatt model names that differ from open-ev-data's for the same car:
# (open-ev-data make slug, model slug) -> kilowatt model names.
MODEL_ALIASES = {
    ("byd", "song_plus"): ("seal u",),
    ("byd", "yuan_plus"): ("atto 3",),
    ("byd", "dolphin"): ("dolphin",),
    ("mercedes_benz", "eqs_suv"): ("eqs suv",),
}
KILOWATT_MAKES = {"mercedes_benz": "mercedes", "ds_automobiles": "ds", "gwm": "ora"}

PHEV_WORDS = re.compile(r"\b(phev|dm-?i|dm-?p|erev|plug-?in hybrid)\b", re.I)


@dataclass
class Drops:
    """Rows left out, counted by reason, for the README."""

    open_ev_data: Counter = field(default_factory=Counter)
    kilowatt: Counter = field(default_factory=Counter)


# ---------------------------------------------------------------------------- open-ev-data


def deep_merge(lower: dict, upper: dict) -> dict:
    """Objects merge key by key; anything else (arrays included) in `upper` replaces."""
    merged = dict(lower)
    for key, value in upper.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_trims(root: Path) -> list[tuple[str, dict]]:
    """Every trim as (relative path, merged record): base.json, then the year file, then the
    trim file. A year directory's `<model>.json` is the year's base trim; other files there
    are variants written as differences from it."""
    trims = []
    for base_path in sorted(root.glob("*/*/base.json")):
        model_dir = base_path.parent
        base = json.loads(base_path.read_text())
        for trim_path in sorted(model_dir.glob("*/*.json")):
            record = base
            year_base = trim_path.parent / f"{model_dir.name}.json"
            if trim_path != year_base and year_base.exists():
                record = deep_merge(record, json.loads(year_base.read_text()))
            record = deep_merge(record, json.loads(trim_path.read_text()))
            trims.append((trim_path.relative_to(root).as_posix(), record))
    return trims


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def chemistry_of(record: dict) -> str | None:
    raw = (record.get("battery", {}).get("chemistry") or "").lower()
    return {"lfp": "LFP", "nmc": "NMC", "nca": "NCA", "lmfp": "LMFP"}.get(raw)


def rated_ranges(record: dict) -> dict[str, float]:
    ranges: dict[str, float] = {}
    for entry in record.get("range", {}).get("rated", []):
        if entry.get("range_km", 0) > 0:
            ranges.setdefault(entry["cycle"], float(entry["range_km"]))
    return ranges


def listed_inlets(record: dict) -> tuple[list[str], list[str]]:
    """AC and DC inlets as listed, in ConnectorStandard values (combo inlets add their AC)."""
    ac: list[str] = []
    dc: list[str] = []
    for port in record.get("charge_ports", []):
        standard, is_dc = CONNECTORS.get(port.get("connector", ""), (None, False))
        if standard is None:
            continue
        (dc if is_dc else ac).append(standard)
        if is_dc and standard in COMBO_AC:
            ac.append(COMBO_AC[standard])
    return sorted(set(ac)), sorted(set(dc))


def drop_reason(path: str, record: dict) -> str | None:
    """Why a trim cannot be a catalog vehicle, or None if it can."""
    names = " ".join(record[k]["name"] for k in ("make", "model", "trim") if k in record)
    names += " " + path
    battery = usable_kwh(record)
    _, dc = listed_inlets(record)
    dc_kw = record.get("charging", {}).get("dc", {}).get("max_power_kw") or 0
    if PHEV_WORDS.search(names.replace("_", " ")):
        return "plug-in hybrid (named so)"
    if not dc or dc_kw <= 0:
        return "no DC inlet or DC power listed (mostly plug-in hybrids and quadricycles)"
    if battery is None or not 5 <= battery <= 250:
        return "usable battery missing or outside 5-250 kWh"
    if dc_kw / battery > 8:
        return "DC peak above 8C of the battery (implausible)"
    if not rated_ranges(record):
        return "no rated range, so no consumption"
    wh_km = derived_consumption(record)[0]
    if not 80 <= wh_km <= 450:
        return "battery / rated range outside 80-450 Wh/km (range-extender or wrong figure)"
    return None


def usable_kwh(record: dict) -> float | None:
    battery = record.get("battery", {})
    value = battery.get("pack_capacity_kwh_net") or battery.get("pack_capacity_kwh_gross")
    return float(value) if value else None


def derived_consumption(record: dict) -> tuple[float, str]:
    ranges = rated_ranges(record)
    cycle = next(c for c in CYCLE_PREFERENCE if c in ranges)
    return usable_kwh(record) * 1000 / ranges[cycle], cycle


# ---------------------------------------------------------------------------- kilowatt


def brand_key(name: str) -> str:
    """'Citroën' and open-ev-data's 'citroen' meet as 'citroen'."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return KILOWATT_MAKES.get(plain.lower(), plain.lower().replace("_", " "))


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[0-9]+)?", text.lower().replace("-", " "))


def kilowatt_rows(path: Path, drops: Drops) -> list[dict]:
    """Rows whose measured DC curve is usable: not a generic default, and not from the batch
    of rows whose DC peak was filled in with the battery size."""
    rows = []
    for row in json.loads(path.read_text())["data"]:
        dc = row.get("dc_charger")
        reason = None
        if row.get("vehicle_type") != "car":
            reason = "not a car (motorbike or microcar)"
        elif not dc or not dc.get("charging_curve"):
            reason = "no DC charger"
        elif dc.get("is_default_charging_curve"):
            reason = "curve flagged as a default shape"
        elif dc["max_power"] == row["usable_battery_size"]:
            reason = "DC peak equals battery size (copy error); curve built on it"
        elif not curve_is_sane(dc["charging_curve"], dc["max_power"]):
            reason = "curve unordered, out of 0-100 %, or far from the stated peak"
        if reason:
            drops.kilowatt[reason] += 1
            continue
        rows.append(row)
    return rows


def curve_is_sane(points: list[dict], peak: float) -> bool:
    socs = [p["percentage"] for p in points]
    powers = [p["power"] for p in points]
    return (
        len(points) >= 2
        and socs == sorted(set(socs))
        and 0 <= socs[0]
        and socs[-1] <= 100
        and min(powers) > 0
        and 0.8 * peak <= max(powers) <= 1.05 * peak
    )


def model_names(make: str, model_slug: str, model_name: str) -> list[list[str]]:
    names = [words(model_name), words(model_slug.replace("_", " "))]
    names += [words(alias) for alias in MODEL_ALIASES.get((make, model_slug), ())]
    return [n for n in names if n]


def assign_models(rows: list[dict], records: list[tuple[str, dict]]) -> dict[str, str]:
    """Kilowatt row id -> the open-ev-data model slug it names. A row belongs to the model
    whose name opens the row's 'model variant' text with the most words, so 'SEAL U 71.8 kWh'
    goes to the Seal U (Song Plus), not the Seal, and 'e-C4 X' to the e-C4 X."""
    models: dict[str, dict[str, list[list[str]]]] = {}
    for _, record in records:
        make, model = record["make"]["slug"], record["model"]
        models.setdefault(make, {})[model["slug"]] = model_names(make, model["slug"],
                                                                 model["name"])
    brand_to_make = {brand_key(m): m for m in models}
    assigned = {}
    for row in rows:
        make = brand_to_make.get(brand_key(row["brand"]))
        text = words(f"{row['model']} {row['variant']}")
        best = (0, None)
        for model_slug, names in sorted(models.get(make, {}).items()):
            for name in names:
                if text[: len(name)] == name and len(name) > best[0]:
                    best = (len(name), model_slug)
        if best[1]:
            assigned[row["id"]] = f"{make}/{best[1]}"
    return assigned


def find_model_match(record: dict, by_make: dict[str, list[dict]],
                     assigned: dict[str, str]) -> tuple[dict, str] | None:
    """The same car in kilowatt: make and model agree, usable battery within 8 %,
    DC peak within 20 %; the closest by battery, then peak, then year."""
    make = record["make"]["slug"]
    battery = usable_kwh(record)
    dc_kw = record["charging"]["dc"]["max_power_kw"]
    best = None
    for row in by_make.get(brand_key(make), []):
        if assigned.get(row["id"]) != f"{make}/{record['model']['slug']}":
            continue
        battery_gap = abs(math.log(row["usable_battery_size"] / battery))
        power_gap = abs(math.log(row["dc_charger"]["max_power"] / dc_kw))
        if battery_gap > math.log(1.08) or power_gap > math.log(1.2):
            continue
        score = (3 * battery_gap + power_gap + 0.01 * abs(row["release_year"] - record["year"]),
                 row["id"])
        if best is None or score < best[0]:
            best = (score, row)
    if best is None:
        return None
    row = best[1]
    how = (f"model: {row['brand']} {row['model']} {row['variant']} ({row['release_year']}), "
           f"battery {row['usable_battery_size']} kWh, peak {row['dc_charger']['max_power']} kW")
    return row, how.replace("  ", " ").replace(" )", ")")


@dataclass
class Donor:
    row: dict
    chemistry: str
    voltage: str


def find_shape_donor(chemistry: str | None, voltage: str | None, dc_kw: float,
                     battery: float, donors: list[Donor]) -> tuple[dict, str] | None:
    """A different car whose measured curve should have the same shape: same chemistry and
    voltage class, peak within 25 % and peak C-rate within 25 %."""
    if chemistry is None:
        return None
    c_rate = dc_kw / battery
    best = None
    for donor in donors:
        if donor.chemistry != chemistry or donor.voltage != (voltage or "400v"):
            continue
        peak = donor.row["dc_charger"]["max_power"]
        power_gap = abs(math.log(peak / dc_kw))
        rate_gap = abs(math.log(peak / donor.row["usable_battery_size"] / c_rate))
        if power_gap > math.log(1.25) or rate_gap > math.log(1.25):
            continue
        score = (power_gap + rate_gap, donor.row["id"])
        if best is None or score < best[0]:
            best = (score, donor.row)
    if best is None:
        return None
    row = best[1]
    how = (f"shape: {row['brand']} {row['model']} {row['variant']} ({row['release_year']}), "
           f"{chemistry} {voltage or '400v'}, peak {row['dc_charger']['max_power']} kW, "
           f"scaled to {dc_kw:g} kW")
    return row, " ".join(how.split())


def scaled_curve(row: dict, peak_kw: float) -> list[list[float]]:
    points = row["dc_charger"]["charging_curve"]
    factor = peak_kw / max(p["power"] for p in points)
    curve = [[float(p["percentage"]), round(p["power"] * factor, 1)] for p in points]
    return extend_to_full_range(curve)


def extend_to_full_range(curve: list[list[float]]) -> list[list[float]]:
    """Hold the first and last measured powers flat out to 0 % and 100 %."""
    if curve[0][0] > 0:
        curve.insert(0, [0.0, curve[0][1]])
    if curve[-1][0] < 100:
        curve.append([100.0, curve[-1][1]])
    return curve


def default_curve(peak_kw: float, chemistry: str | None) -> list[list[float]]:
    shape = DEFAULT_SHAPES["LFP" if chemistry in ("LFP", "LMFP") else "other"]
    return [[float(soc), round(peak_kw * f, 1)] for soc, f in shape]


# ---------------------------------------------------------------------------- market variants


@dataclass
class Variant:
    market: str
    ac_inlets: list[str]
    dc_inlets: list[str]
    inlets_source: str


def market_variants(record: dict) -> list[Variant]:
    """CN-spec and export variants of one trim (see README, 'Market variants')."""
    make = record["make"]["slug"]
    markets = set(record.get("markets") or [])
    ac, dc = listed_inlets(record)
    gbt_listed = "gbt_dc" in dc or "gbt_ac" in ac
    export_dc = [s for s in dc if s != "gbt_dc"]
    export_ac = [s for s in ac if s != "gbt_ac"]
    chinese = make in CHINESE_MAKES
    variants = []

    wants_cn = gbt_listed or (
        (chinese or make in CN_BUILT_FOREIGN_MAKES) and (not markets or "CN" in markets))
    if wants_cn:
        how = "listed" if gbt_listed else "inferred: CN-market car, GB/T by national standard"
        if gbt_listed and "gbt_ac" not in ac:
            how = "listed GB/T DC; GB/T AC inferred (CN-spec cars carry a separate AC inlet)"
        variants.append(Variant("CN", ["gbt_ac"], ["gbt_dc"], how))

    if export_dc:
        eu = bool(markets & EUROPE) or export_dc == ["ccs2"]
        if make in CN_BUILT_FOREIGN_MAKES and export_dc == ["nacs"] and markets & EUROPE:
            variants.append(Variant("EU", ["type2"], ["ccs2"],
                                    "inferred: European-market cars use CCS2 + Type 2"))
            variants.append(Variant("global", export_ac, export_dc, "listed"))
        else:
            how = "listed" if not gbt_listed else "listed (export ports of a multi-market trim)"
            variants.append(Variant("EU" if eu else "global", export_ac, export_dc, how))
    elif chinese and markets - {"CN"}:
        variants.append(Variant("global", ["type2"], ["ccs2"],
                                "inferred: export market listed, CCS2 + Type 2 assumed"))
    return variants


# ---------------------------------------------------------------------------- fixes

EU_INLET = {"type1": "type2", "ccs1": "ccs2", "nacs": "ccs2"}
"""European-market cars carry Type 2 and CCS2 (Combo 2): Directive 2014/94/EU (AFID) made them
the public standard, and makers fit European cars to it. The source lists some EU trims with
the ports of their US twins."""

BATTERY_FIXES = {
    # id prefix, year -> usable kWh, source
    ("hyundai-ioniq-5-", 2023): (77.4, "Hyundai Motor Europe: MY2023 long-range pack 77.4 kWh "
                                       "(was 72.6 kWh in 2021-22) [memory]"),
    ("hyundai-ioniq-5-", 2024): (77.4, "Hyundai Motor Europe: 77.4 kWh until the 2024 facelift "
                                       "[memory]"),
    ("hyundai-ioniq-5-", 2025): (84.0, "Hyundai Motor Europe: facelifted long-range pack 84 kWh "
                                       "[memory]"),
}
"""Trims whose source battery is an earlier model year's figure (issue 18)."""


def apply_fixes(vehicle: dict) -> dict:
    """Catalog corrections the sources need (see EU_INLET and BATTERY_FIXES)."""
    if vehicle["market"] == "EU":
        ac = [EU_INLET.get(s, s) for s in vehicle["ac_inlets"]]
        dc = [EU_INLET.get(s, s) for s in vehicle["dc_inlets"]]
        if (ac, dc) != (vehicle["ac_inlets"], vehicle["dc_inlets"]):
            vehicle = {**vehicle, "ac_inlets": list(dict.fromkeys(ac)),
                       "dc_inlets": list(dict.fromkeys(dc)),
                       "provenance": {**vehicle["provenance"], "inlets": (
                           vehicle["provenance"].get("inlets", "") + "; EU fix: source lists the "
                           "US Type 1/CCS1/NACS ports, European-market cars use Type 2/CCS2")}}
    for (prefix, year), (kwh, source) in BATTERY_FIXES.items():
        if (vehicle["id"].startswith(prefix) and vehicle["year"] == year
                and "-n-" not in vehicle["id"] and vehicle["battery_kwh"] != kwh):
            old = vehicle["battery_kwh"]
            consumption = vehicle["consumption_wh_km"]
            if vehicle["consumption_basis"] != "kilowatt average (real-world mix)":
                consumption = round(consumption * kwh / old, 1)  # same rated range, bigger pack
            vehicle = {**vehicle, "battery_kwh": kwh, "consumption_wh_km": consumption,
                       "provenance": {**vehicle["provenance"],
                                      "battery_kwh": f"fixed from {old} kWh: {source}"}}
    return vehicle


# ---------------------------------------------------------------------------- assembly


def vehicle_id(path: str, record: dict, market: str) -> str:
    make, model, year, stem = path[:-5].split("/")
    trim = stem[len(model):].strip("_") if stem.startswith(model) else stem
    if not trim and record["trim"]["slug"] not in ("base", "standard", model):
        trim = record["trim"]["slug"]
    return slug("-".join(p for p in (make, model, trim, year, market) if p))


def sources_of(record: dict, path: str) -> list[dict]:
    sources = [{"dataset": "open-ev-data", "file": f"src/{path}"}]
    for source in record.get("sources", []):
        sources.append({"title": source.get("title", ""), "url": source.get("url", "")})
    return sources


def build_vehicle(path: str, record: dict, variant: Variant, match, shape):
    charging = record["charging"]
    battery = usable_kwh(record)
    chemistry = chemistry_of(record)
    dc_kw = float(charging["dc"]["max_power_kw"])
    voltage = charging["dc"].get("architecture_voltage_class")
    provenance = {
        "battery_kwh": "open-ev-data battery.pack_capacity_kwh_"
        + ("net" if record["battery"].get("pack_capacity_kwh_net") else "gross"),
        "inlets": variant.inlets_source,
        "power": "open-ev-data charging.ac/dc.max_power_kw",
    }
    if match:
        row, how = match
        consumption = row["energy_consumption"]["average_consumption"] * 10
        basis = "kilowatt average (real-world mix)"
        provenance["consumption"] = f"kilowatt {row['id']} average_consumption"
        curve, curve_source, curve_match = scaled_curve(row, dc_kw), "kilowatt", how
    else:
        consumption, cycle = derived_consumption(record)
        basis = cycle
        provenance["consumption"] = f"derived: usable battery / rated {cycle.upper()} range"
        if shape:
            row, how = shape
            curve, curve_source, curve_match = scaled_curve(row, dc_kw), "kilowatt", how
        else:
            curve = default_curve(dc_kw, chemistry)
            curve_source = "default"
            curve_match = "default shape for " + (chemistry or "unspecified chemistry")
    ac_kw = charging.get("ac", {}).get("max_power_kw")
    return {
        "id": vehicle_id(path, record, variant.market),
        "make": record["make"]["name"],
        "model": record["model"]["name"],
        "trim": record["trim"]["name"],
        "year": record["year"],
        "market": variant.market,
        "body": record.get("body", {}).get("style") or record.get("vehicle_type"),
        "battery_kwh": round(battery, 2),
        "chemistry": chemistry,
        "consumption_wh_km": round(consumption, 1),
        "consumption_basis": basis,
        "rated_range_km": rated_ranges(record),
        "ac_inlets": variant.ac_inlets,
        "ac_kw": float(ac_kw) if ac_kw else None,
        "dc_inlets": variant.dc_inlets,
        "dc_kw": dc_kw,
        "voltage_class": voltage,
        "curve": curve,
        "curve_source": curve_source,
        "curve_match": curve_match,
        "provenance": provenance,
        "sources": sources_of(record, path)
        + ([{"dataset": "kilowatt-open-ev-data", "id": row["id"]}]
           if curve_source == "kilowatt" else []),
    }


KILOWATT_PORTS = {"ccs": "ccs2", "chademo": "chademo", "type2": "type2", "type1": "type1"}


def kilowatt_only_vehicle(row: dict) -> dict | None:
    """An EU-market vehicle from a Kilowatt row alone, for makes open-ev-data lacks."""
    dc = sorted({KILOWATT_PORTS[p] for p in row["dc_charger"]["ports"] if p in KILOWATT_PORTS})
    ac = sorted({KILOWATT_PORTS[p] for p in row["ac_charger"].get("ports", [])
                 if p in KILOWATT_PORTS})
    consumption = row["energy_consumption"]["average_consumption"] * 10
    if not dc or not 80 <= consumption <= 450:
        return None
    name = " ".join(f"{row['model']} {row['variant']}".split())
    peak = float(row["dc_charger"]["max_power"])
    return {
        "id": slug(f"{row['brand']} {name} {row['release_year']} eu"),
        "make": row["brand"],
        "model": row["model"].strip(),
        "trim": row["variant"].strip() or "Base",
        "year": row["release_year"],
        "market": "EU",
        "body": None,
        "battery_kwh": float(row["usable_battery_size"]),
        "chemistry": None,
        "consumption_wh_km": round(consumption, 1),
        "consumption_basis": "kilowatt average (real-world mix)",
        "rated_range_km": {},
        "ac_inlets": ac,
        "ac_kw": float(row["ac_charger"]["max_power"]) if row["ac_charger"].get("max_power")
        else None,
        "dc_inlets": dc,
        "dc_kw": peak,
        "voltage_class": "800v" if row.get("charging_voltage") == 800 else "400v",
        "curve": scaled_curve(row, peak),
        "curve_source": "kilowatt",
        "curve_match": f"model: the Kilowatt row itself ({row['id']})",
        "provenance": {"all": "kilowatt-open-ev-data only (make absent from open-ev-data); "
                              "EU dataset, so CCS2 for 'ccs'"},
        "sources": [{"dataset": "kilowatt-open-ev-data", "id": row["id"]}],
    }


def donors_from(records: list[tuple[str, dict]], by_make, assigned) -> list[Donor]:
    """Kilowatt curves whose chemistry is known through an open-ev-data model match."""
    donors: dict[str, Donor] = {}
    for _, record in records:
        chemistry = chemistry_of(record)
        match = find_model_match(record, by_make, assigned)
        if chemistry and match and match[0]["id"] not in donors:
            row = match[0]
            voltage = "800v" if row.get("charging_voltage") == 800 else "400v"
            donors[row["id"]] = Donor(row, chemistry, voltage)
    return sorted(donors.values(), key=lambda d: d.row["id"])


def build(shared: Path) -> tuple[dict, Drops]:
    drops = Drops()
    kept = []
    for path, record in load_trims(shared / "open-ev-data" / "src"):
        reason = drop_reason(path, record)
        if reason:
            drops.open_ev_data[reason] += 1
        else:
            kept.append((path, record))
    kilowatt_path = shared / "kilowatt-open-ev-data" / "data" / "ev-data.json"
    rows = kilowatt_rows(kilowatt_path, drops)
    by_make: dict[str, list[dict]] = {}
    for row in rows:
        by_make.setdefault(brand_key(row["brand"]), []).append(row)
    assigned = assign_models(rows, kept)
    donors = donors_from(kept, by_make, assigned)
    vehicles, seen = [], set()
    for path, record in kept:
        match = find_model_match(record, by_make, assigned)
        shape = None
        if match is None:
            dc = record["charging"]["dc"]
            shape = find_shape_donor(chemistry_of(record), dc.get("architecture_voltage_class"),
                                     dc["max_power_kw"], usable_kwh(record), donors)
        built = [build_vehicle(path, record, variant, match, shape)
                 for variant in market_variants(record)]
        if any(v["id"] in seen for v in built):
            drops.open_ev_data["variant file restating its year's base trim (same trim)"] += 1
            continue
        seen.update(v["id"] for v in built)
        vehicles.extend(built)
    covered = {brand_key(r["make"]["slug"]) for _, r in load_trims(shared / "open-ev-data" / "src")}
    for row in rows:
        vehicle = None if brand_key(row["brand"]) in covered else kilowatt_only_vehicle(row)
        if vehicle and vehicle["id"] not in seen:
            seen.add(vehicle["id"])
            vehicles.append(vehicle)
    vehicles = [apply_fixes(v) for v in vehicles]
    meta = json.loads(kilowatt_path.read_text())["meta"]
    catalog = {
        "format": 1,
        "sources": {
            "open-ev-data": {
                "release": OPEN_EV_DATA_RELEASE,
                "url": "https://github.com/open-ev-data/open-ev-data-dataset",
                "licence": "CDLA-Permissive-2.0",
                "licence_file": "LICENCE-open-ev-data.txt",
            },
            "kilowatt-open-ev-data": {
                "updated_at": meta["updated_at"],
                "url": "https://github.com/KilowattApp/open-ev-data",
                "licence": "MIT with attribution",
                "licence_file": "LICENCE-kilowatt-open-ev-data.txt",
                "credit": KILOWATT_CREDIT,
                "rows_used": len({s["id"] for v in vehicles for s in v["sources"] if "id" in s}),
            },
        },
        "vehicles": sorted(vehicles, key=lambda v: v["id"]),
    }
    return catalog, drops


def write_licences(shared: Path) -> None:
    shutil.copyfile(shared / "open-ev-data" / "LICENCE", OUT_DIR / "LICENCE-open-ev-data.txt")
    mit = (shared / "kilowatt-open-ev-data" / "LICENSE").read_text()
    credit = (
        "Charging curves and consumption figures in catalog.json come in part from\n"
        f"{KILOWATT_CREDIT}.\n\n"
    )
    (OUT_DIR / "LICENCE-kilowatt-open-ev-data.txt").write_text(credit + mit)


def summary(catalog: dict, drops: Drops) -> str:
    vehicles = catalog["vehicles"]
    lines = [
        f"vehicles: {len(vehicles)}",
        f"makes: {len({v['make'] for v in vehicles})}",
        "markets: " + str(dict(sorted(Counter(v["market"] for v in vehicles).items()))),
        "curves: " + str(dict(Counter(
            v["curve_source"] + ("/" + v["curve_match"].split(":")[0]
                                 if v["curve_source"] == "kilowatt" else "")
            for v in vehicles))),
        "consumption basis: " + str(dict(Counter(v["consumption_basis"] for v in vehicles))),
        f"open-ev-data trims dropped: {sum(drops.open_ev_data.values())}",
    ]
    lines += [f"  {n:4d}  {reason}" for reason, n in drops.open_ev_data.most_common()]
    lines.append(f"kilowatt rows not used for curves: {sum(drops.kilowatt.values())}")
    lines += [f"  {n:4d}  {reason}" for reason, n in drops.kilowatt.most_common()]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    shared = Path(argv[1])
    catalog, drops = build(shared)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    text = json.dumps(catalog, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    (OUT_DIR / "catalog.json").write_text(text + "\n")
    write_licences(shared)
    print(summary(catalog, drops))
    print(f"catalog.json: {len(text.encode()) / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
