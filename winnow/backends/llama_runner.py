"""llama.cpp in this process: load a GGUF, answer one request, read P(label) from the logits.

This is what runs inside the embedded model's child process (``winnow/backends/model_process.py``);
nothing in the parent process calls it, so a native crash here ends only that child. Structured
output comes from a grammar compiled from the JSON schema (llama.cpp ignores OpenAI-style
``json_schema`` in-process), and P(label) from the logits where the label value begins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from winnow.backends.base import ModelRequest, ModelResponse
from winnow.backends.labels import label_value_offset
from winnow.backends.llama_cpu import BufferChoice, model_params
from winnow.errors import BackendError

if TYPE_CHECKING:
    import numpy as np
    from llama_cpp import Llama


@dataclass(frozen=True)
class RunnerConfig:
    """Everything a child process needs to load the model, as plain picklable values."""

    model_id: str
    path: Path
    n_ctx: int
    n_threads: int
    buffers: BufferChoice


class LlamaRunner:
    """One loaded llama.cpp model, answering one request at a time."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.model_id = config.model_id
        self.path = config.path
        self.n_ctx = config.n_ctx
        self._llama: Llama | None = None
        self._label_token_cache: dict[tuple[str, ...], dict[str, list[int]]] = {}

    @property
    def served_model(self) -> str:
        return self.path.name

    def load(self) -> Llama:
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise BackendError(f"{self.model_id}: llama-cpp-python is not installed ({exc})") from exc
            try:
                with model_params(self.config.buffers):
                    self._llama = Llama(
                        model_path=str(self.path),
                        n_ctx=self.n_ctx,
                        n_threads=self.config.n_threads,
                        seed=0,
                        verbose=False,
                    )
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"{self.model_id}: cannot load {self.path}: {exc}") from exc
        return self._llama

    def _format(self, llama: Llama, messages: tuple[dict[str, str], ...]) -> str:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise BackendError(f"{self.model_id}: the GGUF has no chat template; it is not an instruction-tuned model")
        eos = llama.detokenize([llama.token_eos()]).decode("utf-8", "ignore")
        bos = llama.detokenize([llama.token_bos()]).decode("utf-8", "ignore")
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        return formatter(messages=list(messages)).prompt  # type: ignore[arg-type]  # plain role/content dicts

    def complete(self, request: ModelRequest) -> ModelResponse:
        llama = self.load()
        prompt = self._format(llama, request.messages)
        n_prompt = len(llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))
        if n_prompt + request.max_tokens > self.n_ctx:
            raise BackendError(
                f"prompt has {n_prompt} tokens; with {request.max_tokens} for the answer it exceeds the "
                f"{self.n_ctx}-token context of {self.path.name}"
            )
        from llama_cpp import LogitsProcessorList

        watcher = _LabelWatcher(llama, request.label_field) if request.label_field and request.labels else None
        result: Any = llama.create_completion(
            prompt,
            grammar=_grammar(json.dumps(request.schema)),
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            logits_processor=LogitsProcessorList([watcher]) if watcher else None,
        )
        text = result["choices"][0]["text"]
        finish_reason = result["choices"][0].get("finish_reason")
        usage = result.get("usage") or {}
        probs = None
        if watcher is not None:
            if watcher.logits is not None:
                probs = self._probs_from_logits(llama, watcher.logits, request.labels)
            else:
                probs = self._label_probs(llama, prompt, text, request.label_field or "", request.labels)
        return ModelResponse(
            text=text,
            served_model=self.served_model,
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            label_probs=probs,
            confidence_source="next_token_logits" if probs else "none",
            finish_reason=finish_reason,
        )

    def _label_probs(
        self, llama: Llama, prompt: str, text: str, field_name: str, labels: tuple[str, ...]
    ) -> dict[str, float] | None:
        """One extra forward pass over prompt + answer prefix, reading the next-token logits.

        Needed only when the generated tokens did not stop exactly where the label value
        begins (a token that spans the opening quote and the label's first letters).
        """
        offset = label_value_offset(text, field_name)
        if offset is None:
            return None
        captured: list[np.ndarray] = []

        def capture(_ids: Any, scores: np.ndarray) -> np.ndarray:
            if not captured:
                captured.append(scores.copy())
            return scores

        from llama_cpp import LogitsProcessorList

        llama.create_completion(
            prompt + text[:offset], max_tokens=1, temperature=0.0, logits_processor=LogitsProcessorList([capture])
        )
        if not captured:
            return None
        return self._probs_from_logits(llama, captured[0], labels)

    def _probs_from_logits(self, llama: Llama, raw: np.ndarray, labels: tuple[str, ...]) -> dict[str, float] | None:
        import numpy as np

        logits = raw.astype("float64")
        shifted = np.exp(logits - logits.max())
        mass = {label: float(shifted[ids].sum()) for label, ids in self._label_tokens(llama, labels).items()}
        total = sum(mass.values())
        if total <= 0.0:
            return None
        return {label: value / total for label, value in mass.items()}

    def _label_tokens(self, llama: Llama, labels: tuple[str, ...]) -> dict[str, list[int]]:
        """Every vocabulary token the JSON grammar would allow as the first piece of each label.

        Summing over all of them, not just the label's canonical first token, is what makes
        the figure the probability of the label rather than of one spelling of it.
        """
        if labels not in self._label_token_cache:
            allowed: dict[str, list[int]] = {label: [] for label in labels}
            for token_id in range(llama.n_vocab()):
                piece = llama.detokenize([token_id]).decode("utf-8", "ignore")
                if not piece:
                    continue
                for label in labels:
                    closed = label + '"'
                    if closed.startswith(piece) or piece.startswith(closed):
                        allowed[label].append(token_id)
                        break
            self._label_token_cache[labels] = allowed
        return self._label_token_cache[labels]


class _LabelWatcher:
    """A logits processor that keeps the raw logits at the step where the label value starts.

    It sees every generation step anyway, so reading P(label) here costs no extra pass.
    """

    def __init__(self, llama: Llama, field_name: str) -> None:
        self._llama = llama
        self._field = field_name
        self._n_prompt: int | None = None
        self._seen = 0
        self._text = b""
        self.logits: np.ndarray | None = None
        self._done = False

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        if self._done:
            return scores
        if self._n_prompt is None:
            self._n_prompt = self._seen = len(input_ids)
        if len(input_ids) > self._seen:
            self._text += self._llama.detokenize(list(input_ids[self._seen :]))
            self._seen = len(input_ids)
        text = self._text.decode("utf-8", "ignore")
        offset = label_value_offset(text, self._field)
        if offset is not None:
            self._done = True
            if offset == len(text):
                self.logits = scores.copy()
        return scores


@lru_cache(maxsize=8)
def _grammar(schema_json: str) -> Any:
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)
