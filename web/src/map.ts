// The region's countries from Natural Earth borders (world-atlas), served from our own origin,
// for the maps to draw with no tile server.

import { feature } from "topojson-client";
import type { Topology, GeometryCollection } from "topojson-specification";
import type { Feature, Geometry } from "geojson";
import atlasUrl from "world-atlas/countries-50m.json?url";

/** The area the operator map opens on: the Caspian to western China, the steppe to the Pamirs. */
export const VIEW = { west: 46, east: 92, south: 34.5, north: 56 };

function near(geometry: Geometry): boolean {
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates]
    : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polygons.some((polygon) => polygon[0].some(([lon, lat]) =>
    lon > VIEW.west - 15 && lon < VIEW.east + 15 && lat > VIEW.south - 10 && lat < VIEW.north + 10));
}

let countries: Promise<Geometry[]> | null = null;

/** Every country near the region as GeoJSON geometry, fetched (same origin) and converted once. */
export function countryShapes(): Promise<Geometry[]> {
  countries ??= fetch(atlasUrl).then((r) => r.json()).then((topology: Topology) => {
    const all = feature(topology, topology.objects.countries as GeometryCollection);
    return (all.features as Feature[])
      .filter((country) => country.geometry && near(country.geometry))
      .map((country) => country.geometry);
  });
  return countries;
}
