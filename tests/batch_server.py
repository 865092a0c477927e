"""A provider's Files and Batches API on 127.0.0.1, answering every request through a real model.

It speaks the HTTP API the openai SDK calls (``POST /v1/files``, ``GET /v1/files/ID/content``,
``POST /v1/batches``, ``GET /v1/batches[/ID]``, ``POST /v1/batches/ID/cancel``) and forwards
each line of a batch, body unchanged, to an upstream chat endpoint: ``llama_cpp.server`` started
by ``winnow serve`` in the tests. Nothing is canned; the answers are the model's. It also passes
``/v1/chat/completions`` through, so ``--batch-fallback sync`` reaches the same model.

Faults, set on the instance before or during a run:
- ``fail_uploads``: the next N uploads answer HTTP 500;
- ``error_lines``: custom ids whose line goes to the error file (HTTP 500) instead of the model;
- ``break_schema``: custom ids whose model answer is replaced by well-formed JSON that breaks the schema;
- ``expire_after``: a batch expires after answering this many lines (the rest never answered);
- ``hold``: an event; while clear, batches stay ``in_progress`` without answering anything;
- ``hold_upload``: an event; while clear, an upload is received but its HTTP answer is held back;
- ``hold_create``: an event; while clear, a create is recorded but its HTTP answer is held back.

``run_batch_file`` answers a request file offline the way ``vllm run-batch`` does, writing
vLLM's output format, for the cluster route.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCHEMA_BREAKER = '{"decision": "include", "note": "no criteria at all"}'


def chat(upstream: str, body: dict[str, Any], timeout_s: float = 600.0) -> tuple[int, dict[str, Any]]:
    """POST one chat-completions body to the upstream model; its status and JSON answer."""
    request = urllib.request.Request(
        f"{upstream}/chat/completions",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            payload = json.loads(exc.read() or b"{}")
        except ValueError:
            payload = {"error": {"message": str(exc)}}
        return exc.code, payload


class BatchServer:
    """The Files and Batches API in a background thread, forwarding every request line to ``upstream``."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.files: dict[str, tuple[str, bytes]] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.answered: Counter[str] = Counter()  # model answers per custom id, over every batch
        self.created: list[str] = []  # batch ids in the order they were created
        self.inputs: dict[str, list[dict[str, Any]]] = {}  # batch id -> its request lines
        self.uploads = 0
        self.sync_calls = 0
        self.sync_bodies: list[dict[str, Any]] = []  # what --batch-fallback sync and sync runs posted
        self.fail_uploads = 0
        self.error_lines: set[str] = set()
        self.break_schema: set[str] = set()
        self.expire_after: int | None = None
        self.hold = threading.Event()
        self.hold.set()
        self.hold_create = threading.Event()
        self.hold_create.set()
        self.hold_upload = threading.Event()
        self.hold_upload.set()
        self.lock = threading.Lock()
        self._workers: list[threading.Thread] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle -----------------------------------------------------------------
    def __enter__(self) -> BatchServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self.hold_create.set()
        self.hold_upload.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def wait_created(self, n: int = 1, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.created) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{n} batch(es) were not created in time")
            time.sleep(0.05)

    def join(self, timeout_s: float = 600.0) -> None:
        """Wait for every batch worker to finish."""
        for worker in list(self._workers):
            worker.join(timeout_s)

    # -- the files -----------------------------------------------------------------
    def _new_file(self, name: str, data: bytes) -> str:
        file_id = f"file-{secrets.token_hex(8)}"
        with self.lock:
            self.files[file_id] = (name, data)
        return file_id

    def _file_object(self, file_id: str) -> dict[str, Any]:
        name, data = self.files[file_id]
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": name, "purpose": "batch", "status": "processed"}  # fmt: skip

    # -- a batch's work ------------------------------------------------------------
    def _run(self, batch: dict[str, Any], lines: list[dict[str, Any]]) -> None:
        output: list[str] = []
        errors: list[str] = []
        batch["status"] = "in_progress"
        batch["in_progress_at"] = int(time.time())
        for n, line in enumerate(lines):
            while not self.hold.wait(0.05) and batch["status"] != "cancelling":
                pass
            if batch["status"] == "cancelling":
                break
            if self.expire_after is not None and n >= self.expire_after:
                batch["status"] = "expired"
                batch["expired_at"] = int(time.time())
                break
            custom_id = line["custom_id"]
            if custom_id in self.error_lines:
                self.error_lines.discard(custom_id)
                errors.append(self._line(custom_id, 500, {"error": {"message": "injected server error",
                                                                     "type": "server_error"}}))  # fmt: skip
                batch["request_counts"]["failed"] += 1
                continue
            status, answer = chat(self.upstream, line["body"])
            with self.lock:
                self.answered[custom_id] += 1
            if status == 200 and custom_id in self.break_schema:
                self.break_schema.discard(custom_id)
                answer["choices"][0]["message"]["content"] = SCHEMA_BREAKER
                answer["choices"][0].pop("logprobs", None)
            if status == 200:
                output.append(self._line(custom_id, 200, answer))
                batch["request_counts"]["completed"] += 1
            else:
                errors.append(self._line(custom_id, status, answer))
                batch["request_counts"]["failed"] += 1
        batch["status"] = {"cancelling": "cancelled", "expired": "expired"}.get(batch["status"], "finalizing")
        if output:
            batch["output_file_id"] = self._new_file("output.jsonl", "".join(output).encode())
        if errors:
            batch["error_file_id"] = self._new_file("errors.jsonl", "".join(errors).encode())
        now = int(time.time())
        if batch["status"] == "finalizing":
            batch["status"], batch["completed_at"] = "completed", now
        elif batch["status"] == "cancelled":
            batch["cancelled_at"] = now

    @staticmethod
    def _line(custom_id: str, status: int, body: dict[str, Any]) -> str:
        line = {"id": f"batch_req_{secrets.token_hex(6)}", "custom_id": custom_id,
                "response": {"status_code": status, "request_id": f"req_{secrets.token_hex(6)}", "body": body},
                "error": None}  # fmt: skip
        return json.dumps(line) + "\n"

    # -- HTTP ----------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, payload: Any, *, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(payload).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if raw is not None else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[-1] == "models":
                    self._send(200, {"object": "list", "data": [{"id": "batch-server", "object": "model"}]})
                elif parts[1:2] == ["files"] and parts[-1] == "content":
                    self._send(200, None, raw=server.files[parts[2]][1])
                elif parts[1:2] == ["files"]:
                    self._send(200, server._file_object(parts[2]))
                elif parts[1:] == ["batches"]:
                    newest = [server.batches[b] for b in reversed(server.created)]
                    self._send(200, {"object": "list", "data": newest, "has_more": False,
                                     "first_id": newest[0]["id"] if newest else None,
                                     "last_id": newest[-1]["id"] if newest else None})  # fmt: skip
                elif parts[1:2] == ["batches"]:
                    self._send(200, server.batches[parts[2]])
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                parts = self.path.split("?")[0].strip("/").split("/")
                body = self._body()
                if parts[1:] == ["files"]:
                    self._upload(body)
                elif parts[1:] == ["batches"]:
                    self._create(json.loads(body))
                elif parts[1:2] == ["batches"] and parts[-1] == "cancel":
                    batch = server.batches[parts[2]]
                    if batch["status"] in ("validating", "in_progress"):
                        batch["status"], batch["cancelling_at"] = "cancelling", int(time.time())
                    self._send(200, batch)
                elif parts[1:] == ["chat", "completions"]:
                    posted = json.loads(body)
                    with server.lock:
                        server.sync_calls += 1
                        server.sync_bodies.append(posted)
                    status, answer = chat(server.upstream, posted)
                    self._send(status, answer)
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def _upload(self, body: bytes) -> None:
                with server.lock:
                    server.uploads += 1
                    fail = server.fail_uploads > 0
                    server.fail_uploads -= 1 if fail else 0
                if fail:
                    self._send(500, {"error": {"message": "injected upload failure", "type": "server_error"}})
                    return
                head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
                fields = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
                upload = fields["file"]
                data = upload.get_payload(decode=True)
                file_id = server._new_file(upload.get_filename() or "upload", data)
                server.hold_upload.wait()
                self._send(200, server._file_object(file_id))

            def _create(self, request: dict[str, Any]) -> None:
                _, data = server.files[request["input_file_id"]]
                lines = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
                batch_id = f"batch_{secrets.token_hex(8)}"
                now = int(time.time())
                batch = {"id": batch_id, "object": "batch", "endpoint": request["endpoint"], "errors": None,
                         "input_file_id": request["input_file_id"], "completion_window": request["completion_window"],
                         "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": now,
                         "expires_at": now + 86400, "request_counts": {"total": len(lines), "completed": 0,
                                                                        "failed": 0},
                         "metadata": request.get("metadata") or {}}  # fmt: skip
                with server.lock:
                    server.batches[batch_id] = batch
                    server.created.append(batch_id)
                    server.inputs[batch_id] = lines
                worker = threading.Thread(target=server._run, args=(batch, lines), daemon=True)
                server._workers.append(worker)
                worker.start()
                server.hold_create.wait()
                self._send(200, batch)

        return Handler


