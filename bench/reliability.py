"""Re-runnable reliability figures for winnow; writes docs/reliability.md.

Runs the same machinery as the CI tests, with more cases:

* the fault matrix: ``winnow screen`` through ``tests/faultproxy.py`` at a 30% fault
  rate, in front of the instant server (200 records per seed) and in front of the
  real ``llama_cpp.server`` with the embedded SmolLM2 (200 records by default; ~10-15 s a call);
* SIGKILL at seeded points, then the same command again, compared with an
  uninterrupted run;
* the reader fuzzers of ``tests/test_fuzz_readers.py`` at a larger example count.

Usage (from the repo root)::

    python bench/reliability.py                 # everything; the 200 llama_cpp.server records take ~1.5 h on 2 cores
    python bench/reliability.py --no-model      # skip the llama_cpp.server run
    python bench/reliability.py --model-records 10 --fuzz-scale 5 --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO)]

from fault_run import (  # noqa: E402
    FaultFigures,
    extract_command,
    kill_after,
    ledger_state,
    measure,
    run_winnow,
    screen_command,
    screen_through_proxy,
    write_extract_inputs,
)
from faultproxy import FAULTS, FaultProxy  # noqa: E402
from instant_server import InstantServer  # noqa: E402

from support import DENNSTAEDT, PROVENANCE, LlamaServer  # noqa: E402

RECORDS = DENNSTAEDT / "records.csv"
MODEL_FIGURES = REPO / "bench" / "results" / "reliability_llama.json"
PROTOCOL = DENNSTAEDT / "protocol.yaml"


def fault_matrix_instant(seeds: list[int], records: int) -> list[FaultFigures]:
    results = []
    with InstantServer() as upstream:
        for seed in seeds:
            with (
                tempfile.TemporaryDirectory(prefix="winnow-rel-") as tmp,
                FaultProxy(f"http://127.0.0.1:{upstream.port}", rate=0.3, seed=seed, stall_s=3.0) as proxy,
            ):
                done, figures = screen_through_proxy(
                    proxy,
                    RECORDS,
                    PROTOCOL,
                    Path(tmp),
                    "-j",
                    "32",
                    "--timeout",
                    "2",
                    "--max-attempts",
                    "8",
                    limit=records,
                )
                if done.returncode != 0:
                    raise SystemExit(done.stderr)
                results.append(figures)
                print(f"instant seed {seed}: {json.dumps(figures.as_dict())}", file=sys.stderr)
    return results


def fault_matrix_llama(records: int, seed: int, timeout_s: float) -> FaultFigures:
    from winnow.backends.local import bundled_gguf

    server = LlamaServer(bundled_gguf())
    try:
        server.wait_ready()
        with (
            tempfile.TemporaryDirectory(prefix="winnow-rel-") as tmp,
            FaultProxy(f"http://127.0.0.1:{server.port}", rate=0.3, seed=seed, stall_s=timeout_s + 5) as proxy,
        ):
            out = Path(tmp) / "decisions.csv"
            args = screen_command(
                RECORDS,
                PROTOCOL,
                proxy.base_url,
                out,
                "--limit",
                str(records),
                "-j",
                "1",
                "--timeout",
                str(timeout_s),
                "--max-attempts",
                "8",
                "--max-tokens",
                "400",
            )
            started = time.perf_counter()
            done = run_winnow(args, timeout=7200)
            if done.returncode != 0:
                raise SystemExit(done.stderr)
            figures = measure(RECORDS, records, out, Path(tmp) / "decisions.ledger.sqlite", proxy, done.stderr)
            figures.seconds = round(time.perf_counter() - started, 1)
    finally:
        server.stop()
    print(f"llama: {json.dumps(figures.as_dict())}", file=sys.stderr)
    return figures


def _kill_seeds(
    server: InstantServer,
    command: Callable[[Path], list[str]],
    ledger_name: str,
    table: Callable[[Path], Any],
    root: Path,
    seeds: range,
) -> dict[str, Any]:
    """Per seed: SIGKILL after a seeded number of answers (the first seed: after the last), re-run,
    compare the table with an uninterrupted run's."""
    base = root / "baseline"
    before = server.requests
    assert run_winnow(command(base)).returncode == 0
    calls = server.requests - before
    baseline = table(base)
    figures: dict[str, Any] = dict.fromkeys(
        ("kills", "killed_mid_run", "lost", "duplicates", "differing_rows", "re_asked", "integrity_failures"), 0
    )
    for seed in seeds:
        rng = random.Random(seed)
        workdir = root / f"seed{seed}"
        answers = calls if seed == seeds[0] else rng.randint(1, calls - 1)
        code = kill_after(server, command(workdir), answers, rng.uniform(0, 0.03))
        figures["kills"] += 1
        figures["killed_mid_run"] += int(code == -signal.SIGKILL)
        _, at_kill, _ = ledger_state(workdir / ledger_name)
        before = server.requests
        assert run_winnow(command(workdir)).returncode == 0
        figures["re_asked"] += (server.requests - before) - (calls - at_kill)
        integrity, _, doubled = ledger_state(workdir / ledger_name)
        figures["integrity_failures"] += int(integrity != "ok")
        figures["duplicates"] += doubled
        resumed = table(workdir)
        figures["lost"] += len(set(baseline["record_id"]) - set(resumed["record_id"]))
        figures["duplicates"] += int(len(resumed) - resumed["record_id"].nunique())
        if len(resumed) == len(baseline):
            differing = (resumed.reset_index(drop=True) != baseline.reset_index(drop=True)).any(axis=1)
            figures["differing_rows"] += int(differing.sum())
        else:
            figures["differing_rows"] += abs(len(resumed) - len(baseline))
    figures["calls_per_run"] = calls
    return figures


