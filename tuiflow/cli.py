"""The `tuiflow` command: argparse only; the run, the UI and the run-store commands load lazily.

`tuiflow FILE [options]` runs a pipeline (the same as `tuiflow run FILE`); `validate`, `graph`
and `schema` never import the UI, so they stay fast and work without a terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import gc
import os
import re
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .exitcodes import EXIT_FLUSH_FAILED, EXIT_INTERNAL, EXIT_INVALID

_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG}
COMMANDS = ("run", "validate", "graph", "schema", "history", "logs", "attach", "ps", "connect", "serve")
ENGINE = "_engine"        # `tuiflow _engine --launcher-fd N RUN-OPTIONS`: a run's engine process (remote/host.py)
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code (and never shows a traceback)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == [ENGINE]:
            return _engine(args_list[1:])
        args = parse_args(args_list)
        if args.handler is not cmd_run:
            gc.enable()
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # `tuiflow schema | head`
        sys.stderr.close()
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_INVALID)
    except OSError as exc:
        if exc.errno not in _CANNOT_WRITE or os.environ.get("TUIFLOW_DEBUG"):
            return _internal_error(exc)
        where = exc.filename or "the output"
        _say(f"tuiflow: cannot write {where}: {exc.strerror or exc}")
        return EXIT_FLUSH_FAILED
    except Exception as exc:  # noqa: BLE001 - the promise is: no traceback for any input
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug in tuiflow: one line, or the traceback with TUIFLOW_DEBUG=1."""
    if os.environ.get("TUIFLOW_DEBUG"):
        raise exc
    _say(f"tuiflow: internal error: {type(exc).__name__}: {exc} (set TUIFLOW_DEBUG=1 to see where)")
    return EXIT_INTERNAL


def _say(text: str) -> None:
    from .engine.termsafe import print_message
    print_message(text)


def entry() -> None:
    """The console script: `main`, then straight out of the process.

    By the time `main` returns, a run has closed its log files, written `run.json` and flushed its
    output; what would be left is the interpreter freeing every module one by one (~17 ms of a
    headless run's start-up budget here), which nothing needs. Standard streams are flushed first,
    and a failed write (a full disk) is reported and fails the command, as Python's own exit does.

    The garbage collector is off while modules load: start-up makes ~100 000 objects that live
    as long as the process, and collecting among them costs ~6 ms for nothing.
    """
    global _own_process
    _own_process = True
    gc.disable()   # until the run has imported what it needs: see launch.collect_garbage_again
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):   # a reader that left (`| head`), or closed already
            pass
        except OSError as exc:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"tuiflow: cannot write the output: {exc.strerror or exc}\n")
                sys.stderr.flush()
            code = code or EXIT_FLUSH_FAILED
    os._exit(code)


_own_process = False   # set by entry(): this process is the `tuiflow` command, not a program using it


