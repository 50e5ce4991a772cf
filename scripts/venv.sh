# Sourced by ./run and ./run-tests: creates .venv with Python >= 3.11 and installs the
# project (with the extras named in $1) whenever pyproject.toml has changed since last time.
set -euo pipefail
FOLLOWUP_EXTRAS="${1:-}"
PYTHON_BIN="$(command -v python3.11 || command -v python3 || true)"
if [ -z "$PYTHON_BIN" ]; then
    echo "followup: Python 3.11 or newer is needed (python3.11 or python3 on PATH)" >&2
    exit 1
fi
if ! "$PYTHON_BIN" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "followup: $PYTHON_BIN is older than Python 3.11" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "followup: creating .venv with $PYTHON_BIN"
    "$PYTHON_BIN" -m venv .venv
fi
stamp_value="$(cat pyproject.toml | sha256sum | cut -c1-16)-${FOLLOWUP_EXTRAS:-base}"
stamp_file=".venv/.followup-installed-${FOLLOWUP_EXTRAS:-base}"
if [ "$(cat "$stamp_file" 2>/dev/null || true)" != "$stamp_value" ]; then
    echo "followup: installing Python packages${FOLLOWUP_EXTRAS:+ (with $FOLLOWUP_EXTRAS)}"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    if [ -n "$FOLLOWUP_EXTRAS" ]; then
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$FOLLOWUP_EXTRAS]"
    else
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
    fi
    echo "$stamp_value" > "$stamp_file"
fi
