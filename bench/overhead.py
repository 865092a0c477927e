"""Benchmark 1: winnow's own time per record against a server that answers at once.

Usage: python bench/overhead.py [--records 10000] [--profile-records 2000] [--out FILE]

Three passes over the same synthetic records, each on a fresh ledger:
1. ``winnow screen`` as a user runs it (a separate process, -j 1): wall and CPU
   per record for the whole path (read, prompt, call, parse, ledger write, table out);
2. the library call behind that command in this process, timing each record's
   result as it arrives: the median and p99 per record;
3. the same under a profiler (yappi when installed, for all threads), to split the
   time into stages. The server runs in its own process, so its CPU is not counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import PROTOCOL, fake_server, make_records, percentile, run_winnow, scratch, write_results

# Functions whose inclusive time makes up each stage, as (module file suffix, function name).
STAGES: dict[str, tuple[tuple[str, str], ...]] = {
    "read records": (("winnow/records/__init__.py", "read_records"),),
    "render prompts + cache keys": (("screening/screen.py", "build_tasks"),),
    "model call (openai SDK + HTTP)": (("winnow/backends/openai_compat.py", "complete"),),
    "validate + decision row": (
        ("winnow/answers.py", "__call__"),
        ("screening/screen.py", "decision_row"),
    ),
    "ledger writes/reads": (
        ("winnow/engine.py", "_store"),
        ("winnow/ledger/__init__.py", "call"),
        ("winnow/ledger/__init__.py", "answers"),
    ),
    "table out": (("screening/decisions.py", "write_decisions"),),
}


def screen_args(records: Path, out: Path, base_url: str, concurrency: int = 1) -> list[str]:
    return [
        "screen",
        str(records),
        "-p",
        str(PROTOCOL),
        "-m",
        "openai:bench",
        "--base-url",
        base_url,
        "-o",
        str(out),
        "-j",
        str(concurrency),
        "--no-progress",
    ]


class _Clock:
    """A progress display that only notes when each record's result arrived."""

    def __init__(self) -> None:
        self.stamps: list[float] = []

    def __enter__(self) -> _Clock:
        self.stamps.append(time.perf_counter())
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def advance(self, outcome: str, **_: Any) -> None:
        self.stamps.append(time.perf_counter())


def library_run(records: Path, out: Path, base_url: str) -> list[float]:
    """Per-record intervals (ms) from the library call behind ``winnow screen``."""
    from winnow.engine import EngineConfig
    from winnow.lifecycle import ModelChoice, RunSpec, execute
    from winnow.screening.run import RecordSelection, title_abstract_stage

    clock = _Clock()
    spec = RunSpec(
        input_path=records,
        protocol_path=PROTOCOL,
        template="screen_title_abstract",
        model=ModelChoice(model_id="openai:bench", base_url=base_url),
        out=out,
        engine=EngineConfig(concurrency=1),
        argv=("bench",),
    )
    stage = title_abstract_stage(spec, RecordSelection())
    execute(spec, stage, progress=lambda total, description: clock)
    return [(b - a) * 1000 for a, b in zip(clock.stamps[1:], clock.stamps[2:], strict=False)]


def profile_run(records: Path, out: Path, base_url: str) -> dict[str, Any]:
    """Stage shares of CPU time across all threads (yappi), or of the main thread (cProfile)."""
    from winnow.engine import EngineConfig
    from winnow.lifecycle import ModelChoice, RunSpec, execute
    from winnow.screening.run import RecordSelection, title_abstract_stage

    spec = RunSpec(
        input_path=records,
        protocol_path=PROTOCOL,
        template="screen_title_abstract",
        model=ModelChoice(model_id="openai:bench", base_url=base_url),
        out=out,
        engine=EngineConfig(concurrency=1),
        argv=("bench",),
    )
    stage = title_abstract_stage(spec, RecordSelection())
    try:
        import yappi
    except ImportError:
        return {"profiler": None, "note": "pip install yappi for stage shares across worker threads"}
    yappi.set_clock_type("cpu")
    yappi.clear_stats()
    yappi.start()
    execute(spec, stage)
    yappi.stop()
    stats = yappi.get_func_stats()

    def inclusive(suffix: str, name: str) -> float:
        return sum(s.ttot for s in stats if s.module.endswith(suffix) and s.name.split(".")[-1] == name)

    # Worker threads' time is not inside execute's own stack: add the engine's workers.
    total = inclusive("winnow/lifecycle.py", "execute") + inclusive("winnow/engine.py", "_execute")
    shares: dict[str, float] = {}
    for stage, funcs in STAGES.items():
        shares[stage] = sum(inclusive(suffix, name) for suffix, name in funcs)
    shares["other (engine, threads, retries, progress)"] = max(0.0, total - sum(shares.values()))
    yappi.clear_stats()
    return {
        "profiler": "yappi (CPU clock; the profiler inflates absolute times, shares are what to read)",
        "shares_pct": {k: round(100 * v / total, 1) for k, v in shares.items()} if total else {},
    }