def crash_runs(n_seeds: int, records: int = 40) -> dict[str, Any]:
    """``winnow screen`` on 40 records, killed and resumed."""
    from winnow.screening.decisions import read_decisions

    with InstantServer(delay_s=0.03) as server, tempfile.TemporaryDirectory(prefix="winnow-crash-") as tmp:
        figures = _kill_seeds(
            server,
            lambda w: screen_command(RECORDS, PROTOCOL, server.base_url, w / "decisions.csv", "--limit", str(records),
                                     "-j", "2"),
            "decisions.ledger.sqlite",
            lambda w: read_decisions(w / "decisions.csv").drop(columns=list(PROVENANCE)),
            Path(tmp),
            range(n_seeds),
        )  # fmt: skip
    print(f"crash: {figures}", file=sys.stderr)
    return figures


def extract_crash_runs(n_seeds: int) -> dict[str, Any]:
    """``winnow extract`` on two PDFs in 500-token chunks, killed and resumed."""
    from winnow.screening.decisions import read_table

    with InstantServer(delay_s=0.03) as server, tempfile.TemporaryDirectory(prefix="winnow-crash-x-") as tmp:
        inputs = write_extract_inputs(Path(tmp) / "inputs")
        figures = _kill_seeds(
            server,
            lambda w: extract_command(server.base_url, inputs, w),
            "x.ledger.sqlite",
            lambda w: read_table(w / "x.csv", what="extraction").drop(columns=["run_id", "call_ids"]),
            Path(tmp),
            range(100, 100 + n_seeds),
        )
    print(f"extract crash: {figures}", file=sys.stderr)
    return figures


