"""Benchmark 16: the batch route at 10,000, 100,000 and 1,000,000 records: request files out, answers in.

Usage: python bench/batch_scale.py [--sizes 10000 100000 1000000] [--keep]

For each size N, on realistic records (``make_realistic``: the real titles and abstracts
of every shared screening set, each title joined to part of another so that no two
records are the same paper and none is merged as a duplicate):

1. ``winnow screen RECORDS -p PROTOCOL -m openai:gpt-4o-mini --batch-file requests.jsonl``:
   read, de-duplicate, render every prompt, and write the OpenAI batch files (split at
   50,000 requests or 200 MB), as a user runs it: wall and CPU seconds, peak RSS.
2. Results files like the provider's output files, one per request file: every request
   answered with a schema-valid screening answer (five criteria with reasons, a rationale,
   usage), decisions varied by the custom id. Made here, not timed.
3. ``winnow screen ... --batch-results results-001.jsonl ...``: ingest every answer into the
   ledger (one row per answer, validated as a synchronous answer is) and write the
   decisions table: wall and CPU seconds, peak RSS.

Beside each command, the same process's reading alone (``read_records`` on the same file,
peak RSS) says how much of the peak is the record reader's, which issue 25's other half
works on. Run it alone: ``flock -x /tmp/winnow-cpu.lock python bench/batch_scale.py``.
Scratch files (about 15 GB at 1,000,000) go to ``$WINNOW_BENCH_TMP`` and are removed
unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib import PROTOCOL, ROOT, run_winnow, scratch, write_results

SHARED = ROOT.parent / "shared" / "data" / "screening"
MODEL = "openai:gpt-4o-mini"
CRITERIA = ("I1", "I2", "I3", "E1", "E2")  # the Dennstädt protocol's
VERDICTS = ("met", "not_met", "unclear")
DECISIONS = ("include", "exclude", "uncertain")


def real_pool() -> list[tuple[str, str]]:
    """(title, abstract) of every shared screening record with both (the repo's gold set where ../shared is absent)."""
    pool: dict[str, tuple[str, str]] = {}
    csv.field_size_limit(1 << 30)
    sources = sorted(SHARED.glob("*/*.csv")) or [ROOT / "gold" / "dennstaedt_2024_cdss_ro" / "records.csv"]
    for path in sources:
        if path.name.startswith("labels_"):
            continue
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                title, abstract = (row.get("title") or "").strip(), (row.get("abstract") or "").strip()
                key = " ".join(title.lower().split())
                if title and len(abstract) > 200 and key not in pool:
                    pool[key] = (title, abstract)  # the sets share some papers: each title once
    return list(pool.values())


def make_realistic(path: Path, n: int) -> dict[str, Any]:
    """N records: a real title joined to the first words of another, a real abstract, a year.

    Record i takes title a = i mod P with the head of title (a + 1 + 131 * (i div P)) mod P,
    so no two records share a title (nor are merged as duplicates), and abstract a.
    """
    pool = real_pool()
    size = len(pool)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "title", "abstract", "year"])
        for i in range(n):
            a, b = i % size, i // size
            title, abstract = pool[a]
            other = " ".join(pool[(a + 1 + 131 * b) % size][0].split()[:7]).rstrip(".:;,")
            writer.writerow([f"r{i:07d}", f"{title.rstrip('.')}: {other}", abstract, 1990 + (i * 7) % 35])
    return {"pool": size, "mb": round(path.stat().st_size / 1e6, 1)}


def answer(custom_id: str) -> dict[str, Any]:
    digest = hashlib.sha256(custom_id.encode()).digest()
    criteria = {
        cid: {"verdict": VERDICTS[digest[i] % 3], "reason": f"The abstract gives no sign that {cid} fails here."}
        for i, cid in enumerate(CRITERIA)
    }
    return {
        "criteria": criteria,
        "rationale": "The record describes a decision-support tool evaluated in radiotherapy planning.",
        "decision": DECISIONS[digest[-1] % 3],
    }


