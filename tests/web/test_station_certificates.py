"""A station's certificates on its console page: renewal signs a real CSR of the simulated
charger, and a root the charger holds is deleted from the page."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from silkcharge.security import pki
from tests.web.conftest import screenshot
from tests.web.helpers import pick


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a02_renew_and_m04_delete_from_the_station_page(fleet, chargers, open_console, platform, version):
    spec = pick(fleet, "KZ-ALA", version)
    charger = await chargers(spec)
    root = pki.new_ca("Silk Road CSMS Root")
    await platform.certificates.install(spec.station_id, pki.certificate_pem(root.certificate), "CSMSRootCertificate")
    page = await open_console(f"/#/stations/{spec.station_id}")
    rows = page.locator("#certificate-table tbody tr")
    await expect(rows).to_have_count(1)

    await page.click("#certificate-renew")
    await expect(page.locator("#certificate-reply")).to_contain_text("Accepted")
    # The CSR, its signing and the charger's answer to CertificateSigned come after the reply
    # above: the page follows them by itself (live events), up to the certificate installed.
    own = rows.filter(has_text="ChargingStationCertificate")
    await expect(own).to_contain_text("Installed")
    await expect(rows).to_have_count(2)
    assert pki.common_name(charger.certificates.chain[0].subject) == spec.station_id

    await page.click(".delete-certificate")
    await expect(page.locator("#certificate-reply")).to_contain_text("DeleteCertificate: Accepted")
    await expect(rows).to_have_count(1)
    assert charger.certificates.roots["CSMSRootCertificate"] == []
    if version == "2.0.1":
        await screenshot(page, "station-certificates")
