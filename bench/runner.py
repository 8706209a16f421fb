"""``make bench`` / ``python -m bench``: every scenario against its baseline, in one run.

Starts a durable PostgreSQL (fsync on) and, for the relay, a Tansu broker; runs the
scenarios one after another (the machine is small: nothing runs in parallel with them),
prints the table of medians, minima and maxima and the targets, and writes the same to
``bench/results/<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import api_load, appends, erasure, lag, long_streams, reads, relay, replay
from bench.common import FULL, QUICK, Mode, Results
from bench.targets import evaluate
from tests.harness import PostgresServer, start_postgres

CHECKOUT = Path(__file__).resolve().parent.parent
Scenario = Callable[[PostgresServer, Mode, Results], None]
SCENARIOS: dict[str, Scenario] = {
    "appends": appends.run,
    "http": api_load.run,
    "reads": reads.run,
    "erasure": erasure.run,
    "lag": lag.run,
    "replay": replay.run,
    "relay": relay.run,
    "long_streams": long_streams.run,
}


def machine(server: PostgresServer) -> dict[str, Any]:
    def output(*cmd: str) -> str:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=CHECKOUT)
        return done.stdout.strip()

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(int(memory) / 1024 / 1024, 1),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "postgres": output(str(server.bindir / "postgres"), "--version"),
        "postgres_settings": "fsync=on, synchronous_commit=on, full_page_writes=on (defaults)",
        "commit": output("git", "rev-parse", "--short", "HEAD"),
        "dirty": bool(output("git", "status", "--porcelain")),
    }


def table(results: Results) -> str:
    lines = [
        "| scenario | case | subject | median | min | max | unit | notes |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for m in results.measurements:
        notes = ", ".join(f"{k} {v:,.0f}" for k, v in m.extra.items())
        lines.append(
            f"| {m.scenario} | {m.case} | {m.subject} | {_num(m.median)} | {_num(min(m.samples))}"
            f" | {_num(max(m.samples))} | {m.unit} | {notes} |"
        )
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for t in results.targets:
        lines.append(f"| {t.name} | {t.goal} | {t.measured} | {_verdict(t.met)} |")
    return "\n".join(lines)


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else "yes" if met else "**no**"


def _num(value: float) -> str:
    return (
        f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if value >= 1 else f"{value:.2f}"
    )


def run(mode: Mode, only: Sequence[str], out_dir: Path) -> int:
    results = Results()
    failed: list[str] = []
    began, started_at = time.monotonic(), datetime.now(UTC)
    server = start_postgres(durable=True)
    try:
        info = machine(server)
        print(f"bench ({mode.name} mode) on {info['cores']} x {info['cpu']}", flush=True)
        for name in only:
            print(f"— {name}", flush=True)
            started = time.monotonic()
            try:
                SCENARIOS[name](server, mode, results)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                results.notes.append(f"{name}: failed, see the run's output")
            results.notes.append(f"{name}: {time.monotonic() - started:.0f}s")
    finally:
        server.stop()
    evaluate(results)
    report = table(results)
    print("\n" + report)
    for note in results.notes:
        print(f"- {note}")
    document = {
        "mode": mode.name,
        "sizes": mode.__dict__,
        "started_at": started_at.isoformat(),
        "seconds": round(time.monotonic() - began),
        "machine": info,
        "measurements": [m.as_dict() for m in results.measurements],
        "targets": [t.__dict__ for t in results.targets],
        "notes": results.notes,
        "failed": failed,
        "table_markdown": report,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    print(f"\nwritten to {path} in {document['seconds']}s")
    return 1 if failed else 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes, about 4 minutes")
    p.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios (default: all of {', '.join(SCENARIOS)})",
    )
    p.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in SCENARIOS]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    return run(QUICK if args.quick else FULL, only, args.out)


if __name__ == "__main__":
    sys.exit(main())
