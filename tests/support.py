"""Helpers shared by tests. Model-backed tests use the embedded GGUF or a real local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from winnow.backends.base import ModelRequest, ModelResponse

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "gold"
DENNSTAEDT = GOLD / "dennstaedt_2024_cdss_ro"
SHARED = REPO.parent / "shared"
SHARED_PDFS = SHARED / "data" / "pdfs"

# A tiny review for the ranker tests: includes are about statins and cholesterol; excludes about
# knee surgery and football. The first four are labelled in the tests; 4 and 5 are not.
STATIN_TEXTS = [
    "statin therapy lowers ldl cholesterol in adults",
    "atorvastatin and cholesterol outcomes trial",
    "knee arthroscopy outcomes after surgery",
    "football injuries of the knee",
    "rosuvastatin cholesterol lowering randomised trial",
    "surgery for football knee ligament",
]


def gold_quotes(path: Path) -> list[tuple[str, str, str, int]]:
    """(file, field, quote, page) for every quote in an extraction gold file (JSON lines)."""
    out: list[tuple[str, str, str, int]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for field, entry in record["fields"].items():
            quote, page = entry.get("quote"), entry.get("page")
            if quote is None:
                continue
            if isinstance(quote, list):
                out.extend((record["file"], field, q, p) for q, p in zip(quote, page, strict=True))
            else:
                out.append((record["file"], field, quote, page))
    return out


def answer_for(request: ModelRequest, decision: str = "include", verdict: str = "met") -> str:
    criteria = request.schema["properties"]["criteria"]["required"]
    return json.dumps(
        {
            "criteria": {cid: {"verdict": verdict, "reason": f"reason for {cid}"} for cid in criteria},
            "rationale": "fake rationale",
            "decision": decision,
        }
    )


class FakeModel:
    """Scripted answers for unit tests of parsing and flow (never proof a backend works)."""

    is_embedded = False

    def __init__(
        self,
        script: Callable[[ModelRequest, int], str | Exception | ModelResponse] | None = None,
        max_concurrency: int | None = None,
    ) -> None:
        self.model_id = "fake:scripted"
        self.max_concurrency = max_concurrency
        self.calls: list[ModelRequest] = []
        self._lock = threading.Lock()
        self._script = script or (lambda request, n: answer_for(request))

    def identity(self) -> dict[str, Any]:
        return {"fake": True}

    def runtime(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass

    def complete(self, request: ModelRequest) -> ModelResponse:
        with self._lock:
            self.calls.append(request)
            n = len(self.calls)
        out = self._script(request, n)
        if isinstance(out, Exception):
            raise out
        if isinstance(out, ModelResponse):
            return out
        return ModelResponse(text=out, served_model="fake-1", prompt_tokens=100, completion_tokens=20)


def run_cli(*args: str) -> int:
    """Run the winnow CLI in this process, as a user would type it."""
    from winnow.cli import main

    return main([str(a) for a in args])


def ok_calls(ledger_path: Path) -> list[dict[str, Any]]:
    import sqlite3

    with sqlite3.connect(ledger_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM calls WHERE ok = 1 ORDER BY call_id")]


def answered(ledger_path: Path) -> int:
    """Answers so far, for a test polling a run it will kill: 0 until the ledger's tables exist.

    The ledger file appears before its tables are made, so a poll can land in between.
    """
    import sqlite3

    try:
        return len(ok_calls(ledger_path)) if ledger_path.exists() else 0
    except sqlite3.OperationalError:
        return 0


def all_calls(ledger_path: Path) -> list[dict[str, Any]]:
    import sqlite3

    with sqlite3.connect(ledger_path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM calls ORDER BY call_id")]


PROVENANCE = ("run_id", "call_id")


def offline_env() -> dict[str, str]:
    """This process's environment without any key or base URL, so a child runs the embedded default."""
    import os

    hidden = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "WINNOW_API_KEY")
    return {k: v for k, v in os.environ.items() if k not in hidden}


def child_pids(pid: int) -> list[int]:
    """The live children of a process (Linux ``/proc``)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found.extend(int(child) for child in task.read_text().split())
    return found


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie awaiting its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LlamaServer:
    """A real ``llama_cpp.server`` on 127.0.0.1 with the embedded GGUF, started as ``winnow serve`` starts it.

    Through ``winnow serve``, so the server has the settings that keep llama.cpp from crashing on
    this CPU (extra buffer types off where it has AMX), as a reviewer's served model has.
    """

    def __init__(self, gguf: Path, port: int | None = None) -> None:
        import subprocess
        import sys

        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "winnow", "serve", f"local:{gguf}", "--port", str(self.port), "--n-ctx", "4096"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"winnow serve exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("winnow serve did not start in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()


def render_text(renderable: Any, width: int = 80) -> str:
    """What a rich renderable prints on a terminal of this width, as plain text."""
    import os

    from rich.console import Console

    with open(os.devnull, "w") as sink:
        console = Console(width=width, record=True, file=sink)
        console.print(renderable)
    return console.export_text()


def screen_records(records: Any, protocol: Any, template: Any, engine: Any, sampling: Any = None) -> Any:
    """Title/abstract screening through the lifecycle's one result loop, without the files around a run."""
    from winnow.lifecycle import Sampling, collect
    from winnow.protocol import LoadedProtocol
    from winnow.screening.screen import TitleAbstractStage

    loaded = LoadedProtocol(protocol=protocol, path="test-protocol.yaml", sha256="0" * 64)
    stage = TitleAbstractStage(records, loaded, template, sampling or Sampling())
    return collect(stage, stage.units(engine.model), engine)


def run_paper_stage(stage: Any, papers: Any, engine: Any) -> Any:
    """A full-text stage over papers already parsed and chunked, through the lifecycle's result loop."""
    from winnow.lifecycle import collect

    return collect(stage, stage.units_for(papers, engine.model), engine)


def spawn_winnow(workdir: Path, args: list[str], *, columns: int = 80, timeout: float = 60) -> Any:
    """``python -m winnow ARGS`` in a real pseudo-terminal (pexpect), the checkout's code, a plain terminal."""
    import os
    import sys

    import pexpect

    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": str(columns), "LINES": "40", "TERM": "dumb"}
    return pexpect.spawn(
        sys.executable,
        ["-m", "winnow", *args],
        cwd=str(workdir),
        env=env,
        encoding="utf-8",
        timeout=timeout,
        dimensions=(40, columns),
    )


def answer_as_gold(session: Any, label: dict[str, bool], answers: int) -> None:
    """Answer the session's next ``answers`` records as the gold labels say, as a scripted reviewer."""
    for _ in range(answers):
        record = session.next_record()
        assert record is not None
        session.answer(record, "include" if label[record.record_id] else "exclude")


def screened_session(ledger: Any, records: list[Any], protocol: Any, inputs: Any) -> Any:
    """A prioritise session on ``records`` with the default stopping rule, as the ranker tests open it."""
    from winnow.screening.ranking.prioritise import Session
    from winnow.screening.ranking.stopping import StoppingRule

    return Session.open(
        ledger,
        records=records,
        records_path="records.csv",
        protocol=protocol,
        inputs=inputs,
        rule=StoppingRule(),
        who="test",
    )


def results_line(custom_id: str, content: str) -> str:
    """One line of a batch results file in vLLM's output format, answering ``custom_id`` with ``content``."""
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 90, "total_tokens": 990}}  # fmt: skip
    return json.dumps({"id": "vllm-1", "custom_id": custom_id, "response": {"status_code": 200, "body": body},
                       "error": None}) + "\n"  # fmt: skip
