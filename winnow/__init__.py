"""winnow: LLM-assisted screening and extraction for systematic reviews."""

__version__ = "0.1.0"
