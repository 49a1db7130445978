"""The web server of `tuiflow serve`: one page, textual-serve's terminal on a websocket (one viewer
process per tab), and the access checks (web/access.py) in front of every request.

textual-serve has no authentication and no Origin check of its own, so its `Server` is used only
for what it is for — `handle_websocket`, which runs the tab's command and relays its screen —
behind this server's own routes and middleware. The page is this module's (no fonts or scripts
from other sites: everything the browser loads comes from here, as the page's CSP says).
"""

from __future__ import annotations

import asyncio
import html
import importlib.resources
import os
import socket
from collections.abc import Callable

from aiohttp import web
from textual_serve.server import Server

from .access import Access, Refusal

MAX_TABS = 16            # viewer processes at once (each a Textual app: ~50 MB with 1 000 tasks)
SHUTDOWN_SECONDS = 3.0   # for the tabs' viewers to leave when serving stops
STATIC = os.fspath(importlib.resources.files("textual_serve") / "static")   # textual.js, xterm.css, fonts

HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "font-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style>
@font-face {{ font-family: "Roboto Mono"; src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf"); }}
html, body {{ margin: 0; height: 100%; background: #0c181f; color: #e0e0e0; font-family: "Roboto Mono", monospace; }}
#terminal {{ position: absolute; inset: 0; }}
.ended {{ display: none; position: absolute; inset: 0; z-index: 10; align-items: center; justify-content: center;
          background: rgba(12, 24, 31, 0.85); }}
body.-closed .ended {{ display: flex; }}
.ended a {{ color: #8ab4f8; }}
</style>
</head>
<body>
<div class="ended"><p>This tab's view has ended; the run goes on. <a href="/">Open it again</a></p></div>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{websocket}" data-font-size="16"></div>
</body>
</html>
"""

ENTER = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=/">
<title>{title}</title></head><body><p><a href="/">Open the run</a></p></body></html>
"""


class Site:
    """The application: `tab_command` is run (through a shell) for each tab, under textual-serve."""

    def __init__(self, access: Access, tab_command: str, title: str, say: Callable[[str], None]) -> None:
        self.access = access
        self.title = title
        self.say = say
        self.terminal = Server(tab_command, title=title)
        self.tabs: set[asyncio.Task[object]] = set()
        self.app = web.Application(middlewares=[self._guard])
        self.app.add_routes([web.get("/", self._page), web.get("/ws", self._tab),
                             web.static("/static", STATIC)])
        self.app.on_response_prepare.append(self._headers)
        self.app.on_shutdown.append(self._close_tabs)
        self._runner: web.AppRunner | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on a bound, listening socket."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Stop listening; every tab's viewer is told to quit (the run goes on)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ the checks
    @web.middleware
    async def _guard(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        host = request.headers.get("Host")
        refusal = self.access.check_host(host)
        if refusal is None:
            refusal = self.access.check_origin(request.headers.get("Origin"), host or "")
        if refusal is not None:
            return self._refuse(request, refusal)
        if self.access.has_session(request.cookies.get(self.access.cookie)):
            return await handler(request)
        token = request.query.get("token")
        if request.path == "/" and token:
            session = self.access.exchange(token)
            if session is not None:
                return self._enter(session)
            return self._refuse(request, Refusal(401, "this link has been opened already, or is not one of this "
                                                      "server's: each link opens once; ask for a new one (Enter "
                                                      "where `tuiflow serve` runs prints one)"))
        return self._refuse(request, Refusal(401, "no session: open the link that `tuiflow serve` printed"))

    def _enter(self, session: str) -> web.Response:
        """The token is spent: the session cookie, and on to the page. (A refresh from this page,
        not a redirect: a SameSite=Strict cookie is not sent on a redirect that a link on another
        site started.)"""
        response = web.Response(text=ENTER.format(title=html.escape(self.title)), content_type="text/html")
        response.set_cookie(self.access.cookie, session, httponly=True, samesite="Strict", path="/")
        response.headers["Cache-Control"] = "no-store"
        return response

    def _refuse(self, request: web.Request, refusal: Refusal) -> web.Response:
        self.say(f"{refusal.status} for {request.remote}: {refusal.reason}")
        return web.Response(status=refusal.status, text=f"tuiflow serve: {refusal.reason}\n")

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)

    # ------------------------------------------------------------------ the page and its tabs
    async def _page(self, request: web.Request) -> web.Response:
        websocket = f"ws://{request.headers['Host']}/ws"      # the same origin the page came from
        text = PAGE.format(title=html.escape(self.title), websocket=html.escape(websocket, quote=True))
        response = web.Response(text=text, content_type="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _tab(self, request: web.Request) -> web.StreamResponse:
        """One tab: textual-serve runs the viewer's command and relays its screen and keys."""
        if len(self.tabs) >= MAX_TABS:
            return web.Response(status=503, text=f"tuiflow serve: {MAX_TABS} tabs are open already\n")
        task = asyncio.current_task()
        assert task is not None
        self.tabs.add(task)
        self.say(f"a tab opened from {request.remote} ({len(self.tabs)} open)")
        try:
            return await self.terminal.handle_websocket(request)
        finally:
            self.tabs.discard(task)
            self.say(f"a tab closed ({len(self.tabs)} open)")

    async def _close_tabs(self, app: web.Application) -> None:
        """Serving stops: each tab's handler is cancelled, which has textual-serve tell its viewer to quit."""
        for task in list(self.tabs):
            task.cancel()


__all__ = ["MAX_TABS", "Site"]
