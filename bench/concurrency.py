"""Benchmark 2: does winnow keep C calls in flight, and hold an RPM limit without 429s?

Usage: python bench/concurrency.py [--latency-ms 300] [--levels 1,4,16,64] [--rounds 10]
                                   [--rpm 900] [--rpm-records 300] [--out FILE]

For each concurrency C, ``winnow screen -j C`` runs C x ROUNDS records against the
benchmark server answering after L ms. Throughput is read from the server's own
clock and given as a ratio of the ideal, ceil(N/C) x L, over the steady state:
from the end of the first call, which winnow sends alone, to the last answer.
Then a run with ``--rpm R`` against a server enforcing the same R: the achieved
request rate, and how many 429s the server sent.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from benchlib import fake_server, make_records, run_winnow, scratch, server_stats, write_results
from overhead import screen_args


def throughput(work: Path, concurrency: int, latency_ms: float, rounds: int) -> dict[str, Any]:
    n = concurrency * rounds
    records = make_records(work / f"c{concurrency}.csv", n)
    with fake_server(latency_ms=latency_ms) as base_url:
        cli = run_winnow(screen_args(records, work / f"c{concurrency}.out.csv", base_url, concurrency))
        stats = server_stats(base_url)
    # The first call goes alone (see CallEngine._run_pending); the steady state starts when it ends.
    first_end = min(stats["ends"])
    steady = [end for end in stats["ends"] if end > first_end]
    span = max(steady) - first_end
    ideal = math.ceil(len(steady) / concurrency) * latency_ms / 1000
    return {
        "concurrency": concurrency,
        "records": n,
        "calls": stats["ok"],
        "first_call_s": round(first_end - min(stats["starts"]), 3),
        "span_s": round(span, 3),
        "ideal_s": round(ideal, 3),
        "calls_per_s": round(len(steady) / span, 2),
        "ideal_calls_per_s": round(concurrency / (latency_ms / 1000), 2),
        "ratio_to_ideal": round(ideal / span, 3),
        "cli_wall_s": round(cli["wall_s"], 2),
        "cli_cpu_s": round(cli["cpu_s"], 2),
    }


def rate_limited(work: Path, rpm: float, n: int, latency_ms: float, concurrency: int) -> dict[str, Any]:
    records = make_records(work / "rpm.csv", n)
    with fake_server(latency_ms=latency_ms, rpm=rpm) as base_url:
        args = [*screen_args(records, work / "rpm.out.csv", base_url, concurrency), "--rpm", str(rpm)]
        run_winnow(args)
        stats = server_stats(base_url)
    starts = sorted(stats["starts"])
    achieved = (len(starts) - 1) / (starts[-1] - starts[0]) * 60 if len(starts) > 1 else float("nan")
    return {
        "rpm_limit": rpm,
        "records": n,
        "concurrency": concurrency,
        "latency_ms": latency_ms,
        "achieved_rpm": round(achieved, 1),
        "achieved_over_limit": round(achieved / rpm, 4),
        "server_429s": stats["refused_429"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--rounds", type=int, default=10, help="records per level = C x ROUNDS")
    parser.add_argument("--rpm", type=float, default=900.0)
    parser.add_argument("--rpm-records", type=int, default=300)
    parser.add_argument("--rpm-latency-ms", type=float, default=50.0)
    parser.add_argument("--rpm-concurrency", type=int, default=16)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("concurrency")
    levels = [throughput(work, int(c), args.latency_ms, args.rounds) for c in args.levels.split(",")]
    limited = rate_limited(work, args.rpm, args.rpm_records, args.rpm_latency_ms, args.rpm_concurrency)
    figures = {
        "latency_ms": args.latency_ms,
        "levels": levels,
        "target_ratio": 0.9,
        "rate_limit": limited,
        "target_rate_within": 0.05,
    }
    path = write_results("concurrency", figures, out=args.out)
    for level in levels:
        print(
            f"C={level['concurrency']:3d}: {level['calls_per_s']:7.2f} calls/s of ideal "
            f"{level['ideal_calls_per_s']:7.2f} -> ratio {level['ratio_to_ideal']:.3f}"
        )
    print(
        f"--rpm {limited['rpm_limit']:g}: achieved {limited['achieved_rpm']} rpm "
        f"({limited['achieved_over_limit']:.3f} of the limit), {limited['server_429s']} x 429 from the server"
    )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
