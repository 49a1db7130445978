"""`tuiflow serve [RUN|FILE]`: a run's terminal UI in web browsers, behind a one-time link.

Each tab is one more viewer of the run's engine (`tuiflow attach RUN` run by textual-serve), so
closing a tab, or stopping the server, never ends the run. The server itself keeps one quiet,
read-only connection to the engine: it holds a finished run open for the browsers (as an open
TUI does) and tells the server when the engine is gone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import shlex
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..engine import stopsignals
from ..engine.errors import UsageError
from ..engine.runs import load_run
from ..engine.termsafe import escape_controls, print_message
from ..exitcodes import EXIT_FAILED, EXIT_INVALID, EXIT_OK
from ..remote.client import Channel, Refused
from ..remote.protocol import ProtocolError, read_frame
from ..remote.registry import resolve
from .attach import local_channel, not_reached

if TYPE_CHECKING:
    from ..web.access import Access


def main(args: argparse.Namespace) -> int:
    try:
        from ..web.access import Access
        from ..web.site import Site
    except ImportError as exc:
        print_message(f"tuiflow serve: the web extra is not installed (no module {exc.name!r}): "
                      "pip install 'tuiflow[web]'")
        return EXIT_INVALID
    starts = _is_pipeline_file(args.run)
    if not starts and (args.params or args.max_parallel or args.state_dir):
        print_message("tuiflow serve: --param, --max-parallel and --state-dir are for a pipeline FILE "
                      "(a new run); RUN is a live run already")
        return EXIT_INVALID
    try:
        sock = listen(args.host, args.port)   # before a run starts: a port that is taken starts nothing
    except (OSError, UnicodeError) as exc:
        print_message(f"tuiflow serve: cannot listen on {args.host}:{args.port}: "
                      f"{getattr(exc, 'strerror', None) or exc}")
        return EXIT_INVALID
    with sock:
        try:
            got = _start(args) if starts else _existing(args.run)
        except (UsageError, Refused, ConnectionError, ProtocolError) as exc:
            return not_reached("tuiflow serve", exc)
        if isinstance(got, int):
            return got
        run, holder = got
        address, port = sock.getsockname()[:2]
        access = Access(address, port, args.host)
        title = f"{run.get('pipeline') or 'tuiflow'} · {run['run_id']}"
        site = Site(access, tab_command(run["run_dir"], args), title, _say)
        return asyncio.run(_serve(site, sock, holder, access, run, args, url_host(args.host, address)))


def _is_pipeline_file(arg: str | None) -> bool:
    """A path to something that is not a directory (a file, a pipe) is a pipeline to start."""
    return bool(arg) and os.path.exists(arg) and not os.path.isdir(arg)  # type: ignore[arg-type]


def _existing(arg: str | None) -> tuple[dict[str, Any], Channel]:
    run = resolve(arg)
    return run, hold(run["run_dir"])


def _start(args: argparse.Namespace) -> tuple[dict[str, Any], Channel] | int:
    """A new run of the FILE, started as `tuiflow FILE --detach` starts one."""
    from ..launch import RunOptions, run_in_engine

    argv = [args.run, *(f"--param={k}={v}" for k, v in args.params)]
    if args.max_parallel:
        argv.append(f"--max-parallel={args.max_parallel}")
    if args.state_dir:
        argv.append(f"--state-dir={args.state_dir}")
    options = RunOptions(file=args.run, params=dict(args.params), max_parallel=args.max_parallel,
                         state_dir=args.state_dir, detach=True, argv=tuple(argv))
    held: list[tuple[dict[str, Any], Channel]] = []

    def on_started(ready: dict[str, Any]) -> None:
        held.append((ready, hold(ready["run_dir"])))

    code = run_in_engine(options, on_started=on_started)
    if code != EXIT_OK or not held:
        return code or EXIT_FAILED
    return held[0]


def hold(run_dir: str) -> Channel:
    """The server's own connection to the engine: greeted, read-only, never subscribed (so it is
    sent nothing until the engine says bye or goes)."""
    channel, _ = local_channel(run_dir)
    try:
        channel.hello(read_only=True)
    except BaseException:
        channel.close()
        raise
    return channel


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on `host` (an address or a name: its first address) and `port`."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise OSError(f"unknown host ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6 and ipaddress.ip_address(address[0]).is_unspecified:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)   # `::` takes IPv4 too
        sock.bind(address)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def url_host(given: str, address: str) -> str:
    """The host part of the printed link: the name given, the address, or this machine's name for
    a wildcard address."""
    from ..web.access import host_literal

    if ipaddress.ip_address(address).is_unspecified:
        return socket.gethostname().lower()
    try:
        ipaddress.ip_address(given.strip("[]"))
    except ValueError:
        return given.strip().lower()
    return host_literal(address)


def tab_command(run_dir: str, args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each tab: this Python, `tuiflow attach`, exec'd so
    that this server is its parent (and its death ends the tab's viewer: web/tab.py)."""
    argv = [sys.executable, "-m", "tuiflow.web.tab", "--server", str(os.getpid()), run_dir]
    if args.read_only:
        argv.append("--read-only")
    if args.theme:
        argv.append(f"--theme={args.theme}")
    return "exec " + shlex.join(argv)