def adjudication_kills(n_seeds: int) -> dict[str, Any]:
    """``winnow audit --adjudicate`` in a pseudo-terminal, SIGKILLed at seeded points, then finished.

    Each seed answers a seeded number of disagreements with seeded verdicts, then
    is killed either at the next verdict prompt or after typing a verdict but before
    its note (an answer not yet given, which must not be stored). A restart must
    show the answers so far as settled and resume; finishing there must leave one
    verdict per disagreement, each as given.
    """
    import pexpect

    fixtures = REPO / "tests" / "fixtures" / "agreement"
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80", "LINES": "40", "TERM": "dumb"}
    env.pop("OPENAI_API_KEY", None)
    figures = {"kills": 0, "answers_before_kill": 0, "lost": 0, "stored_unanswered": 0, "duplicates": 0,
               "wrong_resume": 0, "unsettled_after_finish": 0}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="winnow-adj-") as tmp:
        for seed in range(n_seeds):
            rng = random.Random(200 + seed)
            workdir = Path(tmp) / f"seed{seed}"
            workdir.mkdir()
            for name in ("decisions.csv", "gold.csv", "protocol.yaml"):
                (workdir / name).write_bytes((fixtures / name).read_bytes())

            def spawn(where: Path = workdir) -> Any:
                return pexpect.spawn(
                    sys.executable,
                    ["-m", "winnow", "audit", "decisions.csv", "--gold", "gold.csv", "--adjudicate", "--who", "bench"],
                    cwd=str(where), env=env, encoding="utf-8", timeout=60, dimensions=(40, 80),
                )  # fmt: skip

            given: list[tuple[str, str]] = []
            child = spawn()
            for i in range(rng.randint(0, 5)):
                given.append(_verdict(child, rng, f"seed {seed} answer {i}"))
            child.expect(_VERDICT_PROMPT)
            if rng.random() < 0.5:
                child.sendline(_letter(child, rng))
                child.expect("note")
            child.kill(signal.SIGKILL)
            child.wait()
            figures["kills"] += 1
            figures["answers_before_kill"] += len(given)
            stored = _adjudications(workdir / "decisions.ledger.sqlite")
            figures["lost"] += len(set(given) - set(stored))
            figures["stored_unanswered"] += len(set(stored) - set(given))
            again = spawn()
            if given:
                again.expect(f"{len(given)} of 6 already settled")
            while again.expect([_VERDICT_PROMPT, "still open", pexpect.EOF]) == 0:
                rid, _ = _verdict(again, rng, "after restart", prompted=True)
                figures["wrong_resume"] += int(rid in {r for r, _ in given})
            again.expect(pexpect.EOF)
            final = _adjudications(workdir / "decisions.ledger.sqlite")
            ids = [rid for rid, _ in final]
            figures["duplicates"] += len(ids) - len(set(ids))
            figures["unsettled_after_finish"] += 6 - len(set(ids))
    print(f"adjudication kills: {figures}", file=sys.stderr)
    return figures


_VERDICT_PROMPT = r"verdict \[([a-z/]+)\]"


def _letter(child: Any, rng: random.Random) -> str:
    """A seeded choice among the verdicts this prompt offers (keep model/gold, include, exclude)."""
    return rng.choice([c for c in child.match.group(1).split("/") if c in "mgie"])


def _verdict(child: Any, rng: random.Random, note: str, *, prompted: bool = False) -> tuple[str, str]:
    """Answer one disagreement; returns (record id, label) as the tool reports them saved."""
    if not prompted:
        child.expect(_VERDICT_PROMPT)
    child.sendline(_letter(child, rng))
    child.expect("note")
    child.sendline(note)
    child.expect(r"saved: (\S+) -> (\w+)")
    return child.match.group(1), child.match.group(2)


def _adjudications(ledger: Path) -> list[tuple[str, str]]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as conn:
        return [(r, label) for r, label in conn.execute("SELECT record_id, final_label FROM adjudications")]


