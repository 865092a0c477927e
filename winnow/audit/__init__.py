"""The audit of disagreements between model decisions and the gold set, riskiest first.

Order: gold include but model exclude (missed studies) first, then records the model
left uncertain (or failed on), then gold exclude but model include. Within a group the
most confident wrong answers come first.
"""

from __future__ import annotations

from winnow.audit.adjudicate import (
    CHOICES,
    Verdict,
    adjudicate_interactively,
    adjudication_key,
    default_ledger_path,
    export_adjudicated_gold,
    import_verdicts,
    latest_verdicts,
    record_verdict,
    resolve_label,
)
from winnow.audit.items import KINDS, AuditItem, collect_disagreements
from winnow.audit.report import audit_json, render_audit, render_item

__all__ = [
    "CHOICES",
    "KINDS",
    "AuditItem",
    "Verdict",
    "adjudicate_interactively",
    "adjudication_key",
    "audit_json",
    "collect_disagreements",
    "default_ledger_path",
    "export_adjudicated_gold",
    "import_verdicts",
    "latest_verdicts",
    "record_verdict",
    "render_audit",
    "render_item",
    "resolve_label",
]
