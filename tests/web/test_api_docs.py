"""The API documentation at /docs works without internet: Swagger UI comes from the package."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import screenshot


async def test_the_api_docs_render_with_every_outside_request_refused(browser, console_url):
    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    outside: list[str] = []

    async def only_silkcharge(route):
        if route.request.url.startswith(console_url):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    await context.route("**/*", only_silkcharge)
    page = await context.new_page()
    await page.goto(console_url + "/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("silkcharge")
    await expect(page.locator(".opblock").first).to_be_visible()  # the operations, read from /openapi.json
    assert outside == []
    await screenshot(page, "api-docs", full_page=False)
    await context.close()
