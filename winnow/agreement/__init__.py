"""Agreement between model screening decisions and a human gold set.

``metrics`` holds pure estimators (counts in, estimates with CIs out), ``workload``
the ranking figures, ``compare`` the join to a gold set, and ``report`` the dict and
terminal views that ``winnow agree`` prints.
"""

from __future__ import annotations

from winnow.agreement.compare import Matched, counts_for, match_decisions
from winnow.agreement.metrics import (
    Counts,
    Estimate,
    ac1,
    agreement_coefficients,
    kappa,
    krippendorff_alpha,
    pabak,
    screening_metrics,
    wilson,
)
from winnow.agreement.workload import Workload, compute_workload

__all__ = [
    "Counts",
    "Estimate",
    "Matched",
    "Workload",
    "ac1",
    "agreement_coefficients",
    "compute_workload",
    "counts_for",
    "kappa",
    "krippendorff_alpha",
    "match_decisions",
    "pabak",
    "screening_metrics",
    "wilson",
]
