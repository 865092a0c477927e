"""Benchmark 19b: the batch route at 10,000, 100,000 and 1,000,000 records: request files out, answers in.

Usage: python bench/batch_scale.py [--sizes 10000 100000 1000000] [--route-also] [--read-alone] [--keep]
       python bench/batch_scale.py --ingest-again SCRATCH  (the ingest alone again on what --keep left)

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

The command is measured as a user runs it at every size: reading streams (a
``RecordStore``), so it holds no record list at a million. Two optional extras:

- ``--route-also``: the same ``execute(spec, stage)`` through a stage that reads the CSV one
  record at a time (``StreamedStage``: the lifecycle's ``Stage`` seam, no de-duplication; the
  records are unique by construction): the batch route without the reader, for comparison.
- ``--read-alone``: reading and de-duplicating alone in a fresh process (benchmark 19a
  measures this at every size too).

Run it alone, with no other job on the machine (a job beside it inflated figures 2 to 3 times).
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

TARGET_WALL_S = 300.0
TARGET_PEAK_MIB = 2048.0
TARGET_GROWTH = 1.5  # time per record at the largest size over the smallest: linear in N within this
WRITTEN_LEDGER = "ledger.after-write.sqlite"  # the ledger after --batch-file, kept for --ingest-again
STREAMED_WINDOW = 4096  # records kept for building rows; the route needs two windows of 512

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
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"reading {records} failed")
    count, seconds = proc.stdout.read().split()
    return {"records": int(count), "read_s": round(float(seconds), 1), "wall_s": round(time.perf_counter() - start, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}  # fmt: skip


def streamed_stage(records: Path, count: int) -> Any:
    """A title/abstract stage over records read one by one from the CSV, for the route alone at a million."""
    from collections import OrderedDict

    from winnow.lifecycle import Sampling, Unit
    from winnow.protocol import load_protocol
    from winnow.records.assemble import RawRecord, assemble_record
    from winnow.screening.screen import TitleAbstractStage, decision_row, iter_tasks
    from winnow.templates import load_template

    class StreamedStage(TitleAbstractStage):
        def __init__(self) -> None:
            super().__init__([], load_protocol(PROTOCOL), load_template("screen_title_abstract"), Sampling())
            self._recent: OrderedDict[str, Any] = OrderedDict()

        def _records(self) -> Any:
            with records.open(newline="", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                header = next(reader)
                for ordinal, row in enumerate(reader, start=1):
                    raw = RawRecord(fields={name: [value] for name, value in zip(header, row, strict=True)},
                                    ordinal=ordinal, line=ordinal + 1)  # fmt: skip
                    record = assemble_record(str(records), raw)
                    self._recent[record.record_id] = record
                    if len(self._recent) > STREAMED_WINDOW:
                        self._recent.popitem(last=False)
                    yield record

        def iter_units(self, model: Any) -> Any:
            for task in iter_tasks(self._records(), self.protocol, self.template, model, self.sampling):
                yield Unit(task.record_id, [task])

        def unit_count(self) -> int:
            return count

        def row(self, unit: Any, results: Any) -> dict[str, Any]:
            (result,) = results
            record = self._recent[unit.record_id]
            return decision_row(record, self.protocol, self.template, result.row, result.error)

    return StreamedStage()


def child(phase: str, records: Path, work: Path, count: int) -> None:
    """One phase of the route alone, in this process (the parent measures it)."""
    from winnow.batch import BatchOptions
    from winnow.lifecycle import ModelChoice, RunSpec, execute

    if phase == "write":
        options = BatchOptions(requests_file=work / "requests.jsonl")
    else:
        options = BatchOptions(results_files=tuple(sorted(work.glob("results-*.jsonl"))))
    spec = RunSpec(input_path=records, protocol_path=PROTOCOL, template="screen_title_abstract",
                   model=ModelChoice(model_id=MODEL, require_key=False), out=work / "decisions.csv",
                   batch=options, argv=("bench",))  # fmt: skip
    summary = execute(spec, streamed_stage(records, count))
    print(json.dumps({"counts": summary.counts, "batch": summary.batch}))


def _phase_figures(run: dict[str, Any]) -> dict[str, float]:
    return {"wall_s": round(run["wall_s"], 1), "cpu_s": round(run["cpu_s"], 1),
            "peak_rss_mib": round(run["peak_rss_mib"], 1)}  # fmt: skip


def run_phase(args: list[str] | None, phase: str, records: Path, work: Path, count: int) -> dict[str, Any]:
    """The command (``args``) or the route alone (``args`` None), measured in its own process."""
    if args is not None:
        return run_winnow(args)
    command = [sys.executable, __file__, "--child", phase, str(records), str(work), str(count)]
    with (work / f"{phase}.err").open("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": ""})  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{phase} failed: {err.read()[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mib": usage.ru_maxrss / 1024}


def one_way(n: int, work: Path, records: Path, *, command: bool) -> dict[str, Any]:
    """Write the request files, answer them, ingest the answers: by the command, or by the route alone."""
    for old in [*work.glob("requests*.jsonl"), *work.glob("results-*.jsonl"), *work.glob("decisions*")]:
        old.unlink()
    out = work / "decisions.csv"
    base = ["screen", str(records), "-p", str(PROTOCOL), "-m", MODEL, "-o", str(out), "--no-progress"]
    written = run_phase([*base, "--batch-file", str(work / "requests.jsonl")] if command else None,
                        "write", records, work, n)  # fmt: skip
    parts = sorted(work.glob("requests*.jsonl"))
    lines = sum(1 for p in parts for _ in p.open("rb"))
    results = write_results_files(parts, work)
    if command:  # what --ingest-again starts from
        shutil.copyfile(work / "decisions.ledger.sqlite", work / WRITTEN_LEDGER)
    args = [*base]
    for path in results:
        args += ["--batch-results", str(path)]
    ingested = run_phase(args if command else None, "ingest", records, work, n)
    with sqlite3.connect(work / "decisions.ledger.sqlite") as conn:
        answers = conn.execute("SELECT COUNT(*) FROM calls WHERE ok = 1 AND batch_id IS NOT NULL").fetchone()[0]
    rows = sum(1 for _ in out.open(encoding="utf-8")) - 1 if out.exists() else 0
    figures = {
        "write_requests": {**_phase_figures(written), "files": len(parts), "requests": lines,
                           "mb": round(sum(p.stat().st_size for p in parts) / 1e6, 1)},
        "ingest_and_table": {**_phase_figures(ingested), "answers_in_ledger": answers, "table_rows": rows,
                             "results_mb": round(sum(p.stat().st_size for p in results) / 1e6, 1),
                             "ledger_mb": round((work / "decisions.ledger.sqlite").stat().st_size / 1e6, 1),
                             "table_mb": round(out.stat().st_size / 1e6, 1) if out.exists() else 0},
    }  # fmt: skip
    if not lines == answers == rows:
        raise RuntimeError(f"counts disagree at {n}: {json.dumps(figures)}")
    return figures


def ingest_again(work: Path) -> dict[str, Any]:
    """The ingest alone again on the files ``--keep`` left: the ledger as the write phase left it, the same command.

    Run from each checkout, it times the ingest before and after a change without
    rebuilding the 15 GB of a million records' requests and results.
    """
    records, out = work / "records.csv", work / "decisions.csv"
    n = sum(1 for part in work.glob("requests*.jsonl") for _ in part.open("rb"))  # one request a record
    out.unlink(missing_ok=True)
    for old in work.glob("decisions.ledger.sqlite*"):
        old.unlink()
    shutil.copyfile(work / WRITTEN_LEDGER, work / "decisions.ledger.sqlite")
    results = sorted(work.glob("results-*.jsonl"))
    args = ["screen", str(records), "-p", str(PROTOCOL), "-m", MODEL, "-o", str(out), "--no-progress"]
    for path in results:
        args += ["--batch-results", str(path)]
    ingested = run_winnow(args)
    with sqlite3.connect(work / "decisions.ledger.sqlite") as conn:
        answers = conn.execute("SELECT COUNT(*) FROM calls WHERE ok = 1 AND batch_id IS NOT NULL").fetchone()[0]
    rows = sum(1 for _ in out.open(encoding="utf-8")) - 1
    if not n == answers == rows:
        raise RuntimeError(f"counts disagree: {n} records, {answers} answers, {rows} rows")
    return {"records": n, "ingest_and_table": {**_phase_figures(ingested), "answers_in_ledger": answers,
            "table_rows": rows, "us_per_record": round(ingested["wall_s"] / n * 1e6, 1),
            "cpu_us_per_record": round(ingested["cpu_s"] / n * 1e6, 1)}}  # fmt: skip


def one_size(n: int, work: Path, *, route: bool, reading: bool) -> dict[str, Any]:
    records = work / "records.csv"
    made = make_realistic(records, n)
    figures: dict[str, Any] = {"records": n, "records_csv_mb": made["mb"], "real_pool": made["pool"]}
    figures["command"] = one_way(n, work, records, command=True)
    if route:
        figures["route"] = one_way(n, work, records, command=False)
    if reading:
        figures["read_alone"] = read_alone(records)
    for way in ("route", "command"):
        for phase in figures.get(way, {}).values():
            if phase["requests" if "requests" in phase else "table_rows"] != n:
                raise RuntimeError(f"{way} at {n} did not cover every record: {json.dumps(figures)}")
    return figures


def met(sizes: dict[str, Any], order: list[int]) -> dict[str, bool]:
    """Each phase of the command at the largest size against the targets; linear: per-record time grows < 1.5x."""
    largest = sizes[str(order[-1])]["command"]
    return {
        phase: entry["wall_s"] < TARGET_WALL_S
        and entry["peak_rss_mib"] < TARGET_PEAK_MIB
        and entry["per_record_vs_smallest"] < TARGET_GROWTH
        for phase, entry in largest.items()
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--route-also", action="store_true", help="also the route alone, through a streamed stage")
    parser.add_argument("--read-alone", action="store_true", help="also reading alone in a fresh process")
    parser.add_argument("--keep", action="store_true", help="keep the scratch files of the last size")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--ingest-again", type=Path, metavar="DIR",
                        help="time only the ingest again, on the scratch folder --keep left")  # fmt: skip
    parser.add_argument("--child", nargs=4, metavar=("PHASE", "RECORDS", "WORK", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        phase, records, work, n = args.child
        child(phase, Path(records), Path(work), int(n))
        return {}
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if args.ingest_again:
        again = ingest_again(args.ingest_again)
        print(f"wrote {write_results('batch_scale_ingest', again, out=args.out)}")
        return again
    sizes: dict[str, Any] = {}
    for n in args.sizes:
        work = scratch("batch-scale")
        sizes[str(n)] = one_size(n, work, route=args.route_also, reading=args.read_alone)
        print(json.dumps({n: sizes[str(n)]}), flush=True)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    smallest = args.sizes[0]
    for way in ("route", "command"):
        for n in args.sizes:
            for phase, entry in sizes[str(n)].get(way, {}).items():  # "route" only with --route-also
                base = sizes[str(smallest)][way][phase]["wall_s"] / smallest
                entry["us_per_record"] = round(entry["wall_s"] / n * 1e6, 1)
                entry["per_record_vs_smallest"] = round(entry["wall_s"] / n / base, 2)
    figures = {"model": MODEL, "protocol": str(PROTOCOL.relative_to(ROOT)), "sizes": sizes,
               "targets": {"write_requests": "< 300 s and < 2048 MiB at 1,000,000; linear in N",
                           "ingest_and_table": "< 300 s and < 2048 MiB at 1,000,000",
                           "wall_s": TARGET_WALL_S, "peak_rss_mib": TARGET_PEAK_MIB,
                           "per_record_growth": TARGET_GROWTH},
               "met": met(sizes, args.sizes)}  # fmt: skip
    path = write_results("batch_scale", figures, out=args.out)
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main()