def vllm_line(custom_id: str, answer: dict[str, Any]) -> dict[str, Any]:
    """An answer as ``vllm run-batch`` writes it: its BatchRequestOutput and ChatCompletionResponse fields."""
    choices = [
        {"index": c.get("index", 0),
         "message": {"role": "assistant", "reasoning_content": None, "content": c["message"].get("content"),
                     "tool_calls": []},
         "logprobs": c.get("logprobs"), "finish_reason": c.get("finish_reason"), "stop_reason": None}
        for c in answer["choices"]
    ]  # fmt: skip
    usage = answer.get("usage") or {}
    body = {"id": f"chatcmpl-{secrets.token_hex(16)}", "object": "chat.completion", "created": int(time.time()),
            "model": answer.get("model"), "choices": choices,
            "usage": {"prompt_tokens": usage.get("prompt_tokens"), "total_tokens": usage.get("total_tokens"),
                      "completion_tokens": usage.get("completion_tokens"), "prompt_tokens_details": None},
            "prompt_logprobs": None, "kv_transfer_params": None}  # fmt: skip
    return {"id": f"vllm-{secrets.token_hex(16)}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": f"vllm-batch-{secrets.token_hex(16)}", "body": body},
            "error": None}  # fmt: skip


def run_batch_file(requests: Path, results: Path, upstream: str) -> Counter[str]:
    """Answer a request file offline as ``vllm run-batch -i REQUESTS -o RESULTS`` does; answers per custom id."""
    answered: Counter[str] = Counter()
    with results.open("w", encoding="utf-8") as out:
        for line in _lines(requests):
            status, answer = chat(upstream, line["body"])
            answered[line["custom_id"]] += 1
            if status == 200:
                out.write(json.dumps(vllm_line(line["custom_id"], answer)) + "\n")
            else:
                failed = {"id": f"vllm-{secrets.token_hex(16)}", "custom_id": line["custom_id"],
                          "response": {"status_code": status, "request_id": f"vllm-batch-{secrets.token_hex(16)}",
                                       "body": None},
                          "error": json.dumps(answer)}  # fmt: skip
                out.write(json.dumps(failed) + "\n")
    return answered


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for raw in handle:
            if raw.strip():
                yield json.loads(raw)
