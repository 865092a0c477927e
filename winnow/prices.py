"""Cost estimates from an editable price table; unknown models get no number at all."""

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
                where, f"price table must map model ids to {{input, output, cached_input}}: {exc}"
            ) from None
        return cls(prices)

    def cost(
        self, model_id: str, prompt_tokens: int | None, completion_tokens: int | None, cached_tokens: int | None = None
    ) -> float | None:
        """USD for one call; 0 for the embedded model; None when the model is not priced."""
        if is_embedded_id(model_id):
            return 0.0
        price = self._prices.get(model_id)
        if price is None or prompt_tokens is None or completion_tokens is None:
            return None
        cached = cached_tokens or 0
        cached_rate = price.cached_input if price.cached_input is not None else price.input
        return ((prompt_tokens - cached) * price.input + cached * cached_rate + completion_tokens * price.output) / 1e6

    def known(self, model_id: str) -> bool:
        return is_embedded_id(model_id) or model_id in self._prices
