// What the console offers for a station follows its OCPP version. OCPP 2.1 keeps every 2.0.1
// function the station page uses (device model, monitors, display messages, reports, network
// profiles, GetChargingProfiles) and adds its own, so a 2.1 station gets all of 2.0.1's sections.

export function speaks201(version: string | null | undefined): boolean {
  return version === "2.0.1" || version === "2.1";
}
