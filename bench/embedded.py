"""Benchmark 4: the embedded model through winnow against llama-cpp-python called directly.

Usage: python bench/embedded.py [--records 10] [--rounds 2] [--out FILE]

Both sides screen the same N records with the same prompt text (rendered by
winnow's own ``build_tasks``), the same grammar (compiled once from the same JSON
schema), the same GGUF, context, threads, max_tokens, temperature and seed, each
as its own process that loads the model: records per minute and peak RSS. winnow
also reads P(include) from the logits during generation and writes the ledger and
the table; the raw side only generates. SmolLM2-135M's answers mean nothing for a
review; this measures speed only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import PROTOCOL, make_records, run_winnow, scratch, screening_tasks, write_results

RAW = """
import json, os, sys, time
from llama_cpp import Llama, LlamaGrammar
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from winnow.backends.llama_cpu import choose_buffers, model_params
job = json.load(open(sys.argv[1]))
# The same extra-buffer choice as winnow's (off on AMX CPUs, where llama.cpp crashes with them).
with model_params(choose_buffers(job["extra_buffers"])):
    llama = Llama(model_path=job["gguf"], n_ctx=job["n_ctx"], n_threads=job["n_threads"], seed=0, verbose=False)
template = llama.metadata["tokenizer.chat_template"]
eos = llama.detokenize([llama.token_eos()]).decode("utf-8", "ignore")
bos = llama.detokenize([llama.token_bos()]).decode("utf-8", "ignore")
formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
grammar = LlamaGrammar.from_json_schema(json.dumps(job["schema"]), verbose=False)
seconds, completion_tokens = [], []
for messages in job["prompts"]:
    started = time.perf_counter()
    prompt = formatter(messages=messages).prompt
    result = llama.create_completion(prompt, grammar=grammar, max_tokens=job["max_tokens"],
                                     temperature=job["temperature"], seed=job["seed"])
    seconds.append(time.perf_counter() - started)
    completion_tokens.append(result["usage"]["completion_tokens"])
print(json.dumps({"call_seconds": seconds, "completion_tokens": completion_tokens}))
"""


def prompts_for(records: Path) -> tuple[list[list[dict[str, str]]], dict[str, Any], Any]:
    from winnow.backends import build_model

    tasks = screening_tasks(records)
    return [list(t.request.messages) for t in tasks], tasks[0].request.schema, build_model("local")


def run_raw(job_file: Path) -> dict[str, Any]:
    with tempfile.TemporaryFile("w+") as out:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", RAW, str(job_file)], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("raw llama-cpp-python run failed")
    result = json.loads(text.strip().splitlines()[-1])
    return {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024, **result}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="raw then winnow, this many times (the load drifts)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import sqlite3
    import statistics

    work = scratch("embedded")
    records = make_records(work / "records.csv", args.records)
    prompts, schema, model = prompts_for(records)
    job_file = work / "raw_job.json"
    job_file.write_text(
        json.dumps(
            {
                "gguf": str(model.path),
                "n_ctx": model.n_ctx,
                "n_threads": model.n_threads,
                "extra_buffers": "on" if model.buffers.enabled else "off",
                "schema": schema,
                "max_tokens": 768,
                "temperature": 0.0,
                "seed": 0,
                "prompts": prompts,
            }
        )
    )
    pairs = []
    for round_no in range(args.rounds):
        raw = run_raw(job_file)
        out = work / f"decisions{round_no}.csv"  # a fresh ledger each round, so nothing is cached
        winnow = run_winnow(
            ["screen", str(records), "-p", str(PROTOCOL), "-m", "local", "-o", str(out), "--no-progress"]
        )
        with sqlite3.connect(work / f"decisions{round_no}.ledger.sqlite") as conn:
            calls = conn.execute("SELECT ok, latency_ms, completion_tokens FROM calls").fetchall()
        pairs.append((raw, winnow, calls))
    n = len(prompts)
    rounds = []
    for raw, winnow, calls in pairs:
        answered = [c[1] / 1000 for c in calls if c[0]]
        rounds.append(
            {
                "raw_records_per_min": round(n / raw["wall_s"] * 60, 2),
                "winnow_records_per_min": round(n / winnow["wall_s"] * 60, 2),
                "ratio_whole_process": round(raw["wall_s"] / winnow["wall_s"], 3),
                "raw_median_call_s": round(statistics.median(raw["call_seconds"]), 3),
                "winnow_median_call_s": round(statistics.median(answered), 3) if answered else None,
                "raw_completion_tokens": round(statistics.fmean(raw["completion_tokens"]), 1),
                "winnow_completion_tokens": round(statistics.fmean(c[2] or 0 for c in calls), 1),
                "winnow_calls": len(calls),
                "winnow_invalid_answers_repaired": sum(1 for c in calls if not c[0]),
                "raw_peak_rss_mib": round(raw["peak_rss_mib"], 1),
                "winnow_peak_rss_mib": round(winnow["peak_rss_mib"], 1),
            }
        )
    figures = {
        "records": n,
        "threads": model.n_threads,
        "rounds": rounds,
        "ratio_whole_process_median": statistics.median(r["ratio_whole_process"] for r in rounds),
        "target_ratio": 0.9,
    }
    path = write_results("embedded", figures, out=args.out)
    for r in rounds:
        print(
            f"{n} records: raw {r['raw_records_per_min']}/min, winnow {r['winnow_records_per_min']}/min "
            f"(ratio {r['ratio_whole_process']}); median call raw {r['raw_median_call_s']} s, "
            f"winnow {r['winnow_median_call_s']} s; peak RSS raw {r['raw_peak_rss_mib']} MiB, "
            f"winnow {r['winnow_peak_rss_mib']} MiB"
        )
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
