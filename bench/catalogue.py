"""What a model holds of mcs-erp, and how fast a stdio client gets an answer (issue 16).

Builds a fresh demo school (as `mcs-erp demo` does, seed 42, plus a published timetable and a family statement so
every read tool has something to read) in a temporary SQLite database (`--database-url` for an empty PostgreSQL
database instead), then reports:
  1. for each demo user (users with the same roles share a line): how many tools tools/list shows by default and
     its characters, from the MCP server itself (server/mcp_server.py, through the SDK's in-memory client, so
     whatever listing filter the server applies is the one measured);
  2. the whole catalogue's tools/list characters and the largest tool;
  3. the largest default read answer: every read tool called with its default arguments by every demo persona
     its roles allow (admin, registrar, HR, bursar, the first class's teacher), with the argument table of
     tests/tools/test_read_budget.py;
  4. stdio cold start: `mcs-erp serve --stdio` (the venv's entry point) beside a bare official-SDK server
     (MCPServer with one tool) run by the same interpreter, alternated run by run: spawn, send `initialize`,
     time to its answer; medians of `--runs`. Also the first tools/list after `initialize`, `mcs-erp --help`
     and `import server.cli`.
Every wait is bounded by `--timeout` seconds: a hung server ends the bench with an error.

Characters are those of the tools/list result as the SDK sends it (compact JSON; the whole catalogue is also given
as json.dumps spaces it) and of a read answer's JSON (the MCP text block).
Prints the figures, then one line with a JSON object of them; its targets (issue 16): max_default_listing_chars
<= 40,000, all_tools_chars <= 183,000, max_read_answer_chars <= 16,000, stdio_init_ratio <= 2.0.

Usage: uv run python bench/catalogue.py [--runs 7] [--timeout 60] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mcp import Client  # noqa: E402
from sqlmodel import select  # noqa: E402

from domain.identity.models import User  # noqa: E402
from domain.identity.service import actor_for  # noqa: E402
from domain.kernel.actor import Actor, Channel  # noqa: E402
from domain.kernel.errors import PermissionDenied  # noqa: E402
from domain.kernel.settings import Settings  # noqa: E402
from server.cli import prepare_database  # noqa: E402
from server.demo import build_demo  # noqa: E402
from server.mcp_server import build_mcp_server, mcp_tool  # noqa: E402
from tests.tools.test_read_budget import ARGUMENTS, Demo, actor_named, find_demo, find_personas  # noqa: E402
from tools.invoke import invoke  # noqa: E402
from tools.registry import Effect  # noqa: E402
from tools.runtime import Runtime  # noqa: E402
from workers.runner import InProcessRunner  # noqa: E402

T = TypeVar("T")

TARGETS = {"max_default_listing_chars": 40_000, "all_tools_chars": 183_000, "max_read_answer_chars": 16_000,
           "stdio_init_ratio": 2.0}
SOLVE_S = 10  # the demo's timetable: a first feasible one comes in about a second
BARE_SERVER = """
from mcp.server import MCPServer

server = MCPServer("bare")


@server.tool()
def ping() -> str:
    \"\"\"Answer pong.\"\"\"
    return "pong"