def _import_asyncio_without_tls() -> None:
    """In the `tuiflow` command's own process, `import asyncio` without letting it load `ssl`.

    asyncio imports ssl only to offer TLS connections, and loading OpenSSL is 4-5 ms of a run's
    ~100 ms start-up here; nothing in the `tuiflow` command opens one. asyncio supports Pythons
    built without ssl, which is what it sees during this import: its TLS then stays unavailable
    in this process (`import ssl` itself works as usual afterwards). A program that imports
    tuiflow is not affected: only `entry()` asks for this.
    """
    if not _own_process or "asyncio" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  # import ssl -> ImportError
    try:
        import asyncio  # noqa: F401
    finally:
        del sys.modules["ssl"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    """`tuiflow FILE ...` is `tuiflow run FILE ...`; everything else is a subcommand."""
    if argv and argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv = ["run", *argv]
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        raise SystemExit(EXIT_INVALID)
    if args.command == "run":
        _fix_resume(args, parser)
        args.run_argv = argv[1:]
    return args


@functools.cache
def _columns() -> int:
    """The terminal's width as `shutil.get_terminal_size` gives it: COLUMNS, stdout's size, or 80."""
    with contextlib.suppress(ValueError):
        if (columns := int(os.environ.get("COLUMNS", "0"))) > 0:
            return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
    except (AttributeError, ValueError, OSError):
        return 80


def _help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's help formatter, sized without importing shutil.

    argparse makes a formatter at every add_argument (to check metavars) and sizes it with
    shutil, whose import (bz2, lzma) is ~2 ms of every start-up, for a width only help uses.
    """
    return argparse.HelpFormatter(prog, width=_columns() - 2)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with `_help_formatter`; subcommands get it too (argparse makes them of this class)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _help_formatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tuiflow",
        usage="tuiflow FILE [run options]\n       tuiflow {attach,serve,ps,validate,graph,schema,history,logs} ...",
        description="Run a pipeline of shell commands as a DAG, live in your terminal.",
        epilog="`tuiflow FILE` is short for `tuiflow run FILE`. "
               "Exit codes: 0 success, 1 a task failed, 2 invalid pipeline or usage, "
               "130/143 interrupted. `tuiflow COMMAND --help` for each command.",
    )
    parser.add_argument("--version", action="version", version=f"tuiflow {__version__}")
    sub = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND", prog="tuiflow")

    run = sub.add_parser("run", help="run a pipeline (the TUI on a terminal, else headless)",
                         description="Run a pipeline: the terminal UI when stdout is a terminal, "
                                     "plain streaming output otherwise or with --headless. The run's "
                                     "engine outlives the terminal: q then d detaches, "
                                     "`tuiflow attach` comes back.")
    add_run_options(run)
    run.set_defaults(handler=cmd_run)

    attach = sub.add_parser("attach", help="open the UI on a live run (from any terminal, or over SSH)",
                            description="Open the terminal UI on a live run: RUN is a run id, a run folder "
                                        "or a pipeline file (its newest live run); without RUN, the newest "
                                        "live run under the current directory.")
    attach.add_argument("run", metavar="RUN", nargs="?", help="run id, run folder or pipeline file")
    attach.add_argument("--read-only", action="store_true", help="look only: every control is off")
    attach.add_argument("--ssh", metavar="[USER@]HOST",
                        help="the run is on HOST: the UI runs here, only events cross the link "
                             "(`ssh HOST tuiflow connect RUN`)")
    attach.add_argument("--ssh-command", metavar="CMD", default="ssh",
                        help="the ssh command and its options, e.g. 'ssh -p 2222 -i KEY' (default: ssh)")
    attach.add_argument("--remote-tuiflow", metavar="CMD", default="tuiflow",
                        help="the tuiflow command on HOST (default: tuiflow, found on its PATH)")
    attach.add_argument("--theme", metavar="NAME", help="the UI theme (a file in themes/)")
    attach.add_argument("--no-mouse", action="store_true",
                        help="never ask the terminal for mouse reports (keys only; cheapest over SSH)")
    attach.set_defaults(handler=_lazy("tuiflow.commands.attach"))

    serve = sub.add_parser("serve", help="the UI of a run in a web browser, behind a one-time link",
                           description="Serve the terminal UI of a run to web browsers: each tab is one more "
                                       "viewer of the run (as `tuiflow attach`), so closing it never ends the run. "
                                       "RUN as for attach; a pipeline FILE starts a new run first (as --detach "
                                       "does). Prints a link that opens once; the browser then keeps a cookie.")
    serve.add_argument("run", metavar="RUN|FILE", nargs="?",
                       help="run id, run folder, or a pipeline file to start (default: the newest live run here)")
    serve.add_argument("--port", type=_port, default=0, metavar="N", help="the TCP port (default: a free one)")
    serve.add_argument("--host", default="127.0.0.1", metavar="ADDRESS",
                       help="where to listen (default: 127.0.0.1, this machine only; 0.0.0.0 for every "
                            "network: anyone with the link can then control the run unless --read-only)")
    serve.add_argument("--read-only", action="store_true", help="pages only watch: every control is off")
    serve.add_argument("--theme", metavar="NAME", help="the UI theme (a file in themes/)")
    add_param_option(serve)
    serve.add_argument("--max-parallel", type=_positive_int, metavar="N", help="for a FILE: as for a run")
    serve.add_argument("--state-dir", metavar="DIR", help="for a FILE: where run folders go")
    serve.set_defaults(handler=_lazy("tuiflow.commands.serve"))

    ps = sub.add_parser("ps", help="this user's live runs, and how to attach to each",
                        description="List this user's live runs (wherever their folders are).")
    ps.add_argument("--json", action="store_true", help="one JSON object per run")
    ps.set_defaults(handler=_lazy("tuiflow.commands.ps"))

    connect = sub.add_parser("connect", help="relay stdin/stdout to a live run's socket (what attach --ssh runs)",
                             description="Connect standard input and output to a live run's engine: the "
                                         "other end of `tuiflow attach --ssh`. RUN as for attach; without "
                                         "RUN, the newest live run of this user.")
    connect.add_argument("run", metavar="RUN", nargs="?", help="run id, run folder or pipeline file")
    connect.set_defaults(handler=_lazy("tuiflow.commands.connect"))

    validate = sub.add_parser("validate", help="check pipeline files; problems as FILE:LINE:COL: message",
                              description="Check each pipeline file against the schema and the graph rules. "
                                          "Every problem is printed as FILE:LINE:COL: message; exit 2 if any.")
    validate.add_argument("files", metavar="FILE", nargs="+", help="pipeline files")
    add_param_option(validate)
    validate.add_argument("-q", "--quiet", action="store_true", help="print nothing for valid files")
    validate.set_defaults(handler=cmd_validate)

    graph = sub.add_parser("graph", help="print the DAG as a tree (text), Mermaid or DOT",
                           description="Print the pipeline's DAG after matrix and sub-pipeline expansion.")
    graph.add_argument("file", metavar="FILE", help="the pipeline file")
    graph.add_argument("--format", choices=["text", "mermaid", "dot"], default="text",
                       help="text: an indented tree and the stages (default); mermaid; dot (Graphviz)")
    add_param_option(graph)
    graph.set_defaults(handler=cmd_graph)

    schema = sub.add_parser("schema", help="print the pipeline JSON Schema (for editors)",
                            description="Print the JSON Schema (draft 2020-12) of the pipeline format.")
    schema.set_defaults(handler=cmd_schema)

    history = sub.add_parser("history", help="earlier runs: when, result, duration",
                             description="List earlier runs of a pipeline (or of every pipeline here).")
    history.add_argument("file", metavar="FILE", nargs="?", help="the pipeline file")
    history.add_argument("--state-dir", metavar="DIR", help="where run folders are")
    history.set_defaults(handler=_lazy("tuiflow.commands.history"))

    logs = sub.add_parser("logs", help="print a task's log from a run",
                          description="Print one task's log (the last run and attempt unless told).")
    logs.add_argument("file", metavar="FILE", help="the pipeline file")
    logs.add_argument("task", metavar="TASK", help="the task name")
    logs.add_argument("--run", metavar="ID", help="the run (default: the last one)")
    logs.add_argument("--attempt", type=_positive_int, metavar="N", help="the attempt (default: the last one)")
    logs.add_argument("--state-dir", metavar="DIR", help="where run folders are")
    logs.add_argument("--raw", action="store_true",
                      help="the bytes as the task wrote them, even on a terminal (which otherwise "
                           "gets only their text and colours)")
    logs.set_defaults(handler=_lazy("tuiflow.commands.logs"))
    return parser


def add_run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("file", metavar="FILE", nargs="?", help="the pipeline YAML file (native or Dagu)")
    add_param_option(run)
    run.add_argument("--max-parallel", type=_positive_int, metavar="N",
                     help="run at most N tasks at once (default: the pipeline's max_parallel)")
    run.add_argument("--headless", action="store_true", help="plain streaming output, no UI")
    run.add_argument("--events", choices=["jsonl"], help="print the event stream as JSON lines (implies --headless)")
    run.add_argument("--detach", action="store_true",
                     help="start the run with no UI, print its id and how to attach, and return at once")
    run.add_argument("--resume", nargs="?", const="last", metavar="RUN",
                     help="reuse the succeeded tasks of the last run (or of RUN) and run the rest")
    run.add_argument("--force", action="store_true",
                     help="with --resume: resume even if the pipeline changed in a way that touches those tasks")
    run.add_argument("--dry-run", action="store_true", help="print the plan in start order and run nothing")
    run.add_argument("--state-dir", metavar="DIR",
                     help="where run folders go (default: .tuiflow/ beside the pipeline file)")
    run.add_argument("--theme", metavar="NAME", help="the UI theme (a file in themes/)")
    run.add_argument("--approve", action="append", default=[], metavar="TASK",
                     help="approve the gate TASK (`approval: true`) in advance (repeatable); in a "
                          "headless run a gate not approved so fails")
    run.add_argument("--no-mouse", action="store_true",
                     help="the TUI never asks the terminal for mouse reports (keys only; cheapest over SSH)")
    run.add_argument("--summary", choices=["short", "full"], default="short",
                     help="what the TUI prints when it closes: short (failures in full, the rest counted "
                          "when the run is big; default) or full (every task)")
    run.add_argument("--executor", choices=["local", "dask"],
                     help="where commands run: local processes, or the workers of a Dask cluster "
                          "(default: the pipeline's `executor:`, else local)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="the Dask scheduler, tcp://HOST:PORT (implies --executor dask; default: the "
                          "pipeline's `scheduler:`, else DASK_SCHEDULER_ADDRESS)")


def _engine(argv: list[str]) -> int:
    """A run's engine process, started by a TUI or `--detach` (remote/host.py), never by a person."""
    parser = _Parser(prog="tuiflow _engine")
    parser.add_argument("--launcher-fd", type=int, required=True)
    parser.add_argument("--source-from-launcher", action="store_true")
    add_run_options(parser)
    args = parser.parse_args(argv)
    args.run_argv = []
    _import_asyncio_without_tls()
    from .launch import RunOptions
    from .remote.host import engine_main

    return engine_main(RunOptions.from_args(args), args.launcher_fd, args.source_from_launcher)


def add_param_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--param", "-p", dest="params", action="append", type=_param, default=[],
                        metavar="K=V", help="set a pipeline param (repeatable); overrides `params:` in the file")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535 (0: any free one), not {value}")
    return value


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not _PARAM_NAME.fullmatch(name):
        raise argparse.ArgumentTypeError(f"'{text}' is not K=V with K a variable name (letters, digits, _)")
    return name, value


