"""The batch route: a run's requests answered through batch files instead of one call each.

Three ways in, one format (OpenAI's batch JSONL, custom id = the answer's cache key):
the provider's batch API (``--batch``: write, upload, create, wait, download, ingest),
request files for a served cluster (``--batch-file``, answered by ``vllm run-batch``),
and the cluster's results (``--batch-results``). Answers land in the same ledger rows
as synchronous ones, so either route reuses the other's answers. ``route.run_batch``
is the entry point; the lifecycle calls it in place of the synchronous engine.
"""

from winnow.batch.options import BatchOptions

__all__ = ["BatchOptions"]
