"""What every benchmark shares: the machine header, synthetic records, the server, results files.

Each benchmark writes ``bench/results/NAME.json`` (machine, versions, command,
figures) and prints a short table; docs/benchmarks.md quotes those files.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "gold" / "dennstaedt_2024_cdss_ro"
PROTOCOL = GOLD / "protocol.yaml"
RESULTS = ROOT / "bench" / "results"
SERVER = ROOT / "bench" / "fake_openai_server.py"


def machine() -> dict[str, Any]:
    """CPU, cores, memory and the versions that decide the figures."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {}
    for name in ("winnow", "openai", "httpx", "llama_cpp_python", "pypdf", "pypdfium2", "pymupdf", "pandas"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    mem_gib = None
    with contextlib.suppress(ValueError, OSError):
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    return {
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        # Other jobs on the machine inflate times; the 1/5/15-minute load when the figures were written.
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def screening_tasks(records: Path) -> list[Any]:
    """winnow's own screening tasks (rendered prompts, schema, settings) for these records, on the embedded model."""
    from winnow.backends import build_model
    from winnow.lifecycle import Sampling
    from winnow.protocol import load_protocol
    from winnow.records import read_records
    from winnow.screening.screen import build_tasks
    from winnow.templates import load_template

    return build_tasks(
        read_records(records).records,
        load_protocol(PROTOCOL).protocol,
        load_template("screen_title_abstract"),
        build_model("local"),
        Sampling(),
    )


def llama_cpp_facts() -> dict[str, Any]:
    """What the embedded model's benchmarks depend on: llama.cpp's CPU features, the CPU's AMX flags, the choice."""
    from winnow.backends.llama_cpu import amx_flags, choose_buffers, cpu_flags, system_features

    choice = choose_buffers()
    return {
        "llama_cpp_cpu_features": system_features(),
        "cpu_amx_flags": amx_flags(cpu_flags()),
        "extra_buffer_types": choice.describe(),
    }


def write_results(name: str, figures: dict[str, Any], *, out: Path | None = None) -> Path:
    """Save figures with the machine header and the exact command that produced them."""
    target = out or RESULTS / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": name,
        "command": " ".join(["python", *[_relative(a) for a in sys.argv]]),
        "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "figures": figures,
    }
    target.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return target


def _relative(arg: str) -> str:
    try:
        return str(Path(arg).resolve().relative_to(ROOT))
    except ValueError:
        return arg


def make_records(path: Path, n: int, *, seed_rows: Path = GOLD / "records.csv") -> Path:
    """N unique records sampled round-robin from the gold set, titles varied so hashes differ."""
    with seed_rows.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["record_id", "title", "abstract", "label_included"])
        for i in range(n):
            row = rows[i % len(rows)]
            title = row["title"] if i < len(rows) else f"{row['title']} (replicate {i // len(rows)})"
            writer.writerow([f"b{i:06d}", title, row["abstract"], row["label_included"]])
    return path


@contextmanager
def fake_server(*, latency_ms: float = 0.0, rpm: float | None = None, fast: bool = False) -> Iterator[str]:
    """The benchmark server in its own process (``fast``: its asyncio variant); yields its base URL."""
    command = [sys.executable, str(SERVER), "--latency-ms", str(latency_ms), *(["--fast"] if fast else [])]
    if rpm is not None:
        command += ["--rpm", str(rpm)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        if not base_url.startswith("http"):
            raise RuntimeError("benchmark server did not start")
        yield base_url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def server_stats(base_url: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as response:
        return dict(json.loads(response.read()))


def run_winnow(args: Sequence[str], *, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python -m winnow ARGS`` as a user would: wall and CPU seconds, peak RSS (MiB), output."""
    import tempfile

    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENAI_API_KEY": "", **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "winnow", *args], env=full_env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"winnow {' '.join(args)} exited {proc.returncode}: {stderr[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
        "stdout": stdout,
        "stderr": stderr,
    }


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def scratch(name: str) -> Path:
    """A fresh folder for one benchmark's files (kept for inspection, replaced next run)."""
    import shutil
    import tempfile

    base = Path(os.environ.get("WINNOW_BENCH_TMP") or tempfile.gettempdir()) / f"winnow-bench-{name}"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    return base


def run_pool(
    work: Callable[[Any], dict[str, Any]], jobs: Sequence[Any], processes: int, line: Callable[[dict[str, Any]], str]
) -> None:
    """Run ``jobs`` on ``processes`` workers, printing one ``line`` per finished job to stderr as it ends."""
    from multiprocessing import Pool

    with Pool(processes) as pool:
        for record in pool.imap_unordered(work, jobs):
            print(line(record), file=sys.stderr, flush=True)