server.run("stdio")
"""


class Hung(Exception):
    """A wait of the bench ran past --timeout."""


async def bounded(what: str, awaitable: Awaitable[T], timeout: float) -> T:
    """Await `awaitable` for at most `timeout` seconds; raise Hung naming `what` otherwise."""
    try:
        return await asyncio.wait_for(awaitable, timeout)
    except TimeoutError:
        raise Hung(f"{what}: no answer within {timeout:g} s") from None


def listing_chars(tools: list[Any], *, spaced: bool = False) -> int:
    """Characters of a tools/list result holding `tools` (MCP Tool models) as the SDK sends it: compact JSON, no
    space after separators. `spaced`: as json.dumps writes it by default (", " and ": "), about 8 % more, the way
    the issue's 366,000 before-figure appears to have been measured (this repository at f4cfae5: 347,266 compact,
    372,594 spaced, 135 tools)."""
    dumped = {"tools": [t.model_dump(by_alias=True, exclude_none=True, mode="json") for t in tools]}
    return len(json.dumps(dumped) if spaced else json.dumps(dumped, separators=(",", ":")))


# ---------------------------------------------------------------- the demo school


async def build_school(runtime: Runtime, *, timeout: float) -> None:
    """The demo school, its timetable solved and published, and one family statement (a document)."""
    await prepare_database(runtime)
    await build_demo(runtime)
    admin = await actor_named(runtime, "admin")
    problem = await invoke(runtime, "build_timetable_problem", {}, admin)
    job = await invoke(runtime, "solve_timetable", {"problem_id": problem.problem_id, "time_limit_s": SOLVE_S,
                                                   "seed": 3}, admin)
    await bounded("the demo's timetable job", runtime.jobs.join(job.job_id), timeout)
    solved = await invoke(runtime, "get_job", {"job_id": job.job_id}, admin)
    if solved.status != "succeeded":
        raise RuntimeError(f"the demo's timetable did not solve: {solved.status} {solved.error}")
    pending = await invoke(runtime, "publish_timetable", {"solution_id": solved.result["solution_id"]}, admin)
    await invoke(runtime, "confirm_action", {"action_id": pending.action_id}, admin)
    bursar = await actor_named(runtime, "bursar")
    families = await invoke(runtime, "list_families", {"limit": 1}, bursar)
    await invoke(runtime, "generate_family_statement", {"family_id": families.items[0].family_id,
                                                        "from_date": "2026-01-01"}, bursar)


# ---------------------------------------------------------------- 1-3: listings, catalogue, answers


async def default_listings(runtime: Runtime, timeout: float) -> list[dict[str, Any]]:
    """tools/list as each demo user, through the MCP server and the SDK's in-memory client; users with the same
    roles share a row."""
    async with runtime.db.read() as session:
        users = list((await session.exec(select(User).order_by(User.id))).all())
    rows: dict[str, dict[str, Any]] = {}
    for user in users:
        actor = actor_for(user, Channel.MCP_STDIO)
        key = ",".join(sorted(role.value for role in actor.roles))
        if key in rows:
            rows[key]["users"].append(user.username)
            continue

        async def resolve(ctx, actor: Actor = actor) -> Actor:
            return actor

        async with Client(build_mcp_server(runtime, resolve)) as client:
            listed = await bounded(f"tools/list as {user.username}", client.list_tools(), timeout)
        rows[key] = {"roles": key, "users": [user.username], "tools": len(listed.tools),
                     "chars": listing_chars(listed.tools)}
    return list(rows.values())


def whole_catalogue(runtime: Runtime) -> tuple[int, int, str, int]:
    """The characters of tools/list holding every tool (compact, and spaced), and the largest tool's name and
    characters."""
    declared = [mcp_tool(spec) for spec in runtime.catalogue.tools.values()]
    sizes = {tool.name: listing_chars([tool]) - len('{"tools":[]}') for tool in declared}
    largest = max(sizes, key=sizes.__getitem__)
    return listing_chars(declared), listing_chars(declared, spaced=True), largest, sizes[largest]


async def read_answers(runtime: Runtime, people: dict[str, Actor], demo: Demo) -> dict[str, int]:
    """The characters of each read tool's default answer, the largest over the personas its roles allow."""
    sizes: dict[str, int] = {}
    missing = []
    for spec in runtime.catalogue.tools.values():
        callers = [actor for actor in people.values() if actor.has_any(spec.roles)]
        if spec.effect is not Effect.READ or not callers:
            continue
        if spec.name not in ARGUMENTS:
            missing.append(spec.name)
            continue
        for actor in callers:
            try:
                out = await invoke(runtime, spec.name, ARGUMENTS[spec.name](demo), actor)
            except PermissionDenied:  # row scope: a class this teacher does not teach
                continue
            sizes[spec.name] = max(sizes.get(spec.name, 0), len(out.model_dump_json()))
    if missing:
        print(f"  (read tools without default arguments in tests/tools/test_read_budget.py, not measured: "
              f"{', '.join(missing)})")
    return sizes