def _fix_resume(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """`tuiflow --resume p.yaml` puts the file into --resume's optional RUN: take it back."""
    if args.file is None and args.resume and args.resume != "last" and os.path.exists(args.resume):
        args.file, args.resume = args.resume, "last"
    if args.file is None:
        parser.error("a pipeline FILE is needed: tuiflow FILE [options]")


def _params(args: argparse.Namespace) -> dict[str, str]:
    return dict(args.params)


def _print_errors(errors: Sequence[object]) -> None:
    for error in errors:
        _say(str(error))


def _load(file: str, args: argparse.Namespace):   # -> Pipeline | None (errors printed)
    from .engine.errors import PipelineInvalid
    from .engine.loader import load

    try:
        return load(file, _params(args))
    except PipelineInvalid as exc:
        _print_errors(exc.errors)
        return None


# --- the commands -------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    if not args.dry_run:
        _import_asyncio_without_tls()   # before the launcher's imports bring asyncio (and ssl) in
        from .remote.launcher import runs_headless

        if not runs_headless(bool(args.headless or args.events), args.detach):
            from .launch import RunOptions, run_in_engine

            return run_in_engine(RunOptions.from_args(args))   # its engine reads the pipeline
    pipeline = _load(args.file, args)
    if pipeline is None:
        return EXIT_INVALID
    if args.dry_run:
        from .engine.history import durations
        from .graphview import plan
        from .launch import state_dir_for

        known = durations(pipeline, state_dir_for(pipeline.file, args.state_dir))
        from .engine.termsafe import escape_controls

        sys.stdout.write(escape_controls(plan(pipeline, args.max_parallel, known), keep_newlines=True))
        return 0
    from .launch import RunOptions, run_pipeline

    return run_pipeline(pipeline, RunOptions.from_args(args))


def cmd_validate(args: argparse.Namespace) -> int:
    from .engine.errors import PipelineInvalid
    from .engine.loader import load
    from .engine.termsafe import escape_controls

    failed = False
    for file in args.files:
        try:
            pipeline = load(file, _params(args))
        except PipelineInvalid as exc:
            _print_errors(exc.errors)
            failed = True
            continue
        _print_errors(pipeline.notes)   # notes and warnings: on stderr, even with --quiet
        if not args.quiet:
            count = sum(1 for t in pipeline.tasks if not t.virtual)
            notes = f", {len(pipeline.notes)} note{'s' if len(pipeline.notes) != 1 else ''}" if pipeline.notes else ""
            print(escape_controls(f"{file}: ok ({count} task{'s' if count != 1 else ''}{notes})"))
    return EXIT_INVALID if failed else 0


def cmd_graph(args: argparse.Namespace) -> int:
    from .graphview import FORMATS

    pipeline = _load(args.file, args)
    if pipeline is None:
        return EXIT_INVALID
    from .engine.termsafe import escape_controls

    sys.stdout.write(escape_controls(FORMATS[args.format](pipeline), keep_newlines=True))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from .engine.schema import schema_text

    sys.stdout.write(schema_text())
    return 0


def _lazy(module: str) -> Callable[[argparse.Namespace], int]:
    """A handler that imports `module` only when its command runs (start-up stays small)."""
    def handler(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(module).main(args) or 0)
    return handler


if __name__ == "__main__":
    sys.exit(main())