def http_client_costs(base_url: str, calls: int) -> dict[str, float]:
    """CPU ms per call of the same screening request through three HTTP clients, side by side.

    The openai SDK (as winnow calls it), httpx alone (the SDK's transport) and the
    standard library's http.client, against the same server, so the share of the
    per-record time that belongs to the HTTP client can be read off directly.
    """
    import http.client
    import json
    import urllib.parse

    import httpx
    import openai
    from openai.types.chat import ChatCompletion

    from winnow.screening.schema import screening_spec

    body = {
        "model": "bench",
        "messages": [{"role": "system", "content": "s" * 1800}, {"role": "user", "content": "u" * 2200}],
        "temperature": 0.0,
        "max_tokens": 768,
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "screening_answer",
                "schema": screening_spec(("I1", "I2", "E1")).schema,
                "strict": True,
            },
        },
    }
    sdk = openai.OpenAI(api_key="bench", base_url=base_url, max_retries=0)
    plain = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer bench"})
    url = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port)

    def stdlib() -> Any:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}
        conn.request("POST", f"{url.path}/chat/completions", body=data, headers=headers)
        return json.loads(conn.getresponse().read())

    clients = {
        "openai SDK (winnow's call)": lambda: sdk.post("/chat/completions", body=body, cast_to=ChatCompletion),
        "httpx alone": lambda: plain.post("/chat/completions", json=body).json(),
        "http.client (stdlib)": stdlib,
    }
    costs: dict[str, float] = {}
    for name, call in clients.items():
        call()
        started = time.process_time()
        for _ in range(calls):
            call()
        costs[name] = round((time.process_time() - started) * 1000 / calls, 3)
    return costs


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--profile-records", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=None, help="results JSON (default bench/results/overhead.json)")
    args = parser.parse_args(argv)
    work = scratch("overhead")
    records = make_records(work / "records.csv", args.records)
    profiled = make_records(work / "profiled.csv", min(args.records, args.profile_records))
    with fake_server() as base_url:
        cli = run_winnow(screen_args(records, work / "cli.csv", base_url))
        intervals = library_run(records, work / "lib.csv", base_url)
        profile = profile_run(profiled, work / "prof.csv", base_url)
        clients = http_client_costs(base_url, min(500, args.records))
    n = args.records
    figures = {
        "records": n,
        "cli_wall_ms_per_record": round(cli["wall_s"] * 1000 / n, 3),
        "cli_cpu_ms_per_record": round(cli["cpu_s"] * 1000 / n, 3),
        "cli_wall_s": round(cli["wall_s"], 2),
        "cli_peak_rss_mib": round(cli["peak_rss_mib"], 1),
        "per_record_median_ms": round(statistics.median(intervals), 3),
        "per_record_p99_ms": round(percentile(intervals, 99), 3),
        "target_median_ms": 2.0,
        "profile": profile,
        "http_client_cpu_ms_per_call": clients,
    }
    path = write_results("overhead", figures, out=args.out)
    print(f"{n} records: median {figures['per_record_median_ms']} ms, p99 {figures['per_record_p99_ms']} ms per record")
    print(f"CLI: {figures['cli_wall_ms_per_record']} ms wall, {figures['cli_cpu_ms_per_record']} ms CPU per record")
    for client, ms in clients.items():
        print(f"  HTTP client {client:32s} {ms:6.3f} ms CPU per call")
    for stage, pct in profile.get("shares_pct", {}).items():
        print(f"  {stage:45s} {pct:5.1f} %")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