async def _serve(site: Any, sock: socket.socket, holder: Channel, access: Access, run: dict[str, Any],
                 args: argparse.Namespace, host: str) -> int:
    loop = asyncio.get_running_loop()
    await site.start(sock)
    stopped: asyncio.Future[int] = loop.create_future()
    installed = stopsignals.install(loop, lambda sig: stopped.done() or stopped.set_result(sig))
    _announce(run, args, sock.getsockname()[0], host, access)

    def link() -> str:
        return f"http://{host}:{access.port}/?token={access.new_token()}"

    print(f"  {link()}", flush=True)
    reading = _new_links_on_enter(loop, link)
    more = "Enter here prints another link; " if reading else ""
    print(f"  ({more}Ctrl+C stops serving, the run goes on)", flush=True)
    gone = loop.create_task(_engine_gone(holder))
    try:
        await asyncio.wait([stopped, gone], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopsignals.uninstall(loop, installed)
        if reading:
            loop.remove_reader(sys.stdin.fileno())
        await site.stop()
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        holder.close()
    if stopped.done():
        print_message(f"tuiflow serve: stopped; the run goes on (tuiflow attach {run['run_id']})")
        return stopsignals.exit_code(stopped.result())
    reason = gone.result() if not gone.cancelled() else ""
    state = _state(run["run_dir"])
    print_message(f"tuiflow serve: the run's engine has ended ({reason or state}); nothing left to serve")
    return EXIT_OK if state == "succeeded" else EXIT_FAILED


def _announce(run: dict[str, Any], args: argparse.Namespace, address: str, host: str, access: Access) -> None:
    where = f"{host}:{access.port}"
    if not access.loopback:
        what = f"{address}:{access.port}" + (" (every network interface of this machine)" if access.wildcard else "")
        if args.read_only:
            print_message(f"tuiflow serve: listening on {what}: anyone who has the link can watch this run "
                          "(read-only). Plain HTTP: the link and its cookie cross the network unencrypted.")
        else:
            print_message(
                f"tuiflow serve: WARNING: listening on {what}, which other machines can reach.\n"
                "  ANYONE WHO HAS THE LINK CAN CONTROL THIS RUN: pause it, cancel its tasks, cancel the whole run.\n"
                "  Add --read-only to let them only watch. Plain HTTP: the link and its cookie cross the network "
                "unencrypted.")
    mode = " (read-only: pages only watch)" if args.read_only else ""
    print(escape_controls(f"tuiflow serve: run {run['run_id']} of {run.get('pipeline', '?')} on http://{where}/"
                          f"{mode}. Open this link; it opens once, then the browser keeps a cookie:"), flush=True)


def _new_links_on_enter(loop: asyncio.AbstractEventLoop, link: Callable[[], str]) -> bool:
    """On a terminal, each Enter prints one more one-time link (for another person or browser)."""
    if sys.stdin is None or not sys.stdin.isatty():
        return False
    fd = sys.stdin.fileno()

    def on_input() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            return
        print(f"  {link()}", flush=True)

    loop.add_reader(fd, on_input)
    return True


async def _engine_gone(holder: Channel) -> str:
    """Waits until the engine ends this connection; its reason, when it said one."""
    reason = ""
    try:
        reader, writer = await holder.open()
    except OSError:
        return reason
    try:
        while (got := await read_frame(reader)) is not None:
            if got[0].get("t") == "bye":
                reason = str(got[0].get("reason") or "")
    except (ProtocolError, ConnectionError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
    return reason


def _state(run_dir: str) -> str:
    try:
        return str(load_run(run_dir).get("state", "?"))
    except (OSError, ValueError):
        return "?"


def _say(text: str) -> None:
    print_message(f"tuiflow serve: {text}")
