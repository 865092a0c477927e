"""Benchmark 19d: the synchronous path at ``--concurrency 256`` under a 500 calls/s limit.

Usage: python bench/sync_rate.py [--records 5000] [--concurrency 256] [--rate 500] [--out FILE]

``winnow screen -j 256 --rpm 30000`` (500 calls/s) runs against the benchmark
server answering at once, in its own process. The ideal rate is the limit itself:
with answers arriving at once, 256 calls in flight would go faster than 500/s, so
only the limiter should hold winnow back. The achieved rate is read from the
server's clock over the steady state (from the end of the first call, which winnow
sends alone, to the last answer); the figure is the ideal span over the measured
one (target 0.9): at the limit, the k-th call after the first starts k/500 s after
the first answer and ends a latency later (``--latency-ms`` holds every answer, so
many calls are in flight at once; 0 by default).
The server answers through asyncio with no per-request thread (``--fast``), so
that on two cores its own CPU does not cap the figure; the client's CPU per call
is reported beside it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from benchlib import fake_server, make_records, run_winnow, scratch, server_stats, write_results
from overhead import screen_args

TARGET_RATIO = 0.9


def measure(
    work: Path, records: int, concurrency: int, rate: float, *, fast: bool = True, latency_ms: float = 0.0
) -> dict[str, Any]:
    source = make_records(work / "records.csv", records)
    with fake_server(fast=fast, latency_ms=latency_ms) as base_url:
        args = [*screen_args(source, work / "out.csv", base_url, concurrency), "--rpm", str(rate * 60)]
        cli = run_winnow(args)
        stats = server_stats(base_url)
    ends = sorted(stats["ends"])
    first_end = ends[0]
    steady = [end for end in ends if end > first_end]
    span = steady[-1] - first_end
    # At the limit, the k-th call after the first starts k/rate after the first answer and ends a latency later.
    ideal = (len(steady) - 1) / rate + latency_ms / 1000
    achieved = len(steady) / span
    return {
        "server": "asyncio (--fast)" if fast else "threads (http.server)",
        "records": records,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "limit_calls_per_s": rate,
        "calls": stats["ok"],
        "server_429s": stats["refused_429"],
        "steady_span_s": round(span, 3),
        "ideal_span_s": round(ideal, 3),
        "achieved_calls_per_s": round(achieved, 1),
        "ratio_to_ideal": round(ideal / span, 3),
        "cli_wall_s": round(cli["wall_s"], 2),
        "cli_cpu_s": round(cli["cpu_s"], 2),
        "client_cpu_ms_per_call": round(cli["cpu_s"] * 1000 / records, 3),
        "peak_rss_mib": round(cli["peak_rss_mib"], 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--rate", type=float, default=500.0, help="the limit in calls per second")
    parser.add_argument("--threaded-server", action="store_true", help="serve with http.server's threads instead")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="also hold each answer this long (many calls in flight)"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("sync-rate")
    figures = measure(
        work, args.records, args.concurrency, args.rate, fast=not args.threaded_server, latency_ms=args.latency_ms
    )
    figures["target_ratio"] = TARGET_RATIO
    figures["met"] = figures["ratio_to_ideal"] >= TARGET_RATIO
    path = write_results("sync_rate", figures, out=args.out)
    print(
        f"-j {args.concurrency} under {args.rate:g} calls/s: {figures['achieved_calls_per_s']} calls/s "
        f"({figures['ratio_to_ideal']:.3f} of the limit; target {TARGET_RATIO}), "
        f"{figures['client_cpu_ms_per_call']} ms client CPU per call, {figures['server_429s']} x 429"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
