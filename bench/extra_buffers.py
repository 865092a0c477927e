"""What turning llama.cpp's extra buffer types off costs: records per minute with them on and off.

Usage: python bench/extra_buffers.py [--records 10] [--rounds 2] [--quant q4_1|q4_0] [--out FILE]

winnow keeps extra buffer types (AMX and CPU weight repacking) off where the CPU has
AMX, because there they crash llama.cpp. On an AMX CPU "on" cannot be measured (it
crashes: that is the point), so run this with a llama-cpp-python built as for a CPU
without AMX, e.g. in a venv of its own:

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF \\
      -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" pip install llama-cpp-python==0.3.36

The same ``winnow screen`` runs with ``WINNOW_LLAMA_EXTRA_BUFFERS=on`` and ``=off`` in
turns (a fresh ledger each time), on the shipped GGUF (Q4_1) or, with ``--quant q4_0``,
on the same model requantised to Q4_0, the type llama.cpp's CPU repacking serves most.
Figures: records per minute of the whole command and the median model call from the ledger.
Run it alone, with no other job on the machine.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

from benchlib import PROTOCOL, llama_cpp_facts, make_records, run_winnow, scratch, write_results


def requantised(work: Path, quant: str) -> str:
    """The model id to screen with: the shipped GGUF, or a copy requantised by llama.cpp itself."""
    if quant == "q4_1":
        return "local"
    import llama_cpp

    from winnow.backends.local import bundled_gguf

    target = work / f"smollm2.{quant}.gguf"
    if not target.exists():
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
        params.allow_requantize = True
        code = llama_cpp.llama_model_quantize(str(bundled_gguf()).encode(), str(target).encode(), params)
        if code != 0:
            raise RuntimeError(f"llama_model_quantize failed with {code}")
    return f"local:{target}"


def one_run(records: Path, model: str, setting: str, out: Path) -> dict[str, Any]:
    run = run_winnow(
        ["screen", str(records), "-p", str(PROTOCOL), "-m", model, "-o", str(out), "--no-progress"],
        env={"WINNOW_LLAMA_EXTRA_BUFFERS": setting},
    )
    with sqlite3.connect(out.with_name(out.stem + ".ledger.sqlite")) as conn:
        latencies = [row[0] / 1000 for row in conn.execute("SELECT latency_ms FROM calls WHERE ok = 1")]
    n = sum(1 for _ in records.open(encoding="utf-8")) - 1
    return {
        "setting": setting,
        "wall_s": round(run["wall_s"], 2),
        "records_per_min": round(n / run["wall_s"] * 60, 2),
        "median_call_s": round(statistics.median(latencies), 3) if latencies else None,
        "answers": len(latencies),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quant", choices=("q4_1", "q4_0"), default="q4_1")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    work = scratch("extra_buffers")
    records = make_records(work / "records.csv", args.records)
    model = requantised(work, args.quant)
    runs = []
    for round_no in range(args.rounds):
        for setting in ("on", "off") if round_no % 2 == 0 else ("off", "on"):
            runs.append(one_run(records, model, setting, work / f"d-{args.quant}-{round_no}-{setting}.csv"))
    median = {
        setting: statistics.median(r["records_per_min"] for r in runs if r["setting"] == setting)
        for setting in ("on", "off")
    }
    figures = {
        "records": args.records,
        "quant": args.quant,
        "runs": runs,
        "records_per_min_median": median,
        "off_over_on": round(median["off"] / median["on"], 3),
        "llama_cpp": llama_cpp_facts(),
    }
    path = write_results(f"extra_buffers_{args.quant}", figures, out=args.out)
    print(f"{args.quant}: on {median['on']:.2f} records/min, off {median['off']:.2f} (off/on {figures['off_over_on']})")
    print(f"wrote {path}")
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
