// The region drawn as SVG from Natural Earth borders (world-atlas), with no tile server.

import { feature } from "topojson-client";
import type { Topology, GeometryCollection } from "topojson-specification";
import type { Feature, Geometry, Position } from "geojson";
import atlasUrl from "world-atlas/countries-50m.json?url";

/** The area shown: the Caspian to western China, the Kazakh steppe to the Pamirs. */
export const VIEW = { west: 46, east: 92, south: 34.5, north: 56 };
const WIDTH = 1000;
const SCALE = WIDTH / ((VIEW.east - VIEW.west) * Math.cos((45 * Math.PI) / 180));
export const HEIGHT = Math.round((VIEW.north - VIEW.south) * SCALE);

/** Longitude and latitude to SVG coordinates (equirectangular, true to scale at 45°N). */
export function project(lon: number, lat: number): [number, number] {
  const x = (lon - VIEW.west) * SCALE * Math.cos((45 * Math.PI) / 180);
  const y = (VIEW.north - lat) * SCALE;
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

function ring(points: Position[]): string {
  return "M" + points.map(([lon, lat]) => project(lon, lat).join(",")).join("L") + "Z";
}

function path(geometry: Geometry): string {
  if (geometry.type === "Polygon") return geometry.coordinates.map(ring).join("");
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat().map(ring).join("");
  return "";
}

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

/** SVG path data for every country near the region, in this map's projection. */
export function countryPaths(): Promise<string[]> {
  return countryShapes().then((shapes) => shapes.map(path));
}
