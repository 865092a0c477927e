"""winnow: LLM-assisted screening and extraction for systematic reviews.

An install maps the repo's top-level ``screening/``, ``extraction/``, ``prompts/`` and
``gold/`` folders into this package (see ``pyproject.toml``). Run from a source checkout
(``python -m winnow`` in the repo, or the checkout on ``PYTHONPATH``) there is no such
mapping, so the checkout's root joins this package's search path and
``winnow.screening`` is the same folder either way.
"""

from pathlib import Path as _Path

__version__ = "0.1.0"

_checkout = _Path(__file__).resolve().parent.parent
if (_checkout / "pyproject.toml").is_file() and (_checkout / "screening" / "__init__.py").is_file():
    __path__.append(str(_checkout))
