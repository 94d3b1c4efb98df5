"""``lotse projector`` and ``lotse projections status|rebuild|parked|retry|skip``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from typing import Any

import asyncpg

from lotse.api.progress import Progress
from lotse.api.runtime import ReadSide, build_read_side
from lotse.api.settings import load_settings
from lotse.projections.catalogue import PROJECTIONS
from lotse.projections.parking import ParkingError, parked_events, resolutions, retry, skip
from lotse.projections.rebuild import default_processes, rebuild
from lotse.projections.runner import ProjectionBusyError, Runner
from lotse.projections.schema import ensure_projections, status
from lotse.storage.keys import MasterKey
from lotse.storage.log_head import log_head


def add_projection_parsers(sub: Any) -> None:
    projector = sub.add_parser("projector", help="run the projection runner until stopped")
    projector.add_argument(
        "--exit-if-busy",
        action="store_true",
        help="exit instead of waiting when another runner is active",
    )
    projections = sub.add_parser("projections", help="inspect and rebuild read models")
    commands = projections.add_subparsers(dest="projections_command", required=True)
    commands.add_parser(
        "status", help="position, head, lag and parked events of each read model (1 if any)"
    )
    parked = commands.add_parser("parked", help="events a read model could not apply")
    parked.add_argument(
        "--all", action="store_true", help="also what was retried, skipped or rebuilt, and by whom"
    )
    retry_cmd = commands.add_parser(
        "retry", help="apply parked events again (after a fix); those that apply leave the list"
    )
    retry_cmd.add_argument("--read-model", help="only this read model")
    retry_cmd.add_argument("--position", type=int, help="only the event at this position")
    retry_cmd.add_argument("--by", help="who retries (default: the login name)")
    skip_cmd = commands.add_parser(
        "skip", help="leave a parked event out of a read model for good (recorded with a reason)"
    )
    skip_cmd.add_argument("--read-model", required=True)
    skip_cmd.add_argument("--position", type=int, required=True)
    skip_cmd.add_argument("--reason", required=True, help="why (kept with who and when)")
    skip_cmd.add_argument("--by", help="who skips (default: the login name)")
    rebuild_cmd = commands.add_parser("rebuild", help="rebuild into fresh tables and swap them in")
    rebuild_cmd.add_argument(
        "names", nargs="*", help=f"read models (default all): {', '.join(PROJECTIONS)}"
    )


async def _pool(side: ReadSide | None = None) -> tuple[asyncpg.Pool, MasterKey]:
    pool, master, _ = await _pool_and_url(side)
    return pool, master


async def _pool_and_url(side: ReadSide | None = None) -> tuple[asyncpg.Pool, MasterKey, str]:
    side = side or build_read_side(load_settings())
    pool = await asyncpg.create_pool(side.database.url, min_size=1, max_size=6)
    return pool, side.master_key, side.database.url


async def _projector(exit_if_busy: bool) -> int:
    side = build_read_side(load_settings())
    pool, master = await _pool(side)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    runner = Runner(pool, master, list(PROJECTIONS.values()))
    watch = asyncio.create_task(_stop_when_orphaned(stop, side.settings.parent_pid))
    try:
        if exit_if_busy:
            await runner.acquire(wait=False)
        print("projector running; Ctrl-C to stop", flush=True)
        await runner.run_forever(stop)
    except ProjectionBusyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        watch.cancel()
        await pool.close()
    return 0


async def _stop_when_orphaned(stop: asyncio.Event, parent: int | None) -> None:
    """Stop when ``lotse serve``, which started this projector, is gone.

    A parent killed without the chance to terminate its child (SIGKILL, a crash)
    would otherwise leave a projector retrying against a database forever.
    ``LOTSE_PARENT_PID`` is set only by ``lotse serve``; a projector started on
    its own (docker-compose, by hand) has none and runs until told to stop.
    """
    if parent is None:
        return
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
            return
        await asyncio.sleep(1.0)


async def _status() -> int:
    pool, _ = await _pool()
    try:
        async with pool.acquire() as conn:
            await ensure_projections(conn, list(PROJECTIONS.values()))
            head, rows = await status(conn)
    finally:
        await pool.close()
    print(f"head of the event log: {head}")
    print(f"{'read model':<14}{'gen':>4} {'state':<9}{'position':>10}{'lag':>8}  problem")
    failed = 0
    for r in rows:
        state = "stopped" if r["error"] else "degraded" if r["parked"] else r["status"]
        failed += bool(r["error"] or r["parked"])
        problem = r["error"] or ""
        if r["parked"]:
            problem = "parked at position " + ", ".join(map(str, r["parked"]))
        line = f"{r['name']:<14}{r['generation']:>4} {state:<9}{r['position']:>10}{r['lag']:>8}"
        print(f"{line}  {problem}")
    if failed:
        print(
            "read models are degraded: see `lotse projections parked`, then `retry` after "
            "a fix or `skip --reason`",
            file=sys.stderr,
        )
    return 1 if failed else 0


async def _parked(show_all: bool) -> int:
    pool, _ = await _pool()
    try:
        async with pool.acquire() as conn:
            await ensure_projections(conn, list(PROJECTIONS.values()))
            parked = await parked_events(conn)
            done = await resolutions(conn) if show_all else []
    finally:
        await pool.close()
    if not parked:
        print("no parked events")
    for p in parked:
        sqlstate = f" SQLSTATE {p['sqlstate']}" if p["sqlstate"] else ""
        print(
            f"{p['name']} (generation {p['generation']}, {p['status']}) position {p['position']}: "
            f"{p['topic']} version {p['originator_version']} of {p['originator_id']}, "
            f"{p['error_type']}{sqlstate}, parked {p['parked_at']:%Y-%m-%d %H:%M:%S %Z}"
        )
    for d in done:
        reason = f": {d['reason']}" if d["reason"] else ""
        print(
            f"{d['resolution']} {d['name']} position {d['position']} ({d['topic']}, "
            f"{d['error_type']}) by {d['resolved_by']} at "
            f"{d['resolved_at']:%Y-%m-%d %H:%M:%S %Z}{reason}"
        )
    return 0


def _operator(given: str | None) -> str:
    if given:
        return given
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "operator"


async def _retry(name: str | None, position: int | None, by: str | None) -> int:
    if name is not None and name not in PROJECTIONS:
        print(f"error: unknown read model; known: {', '.join(PROJECTIONS)}", file=sys.stderr)
        return 2
    pool, master = await _pool()
    try:
        async with pool.acquire() as conn:
            await ensure_projections(conn, list(PROJECTIONS.values()))
            outcomes = await retry(
                conn, master, PROJECTIONS, name=name, position=position, by=_operator(by)
            )
    except ParkingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        await pool.close()
    if not outcomes:
        print("no parked events matched")
        return 1
    for o in outcomes:
        result = "applied" if o.error is None else f"still fails ({o.error}), stays parked"
        print(f"{o.name} (generation {o.generation}) position {o.position}: {result}")
    return 1 if any(o.error for o in outcomes) else 0


async def _skip(name: str, position: int, reason: str, by: str | None) -> int:
    pool, _ = await _pool()
    try:
        async with pool.acquire() as conn:
            await ensure_projections(conn, list(PROJECTIONS.values()))
            await skip(conn, name, position, reason=reason, by=_operator(by))
    except ParkingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        await pool.close()
    print(f"{name} position {position}: skipped (recorded; see `lotse projections parked --all`)")
    return 0


async def _rebuild(names: list[str]) -> int:
    unknown = [n for n in names if n not in PROJECTIONS]
    if unknown:
        print(
            f"error: unknown read model(s): {', '.join(unknown)}; known: {', '.join(PROJECTIONS)}",
            file=sys.stderr,
        )
        return 2
    chosen = [PROJECTIONS[n] for n in names] if names else list(PROJECTIONS.values())
    pool, master, url = await _pool_and_url()
    try:
        head = await log_head(pool)
        progress = Progress(head, "rebuilding " + ", ".join(p.name for p in chosen))
        generations = await rebuild(
            pool,
            master,
            chosen,
            on_batch=progress.advance,
            processes=default_processes(),
            database_url=url,
        )
        progress.close()
        async with pool.acquire() as conn:
            parked = [p for p in await parked_events(conn) if p["name"] in generations]
    except ProjectionBusyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        await pool.close()
    swapped = ", ".join(f"{n} -> generation {g}" for n, g in generations.items())
    print(f"swapped in: {swapped}")
    for p in parked:
        print(
            f"warning: {p['name']} parked the event at position {p['position']} "
            f"({p['error_type']}); see `lotse projections parked`",
            file=sys.stderr,
        )
    return 0


def run_projections(args: argparse.Namespace) -> int:
    if args.command == "projector":
        return asyncio.run(_projector(args.exit_if_busy))
    if args.projections_command == "status":
        return asyncio.run(_status())
    if args.projections_command == "parked":
        return asyncio.run(_parked(args.all))
    if args.projections_command == "retry":
        return asyncio.run(_retry(args.read_model, args.position, args.by))
    if args.projections_command == "skip":
        return asyncio.run(_skip(args.read_model, args.position, args.reason, args.by))
    return asyncio.run(_rebuild(args.names))
