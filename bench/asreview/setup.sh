#!/usr/bin/env bash
# Create bench/asreview/.venv with asreview==3.0.8 (kept apart from winnow's venv:
# asreview pins pandas<3). Idempotent: does nothing when that version is installed.
# No torch: 3.0.8's default model (tf-idf + naive Bayes) needs only scikit-learn.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
VERSION="3.0.8"
PY="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && \
   [ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("asreview"))' 2>/dev/null)" = "$VERSION" ]; then
    echo "asreview $VERSION already installed in $VENV"
    exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "asreview==$VERSION"
"$VENV/bin/python" -c 'from importlib.metadata import version; print("installed asreview", version("asreview"))'
