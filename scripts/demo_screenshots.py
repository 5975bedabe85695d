"""Screenshots of the console from a running demo, for the README and docs/ (issue 19: "refreshed
from the demo itself, with real numbers on the first screen").

Start the demo first (`make demo`, or `silkcharge demo --stations 24` for a quicker one), then:

    .venv/bin/python scripts/demo_screenshots.py [--url http://127.0.0.1:8080] [--key demo-key]

Each page is opened in a fresh browser context in its language, signed in with the demo's API
key (as the console does: the key in session storage), given time to load its data and its live
view, and saved as docs/img/<name>.png. Pages that need a click (a trip plan) are driven here.
It is a documentation tool, not a test: it waits a fixed time for each page to settle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import async_playwright

IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
CHROMIUM = "/usr/bin/chromium"


@dataclass(frozen=True)
class Shot:
    name: str
    hash: str
    locale: str = "en-GB"
    ready: str = "#page *"
    """A selector that shows the page has its data."""
    phone: bool = False
    full_page: bool = False
    click: str | None = None
    """A button to press first (the depot's Plan), then `ready` is waited for."""


SHOTS = [
    Shot("console-dashboard-revenue", "#/", ready="#page svg"),
    Shot("console-ru-dashboard", "#/", locale="ru-RU", ready="#page svg"),
    Shot("console-map", "#/map", ready=".leaflet-marker-icon"),
    Shot("console-station", "#/stations/KZ-ALA-001-A", ready="#page h1"),
    Shot("console-alerts", "#/alerts", ready="#page h1"),
    Shot("console-smart-depot", "#/smart/TJ-DUS-002", ready="#depot-chart", click="#plan", full_page=True),
    Shot("console-site-charts", "#/sites", ready=".site-card"),
    Shot("console-ru-site-charts", "#/sites", locale="ru-RU", ready=".site-card"),
    Shot("console-people", "#/people", ready="#page table"),
    Shot("console-driver-find", "#/find", ready="#page h1"),
    Shot("console-zh-driver-find", "#/find", locale="zh-CN", ready="#page h1"),
    Shot("console-driver-vehicles", "#/vehicles", ready="li[data-vehicle]"),
    Shot("console-ru-planning-map", "#/planning", locale="ru-RU", ready=".leaflet-container"),
]


async def main(url: str, key: str, only: set[str], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        for shot in SHOTS:
            if only and shot.name not in only:
                continue
            viewport = {"width": 390, "height": 844} if shot.phone else {"width": 1280, "height": 860}
            context = await browser.new_context(locale=shot.locale, viewport=viewport)
            await context.add_init_script(f"sessionStorage.setItem('silkcharge.apiKey', {json.dumps(key)})")
            page = await context.new_page()
            await page.goto(f"{url}/{shot.hash}")
            try:
                if shot.click:
                    await page.click(shot.click, timeout=30_000)
                await page.wait_for_selector(shot.ready, timeout=30_000)
            except Exception as exc:  # keep going: the screenshot shows what went wrong
                print(f"{shot.name}: {shot.ready} not seen ({exc.__class__.__name__})")
            await page.wait_for_timeout(2_500)  # charts, tiles and the live view settle
            path = out / f"{shot.name}.png"
            await page.screenshot(path=str(path), full_page=shot.full_page)
            print(path)
            await context.close()
        await browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--key", default="demo-key")
    parser.add_argument("--out", type=Path, default=IMG, help="where the PNGs go (default: docs/img)")
    parser.add_argument("names", nargs="*", help="only these screenshots (names without .png)")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url.rstrip("/"), arguments.key, set(arguments.names), arguments.out))
