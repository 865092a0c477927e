"""PNG figures for the synthesis: stacked bars of categories per year, a heatmap for the cross-tab.

matplotlib is the ``plot`` extra; without it the tables are still written and the
caller says which figures were left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["cross_heatmap", "stacked_by_year"]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def stacked_by_year(
    by_year: Sequence[dict[str, Any]], fname: str, out: Path, *, counted: str, multi: bool = False
) -> Path:
    """Papers per year, one stacked bar per year, one colour per category of ``fname``."""
    plt = _pyplot()
    rows = [r for r in by_year if r["field"] == fname]
    years = sorted({r["year"] for r in rows})
    categories = list(dict.fromkeys(r["category"] for r in rows if r["papers"]))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    bottom = [0] * len(years)
    for category in categories:
        heights = [next((r["papers"] for r in rows if r["year"] == y and r["category"] == category), 0) for y in years]
        ax.bar([str(y) for y in years], heights, bottom=bottom, label=category)
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.set_xlabel("publication year")
    ax.set_ylabel("papers")
    note = ";\na paper with several categories counts in each" if multi else ""
    ax.set_title(f"{fname} by year ({counted}{note})", fontsize=9)
    ax.legend(fontsize=8, bbox_to_anchor=(1.02, 1), loc="upper left")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def cross_heatmap(
    cells: Sequence[dict[str, Any]],
    fields: tuple[str, str],
    categories: tuple[list[str], list[str]],
    out: Path,
    *,
    counted: str,
) -> Path:
    """Papers per pair of categories of two fields, numbers written in the cells."""
    plt = _pyplot()
    a, b = fields
    rows, cols = categories
    grid = [[0] * len(cols) for _ in rows]
    for cell in cells:
        if cell[a] in rows and cell[b] in cols:
            grid[rows.index(cell[a])][cols.index(cell[b])] = cell["papers"]
    fig, ax = plt.subplots(figsize=(max(5.5, 2 + 0.75 * len(cols)), max(3.2, 1.8 + 0.45 * len(rows))), dpi=100)
    image = ax.imshow(grid, cmap="Blues", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    peak = max((max(r) for r in grid if r), default=0)
    for i, row in enumerate(grid):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", fontsize=8, color="white" if n > peak / 2 else "black")
    ax.set_xlabel(b)
    ax.set_ylabel(a)
    ax.set_title(f"{a} x {b}\n(papers, {counted})", fontsize=9)
    fig.colorbar(image, ax=ax, label="papers")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out