# ---------------------------------------------------------------- 4: stdio cold start


def initialize_message(request_id: int = 1) -> bytes:
    return (json.dumps({"jsonrpc": "2.0", "id": request_id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcs-erp-bench", "version": "0.1.0"}}}) + "\n").encode()


async def answer(proc: asyncio.subprocess.Process, request_id: int, what: str, timeout: float) -> dict[str, Any]:
    """Read stdout lines until the JSON-RPC answer to `request_id` (notifications are skipped)."""
    assert proc.stdout is not None
    while True:
        line = await bounded(what, proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"{what}: the server closed stdout (exit code {await proc.wait()})")
        message = json.loads(line)
        if message.get("id") == request_id:
            if "error" in message:
                raise RuntimeError(f"{what}: {message['error']}")
            return message["result"]


async def stdio_start(command: list[str], env: dict[str, str], timeout: float, *,
                      then_list: bool = False) -> tuple[float, float | None]:
    """Spawn a stdio server, send `initialize`, and return the seconds to its answer (and, with `then_list`, the
    seconds from then to the answer of the first tools/list)."""
    start = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                                stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    try:
        assert proc.stdin is not None
        proc.stdin.write(initialize_message())
        await proc.stdin.drain()
        await answer(proc, 1, f"initialize of {command[-1]}", timeout)
        initialized = time.perf_counter() - start
        listed = None
        if then_list:
            begin = time.perf_counter()
            proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n'
                             b'{"jsonrpc": "2.0", "id": 2, "method": "tools/list"}\n')
            await proc.stdin.drain()
            result = await answer(proc, 2, "the first tools/list", timeout)
            assert result["tools"], result
            listed = time.perf_counter() - begin
        return initialized, listed
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await bounded("a stdio server's exit", proc.wait(), timeout)
        except Hung:
            proc.kill()
            raise


def timed_run(command: list[str], env: dict[str, str], timeout: float) -> float:
    """Seconds a command takes to finish (exit code 0), bounded by `timeout`."""
    start = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return time.perf_counter() - start


async def cold_start(database_url: str, runs: int, timeout: float) -> dict[str, Any]:
    """Stdio cold start of mcs-erp and of a bare SDK server, alternated run by run, and the other start figures."""
    env = dict(os.environ, MCS_ERP_DATABASE_URL=database_url, MCS_ERP_STDIO_USER="admin")
    env.pop("MCS_ERP_REDIS_URL", None)
    entry = Path(sys.executable).parent / "mcs-erp"
    erp = [str(entry), "serve", "--stdio"] if entry.exists() else [sys.executable, "-m", "server.cli", "serve",
                                                                   "--stdio"]
    bare = [sys.executable, "-c", BARE_SERVER]
    # One run of each first, not counted: the operating system's file cache is warm for both after it.
    await stdio_start(bare, env, timeout)
    await stdio_start(erp, env, timeout)
    bare_s, erp_s, list_s = [], [], []
    for _ in range(runs):
        bare_s.append((await stdio_start(bare, env, timeout))[0])
        initialized, listed = await stdio_start(erp, env, timeout, then_list=True)
        erp_s.append(initialized)
        list_s.append(listed)
    help_s = [timed_run([*erp[:-2], "--help"], env, timeout) for _ in range(runs)]
    import_s = [timed_run([sys.executable, "-c", "import server.cli"], env, timeout) for _ in range(runs)]
    return {"bare_init_s": statistics.median(bare_s), "stdio_init_s": statistics.median(erp_s),
            "stdio_init_ratio": statistics.median(erp_s) / statistics.median(bare_s),
            "stdio_first_list_s": statistics.median(list_s), "help_s": statistics.median(help_s),
            "import_cli_s": statistics.median(import_s), "bare_runs_s": bare_s, "stdio_runs_s": erp_s}


# ---------------------------------------------------------------- main


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="stdio cold starts of each server (median)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds any one wait may take")
    parser.add_argument("--database-url", help="an empty database for the demo school (default: temporary SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mcs-erp-catalogue-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"
        runtime = Runtime.create(Settings(database_url=url, key_cache_seconds=0, redis_url=None))
        runtime.jobs = InProcessRunner(runtime)
        try:
            started = time.perf_counter()
            await bounded("building the demo school", build_school(runtime, timeout=args.timeout),
                          args.timeout * 10)
            print(f"demo school built in {time.perf_counter() - started:.1f} s ({url.split('://')[0]})")

            listings = await default_listings(runtime, args.timeout)
            print("\ndefault tools/list per demo user (users with the same roles share a line):")
            for row in listings:
                names = ", ".join(row["users"][:3]) + (f" and {len(row['users']) - 3} more"
                                                       if len(row["users"]) > 3 else "")
                print(f"  {row['roles']:12} {row['tools']:4} tools {row['chars']:8,} chars   {names}")
            all_chars, spaced_chars, largest_tool, largest_chars = whole_catalogue(runtime)
            print(f"\nwhole catalogue: {len(runtime.catalogue.tools)} tools, {all_chars:,} chars as sent "
                  f"({spaced_chars:,} as json.dumps spaces it); largest tool {largest_tool} ({largest_chars:,} chars)")

            people = await find_personas(runtime)
            answers = await bounded("the read tools' default answers",
                                    read_answers(runtime, people, await find_demo(runtime, people["admin"])),
                                    args.timeout * 5)
            top = sorted(answers, key=answers.__getitem__, reverse=True)[:5]
            print(f"\ndefault read answers: {len(answers)} read tools; the largest: "
                  + ", ".join(f"{name} {answers[name]:,}" for name in top))
        finally:
            await runtime.close()

        start = await cold_start(url, args.runs, args.timeout)
    print(f"\nstdio initialize (median of {args.runs}, alternated): mcs-erp {start['stdio_init_s']:.3f} s, "
          f"bare SDK server {start['bare_init_s']:.3f} s, ratio {start['stdio_init_ratio']:.2f}")
    print(f"  first tools/list after initialize {start['stdio_first_list_s']:.3f} s; mcs-erp --help "
          f"{start['help_s']:.3f} s; import server.cli {start['import_cli_s']:.3f} s")

    figures = {
        "max_default_listing_chars": max(row["chars"] for row in listings),
        "all_tools_chars": all_chars,
        "all_tools_chars_spaced": spaced_chars,
        "max_read_answer_chars": max(answers.values()),
        "stdio_init_ratio": round(start["stdio_init_ratio"], 2),
        "max_read_answer_tool": top[0],
        "largest_tool": largest_tool,
        "largest_tool_chars": largest_chars,
        "tools": len(runtime.catalogue.tools),
        "default_listings": {row["roles"]: {"tools": row["tools"], "chars": row["chars"]} for row in listings},
        "stdio_init_s": round(start["stdio_init_s"], 3),
        "bare_init_s": round(start["bare_init_s"], 3),
        "stdio_first_list_s": round(start["stdio_first_list_s"], 3),
        "help_s": round(start["help_s"], 3),
        "import_cli_s": round(start["import_cli_s"], 3),
    }
    missed = [key for key, target in TARGETS.items() if figures[key] > target]
    print(f"\ntargets {'all met' if not missed else 'missed: ' + ', '.join(missed)}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(asyncio.run(main()))
    except Hung as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
