"""Cost estimates from an editable price table; unknown models get no number at all.

A model's entry may carry batch prices (``batch_input``, ``batch_cached_input``,
``batch_output``): what the provider's batch API charges for the same tokens. A
batch answer is priced at them; a model with no batch prices has no batch cost,
never a guessed one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from winnow.backends import is_embedded_id
from winnow.errors import InputError


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cached_input: float | None = None
    batch_input: float | None = None
    batch_cached_input: float | None = None
    batch_output: float | None = None

    def rates(self, *, batch: bool) -> tuple[float, float, float] | None:
        """(input, cached input, output) USD per million tokens, or None: no batch price is listed."""
        if not batch:
            return self.input, self.cached_input if self.cached_input is not None else self.input, self.output
        if self.batch_input is None or self.batch_output is None:
            return None
        cached = self.batch_cached_input if self.batch_cached_input is not None else self.batch_input
        return self.batch_input, cached, self.batch_output


class PriceTable:
    def __init__(self, prices: dict[str, Price]) -> None:
        self._prices = prices

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        source = path or os.environ.get("WINNOW_PRICES")
        if source is None:
            text = resources.files("winnow").joinpath("prices.yaml").read_text(encoding="utf-8")
            where: str | Path = "winnow/prices.yaml"
        else:
            where = Path(source)
            try:
                text = Path(source).read_text(encoding="utf-8")
            except OSError as exc:
                raise InputError(source, f"cannot read price table: {exc.strerror or exc}") from exc
        try:
            data = yaml.safe_load(text) or {}
            prices = {str(k): Price(**v) for k, v in data.items()}
        except (yaml.YAMLError, TypeError, AttributeError) as exc:
            raise InputError(
                where,
                "price table must map model ids to {input, output, cached_input, batch_input, batch_cached_input,"
                f" batch_output}}: {exc}",
            ) from None
        return cls(prices)

    def cost(
        self,
        model_id: str,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None = None,
        *,
        batch: bool = False,
    ) -> float | None:
        """USD for one call (at batch prices when ``batch``); 0 for the embedded model; None when not priced."""
        if is_embedded_id(model_id):
            return 0.0
        price = self._prices.get(model_id)
        if price is None or prompt_tokens is None or completion_tokens is None:
            return None
        rates = price.rates(batch=batch)
        if rates is None:
            return None
        input_rate, cached_rate, output_rate = rates
        cached = cached_tokens or 0
        return ((prompt_tokens - cached) * input_rate + cached * cached_rate + completion_tokens * output_rate) / 1e6

    def known(self, model_id: str, *, batch: bool = False) -> bool:
        if is_embedded_id(model_id):
            return True
        price = self._prices.get(model_id)
        return price is not None and price.rates(batch=batch) is not None