def write_results_files(requests: list[Path], work: Path) -> list[Path]:
    """One output file per request file, as the provider returns them."""
    out = []
    for n, path in enumerate(requests, start=1):
        target = work / f"results-{n:03d}.jsonl"
        with path.open("rb") as source, target.open("w", encoding="utf-8") as sink:
            for raw in source:
                start = raw.index(b'"custom_id":"') + 13
                custom_id = raw[start : raw.index(b'"', start)].decode()
                content = json.dumps(answer(custom_id))
                body = {
                    "id": f"chatcmpl-{custom_id[:24]}",
                    "object": "chat.completion",
                    "created": 1764900000,
                    "model": "gpt-4o-mini-2024-07-18",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(raw) // 4, "completion_tokens": len(content) // 4,
                              "total_tokens": (len(raw) + len(content)) // 4,
                              "prompt_tokens_details": {"cached_tokens": 0}},
                    "system_fingerprint": "fp_bench",
                }  # fmt: skip
                line = {"id": f"batch_req_{custom_id[:16]}", "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": f"req_{custom_id[:16]}", "body": body},
                        "error": None}  # fmt: skip
                sink.write(json.dumps(line) + "\n")
        out.append(target)
    return out


def read_alone(records: Path) -> dict[str, Any]:
    """Reading (and de-duplicating) the records alone in a fresh process: its wall time and peak RSS."""
    code = (
        "import sys, time; from winnow.records import read_records; t = time.perf_counter(); "
        "r = read_records(sys.argv[1]); print(len(r.records), time.perf_counter() - t)"
    )
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, str(records)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    assert proc.stdout is not None
    count, seconds = proc.stdout.read().split()
    return {"records": int(count), "read_s": round(float(seconds), 1), "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip


def one_size(n: int, work: Path) -> dict[str, Any]:
    records = work / "records.csv"
    made = make_realistic(records, n)
    reading = read_alone(records)
    out = work / "decisions.csv"
    base = ["screen", str(records), "-p", str(PROTOCOL), "-m", MODEL, "-o", str(out), "--no-progress"]
    requests = work / "requests.jsonl"
    written = run_winnow([*base, "--batch-file", str(requests)])
    parts = sorted(work.glob("requests*.jsonl"))
    lines = sum(1 for p in parts for _ in p.open("rb"))
    results = write_results_files(parts, work)
    args = [*base]
    for path in results:
        args += ["--batch-results", str(path)]
    ingested = run_winnow(args)
    with sqlite3.connect(work / "decisions.ledger.sqlite") as conn:
        answers = conn.execute("SELECT COUNT(*) FROM calls WHERE ok = 1 AND batch_id IS NOT NULL").fetchone()[0]
    rows = sum(1 for _ in out.open(encoding="utf-8")) - 1 if out.exists() else 0
    figures = {
        "records": n,
        "records_csv_mb": made["mb"],
        "real_pool": made["pool"],
        "read_alone": reading,
        "write_requests": {
            "wall_s": round(written["wall_s"], 1),
            "cpu_s": round(written["cpu_s"], 1),
            "peak_rss_mib": round(written["peak_rss_mib"], 1),
            "files": len(parts),
            "requests": lines,
            "mb": round(sum(p.stat().st_size for p in parts) / 1e6, 1),
        },
        "ingest_and_table": {
            "wall_s": round(ingested["wall_s"], 1),
            "cpu_s": round(ingested["cpu_s"], 1),
            "peak_rss_mib": round(ingested["peak_rss_mib"], 1),
            "answers_in_ledger": answers,
            "table_rows": rows,
            "results_mb": round(sum(p.stat().st_size for p in results) / 1e6, 1),
            "ledger_mb": round((work / "decisions.ledger.sqlite").stat().st_size / 1e6, 1),
            "table_mb": round(out.stat().st_size / 1e6, 1) if out.exists() else 0,
        },
    }
    if lines != reading["records"] or answers != lines or rows != lines:
        raise RuntimeError(f"counts disagree at {n}: {json.dumps(figures)}")
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the scratch files of the last size")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sizes: dict[str, Any] = {}
    for n in args.sizes:
        work = scratch("batch-scale")
        sizes[str(n)] = one_size(n, work)
        print(json.dumps({n: sizes[str(n)]}), flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    first = sizes[str(args.sizes[0])]
    for n in args.sizes:
        entry = sizes[str(n)]
        for phase in ("write_requests", "ingest_and_table"):
            per = entry[phase]["wall_s"] / n * 1e6
            entry[phase]["us_per_record"] = round(per, 1)
            entry[phase]["per_record_vs_smallest"] = round(per / (first[phase]["wall_s"] / args.sizes[0] * 1e6), 2)
    figures = {"model": MODEL, "protocol": str(PROTOCOL.relative_to(ROOT)), "sizes": sizes,
               "targets": {"write_requests": "< 300 s and < 2048 MiB at 1,000,000; linear in N",
                           "ingest_and_table": "< 300 s and < 2048 MiB at 1,000,000"}}  # fmt: skip
    path = write_results("batch_scale", figures, out=args.out)
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main()