def fuzz(scale: float) -> tuple[Counter[str], bool, float]:
    with tempfile.TemporaryDirectory(prefix="winnow-fuzz-") as tmp:
        count_file = Path(tmp) / "count.txt"
        env = {**os.environ, "WINNOW_FUZZ_EXAMPLES": str(scale), "WINNOW_FUZZ_COUNT": str(count_file)}
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(REPO / "tests" / "test_fuzz_readers.py"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        cases = Counter(count_file.read_text().split()) if count_file.exists() else Counter()
    print(done.stdout[-500:], file=sys.stderr)
    return cases, done.returncode == 0, seconds


def _fault_table(rows: list[tuple[str, FaultFigures]]) -> list[str]:
    lines = [
        "| fault | " + " | ".join(f"{name}: injected / survived" for name, _ in rows) + " |",
        "|---|" + "---|" * len(rows),
    ]
    for fault in FAULTS:
        cells = [f"{f.injected.get(fault, 0)} / {f.survived.get(fault, 0)}" for _, f in rows]
        lines.append(f"| {fault} | " + " | ".join(cells) + " |")
    totals = [f"{sum(f.injected.values())} / {sum(f.survived.values())}" for _, f in rows]
    lines.append("| **all** | " + " | ".join(f"**{t}**" for t in totals) + " |")
    return lines


def _outcome_table(rows: list[tuple[str, FaultFigures]]) -> list[str]:
    lines = [
        "| run | records | decided | error (with cause) | lost | duplicate rows | answers stored twice |"
        " clean answers sent twice | requests | Retry-After gaps checked / violated | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in rows:
        lines.append(
            f"| {name} | {f.records} | {f.decided} | {f.errors} ({f.errors - f.errors_without_cause}) | {f.missing} "
            f"| {f.duplicate_rows} | {f.duplicate_answers} | {f.answers_delivered_twice} | {f.requests} "
            f"| {f.retry_after_checked} / {len(f.retry_after_violations)} | {f.seconds} |"
        )
    return lines


def _model_run_note(rows: list[tuple[str, FaultFigures]]) -> list[str]:
    """Say why the real-model row has fewer records, when it has."""
    model = [f for name, f in rows if name.startswith("llama")]
    instant = [f.records for name, f in rows if name.startswith("instant")]
    if not model or not instant or model[0].records >= max(instant):
        return []
    f = model[0]
    per_record = f.seconds / f.records if f.records else 0.0
    return [
        f"The llama_cpp.server run screened {f.records} records (`--model-records {f.records}`), not "
        f"{max(instant)}: a real model takes ~{per_record:.0f} s a record here, stalls included, on one core. "
        "`--model-records 200` runs them all.",
        "",
    ]


def write_doc(
    path: Path,
    fault_rows: list[tuple[str, FaultFigures]],
    crashes: dict[str, dict[str, Any]],
    adjudication: dict[str, Any],
    fuzz_cases: Counter[str],
    fuzz_ok: bool,
    fuzz_s: float,
    argv: list[str],
    model_timeout_s: float,
) -> None:
    lost = sum(f.missing for _, f in fault_rows) + sum(c["lost"] for c in crashes.values()) + adjudication["lost"]
    doubled = (
        sum(f.duplicate_rows + f.duplicate_answers for _, f in fault_rows)
        + sum(c["duplicates"] for c in crashes.values())
        + adjudication["duplicates"]
    )
    text = [
        "# Reliability figures",
        "",
        f"Generated by `{' '.join(['python bench/reliability.py', *map(_shown_arg, argv)])}` on "
        f"{time.strftime('%Y-%m-%d')}; re-run it to regenerate this file. The same checks, with fewer cases,",
        "run in CI: tests/test_faults.py, test_crash.py, test_ledger_concurrency.py, test_hostile.py,",
        "test_fuzz_readers.py, test_secrets.py and test_disk.py.",
        "",
        f"**Across every injected fault and every kill: {lost} decisions lost, {doubled} duplicated.**",
        "",
        "## Faults between winnow and the model",
        "",
        "`winnow screen` (the real CLI, as a child process) talks to `tests/faultproxy.py`, which forwards to a",
        "real upstream and, at a 30% rate chosen per request from a seed, answers instead with one of the faults",
        "below. *Survived* counts injected faults whose record still ended with a decision. The instant server",
        "(`tests/instant_server.py`) is a real HTTP server that returns a schema-valid answer at once, so that 200",
        "records fit in CI time; the llama_cpp.server run uses the embedded SmolLM2 (its decisions mean nothing;",
        "only the transport and bookkeeping are measured). Settings: instant: `-j 32 --timeout 2",
        f"--max-attempts 8`, stalls of 3 s; llama_cpp.server: `-j 1 --timeout {model_timeout_s:g} --max-attempts 8 "
        f"--max-tokens 400`, stalls of {model_timeout_s + 5:g} s.",
        "",
        *_fault_table(fault_rows),
        "",
        *_outcome_table(fault_rows),
        "",
        *_model_run_note(fault_rows),
        "*Lost*: records missing from the decisions table. *Answers stored twice*: successful ledger rows",
        "sharing a cache key (the model paid twice for one record). *Clean answers sent twice*: the proxy",
        "passed an unaltered HTTP 200 for the same record more than once. With the instant server every such",
        "answer is valid, so this must be 0; SmolLM2 also writes schema-breaking answers of its own, which the",
        "proxy passes unaltered and winnow repairs, so there it counts repairs, not duplicates. *Retry-After*:",
        "every request after a 429 with `Retry-After: 1` came at least 1 s later.",
        "",
        "## Crashes",
        "",
        "Each command is killed with SIGKILL after a seeded number of answers (seed 0: after the last one, while",
        "the table is written), then the same command is run again; the final table is compared with an",
        "uninterrupted run's, without the run_id and call_id columns. `winnow screen`: 40 records;",
        f"`winnow extract`: two PDFs in 500-token chunks ({crashes['extract'].get('calls_per_run', '?')} calls a run).",
        "",
        "| command | kills (mid-run) | lost decisions | duplicate rows or answers | rows differing from the"
        " uninterrupted run | answers asked for again | ledger integrity failures |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {c['kills']} ({c['killed_mid_run']}) | {c['lost']} | {c['duplicates']} "
            f"| {c['differing_rows']} | {c['re_asked']} | {c['integrity_failures']} |"
            for name, c in (("winnow screen", crashes["screen"]), ("winnow extract", crashes["extract"]))
        ],
        "",
        "`winnow audit --adjudicate` in a pseudo-terminal (pexpect) on the 6 disagreements of",
        "tests/fixtures/agreement: each seed gives 0-5 seeded verdicts, then is killed either at the next verdict",
        "prompt or after typing a verdict but before its note (not yet given, so it must not be stored); a",
        "restart must say how many are settled, resume with the others, and end with one verdict each.",
        "",
        "| kills | verdicts given before the kill | lost | stored though not given | re-asked after restart |"
        " duplicate verdicts | unsettled at the end |",
        "|---|---|---|---|---|---|---|",
        f"| {adjudication['kills']} | {adjudication['answers_before_kill']} | {adjudication['lost']} "
        f"| {adjudication['stored_unanswered']} | {adjudication['wrong_resume']} | {adjudication['duplicates']} "
        f"| {adjudication['unsettled_after_finish']} |",
        "",
        "## Reader fuzzing",
        "",
        f"hypothesis, {sum(fuzz_cases.values())} cases in {fuzz_s:.0f} s, "
        f"{'all' if fuzz_ok else 'NOT all'} ending in parsed records or winnow's typed error naming the file.",
        "",
        "| reader | cases |",
        "|---|---|",
        *[f"| {name} | {n} |" for name, n in sorted(fuzz_cases.items())],
        "",
    ]
    path.write_text("\n".join(text), encoding="utf-8")


def _shown_arg(arg: str) -> str:
    """An argument as the doc shows it: paths relative to the repo, never a path on one machine."""
    path = Path(arg)
    if not path.is_absolute():
        return arg
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return f"SCRATCH/{path.name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="Fault seeds for the instant server.")
    parser.add_argument("--records", type=int, default=200, help="Records per instant-server run.")
    parser.add_argument("--model-records", type=int, default=200, help="Records through llama_cpp.server.")
    parser.add_argument(
        "--model-timeout",
        type=float,
        default=120.0,
        help="Client timeout (s) against llama_cpp.server; stalls last 5 s more.",
    )
    parser.add_argument("--no-model", action="store_true", help="Skip the llama_cpp.server run.")
    parser.add_argument(
        "--model-figures",
        type=Path,
        default=None,
        help=f"Reuse the llama_cpp.server figures an earlier run saved (it writes {MODEL_FIGURES.relative_to(REPO)}).",
    )
    parser.add_argument("--kills", type=int, default=10, help="SIGKILL seeds.")
    parser.add_argument("--fuzz-scale", type=float, default=10.0, help="Multiplier on the CI fuzz example counts.")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "reliability.md")
    args = parser.parse_args()
    rows = [
        (f"instant, seed {f_seed}", f)
        for f_seed, f in zip(args.seeds, fault_matrix_instant(args.seeds, args.records), strict=True)
    ]
    timeout_s = args.model_timeout
    if args.model_figures is not None:
        saved = json.loads(args.model_figures.read_text(encoding="utf-8"))
        timeout_s = saved["timeout_s"]
        rows.append((f"llama_cpp.server, seed 1 (saved {saved['when']})", FaultFigures.from_dict(saved["figures"])))
    elif not args.no_model:
        figures = fault_matrix_llama(args.model_records, seed=1, timeout_s=timeout_s)
        MODEL_FIGURES.parent.mkdir(parents=True, exist_ok=True)
        saved = {"when": time.strftime("%Y-%m-%d %H:%M"), "timeout_s": timeout_s, "figures": figures.as_dict()}
        MODEL_FIGURES.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        rows.append(("llama_cpp.server, seed 1", figures))
    crashes = {"screen": crash_runs(args.kills), "extract": extract_crash_runs(args.kills)}
    adjudication = adjudication_kills(args.kills)
    cases, ok, seconds = fuzz(args.fuzz_scale)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_doc(args.out, rows, crashes, adjudication, cases, ok, seconds, sys.argv[1:], timeout_s)
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
