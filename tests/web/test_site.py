"""The web server of `tuiflow serve` in this process, with a stand-in for each tab's viewer (a
command that ends on the first byte textual-serve sends it, as a viewer ends on `quit`)."""

from __future__ import annotations

import asyncio
import socket

import pytest

HINT = 'the web UI\'s tests need its extra (the test extra pulls it): pip install -e ".[test,dask,web]"'
pytest.importorskip("textual_serve", reason=HINT)

import aiohttp  # noqa: E402

from tuiflow.web import site as site_module  # noqa: E402
from tuiflow.web.access import Access  # noqa: E402
from tuiflow.web.site import Site  # noqa: E402

VIEWER = "exec head -c 1 >/dev/null"


@pytest.fixture
async def served(monkeypatch):
    monkeypatch.setattr(site_module, "MAX_TABS", 2)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    said: list[str] = []
    web = Site(Access("127.0.0.1", port, "127.0.0.1"), VIEWER, "a <run>", said.append)
    await web.start(sock)
    client = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))   # cookies for an IP address
    try:
        page = await client.get(f"http://127.0.0.1:{port}/?token={web.access.new_token()}")
        assert page.status == 200
        yield web, client, port, said
    finally:
        await client.close()
        await web.stop()
        sock.close()
        await asyncio.sleep(0.3)   # textual-serve never waits for a viewer: let asyncio reap them on this loop


async def open_tab(client: aiohttp.ClientSession, port: int) -> aiohttp.ClientWebSocketResponse:
    return await client.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24",
                                   headers={"Origin": f"http://127.0.0.1:{port}"})


async def test_the_page_is_ours_and_loads_nothing_from_elsewhere(served):
    web, client, port, _ = served
    page = await client.get(f"http://127.0.0.1:{port}/")
    text = await page.text()
    assert page.status == 200 and "<title>a &lt;run&gt;</title>" in text
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in text
    assert "googleapis" not in text and "https://" not in text
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY" and page.headers["Cache-Control"] == "no-store"
    script = await client.get(f"http://127.0.0.1:{port}/static/js/textual.js")
    assert script.status == 200 and len(await script.read()) > 100_000


async def test_at_most_max_tabs_at_once_and_a_closed_tab_frees_its_place(served):
    web, client, port, said = served
    first, second = await open_tab(client, port), await open_tab(client, port)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_tab(client, port)
    assert refused.value.status == 503
    await first.close()
    for _ in range(100):
        if len(web.tabs) < 2:
            break
        await asyncio.sleep(0.05)
    third = await open_tab(client, port)
    assert len(web.tabs) == 2
    assert "a tab opened from 127.0.0.1 (2 open)" in said and "a tab closed (1 open)" in said
    await second.close()
    await third.close()


async def test_stopping_the_server_ends_every_tab(served):
    web, client, port, said = served
    tab = await open_tab(client, port)
    for _ in range(100):
        if web.tabs:
            break
        await asyncio.sleep(0.05)
    reading = asyncio.ensure_future(tab.receive())   # as a browser does: it answers the close at once
    await asyncio.wait_for(web.stop(), 10)         # each tab's viewer is told to quit, and goes
    assert not web.tabs and said[-1] == "a tab closed (0 open)"
    message = await asyncio.wait_for(reading, 5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
