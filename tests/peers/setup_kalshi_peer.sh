#!/usr/bin/env bash
# Acceptance peer for the Kalshi simulator: Kalshi's newest official Python SDK in its own virtual
# environment (it needs Python >= 3.13; arbkit's own venv stays as it is).
#
#   tests/peers/setup_kalshi_peer.sh            -> .venv-peer-kalshi at the repository root
#
# tests/integration/sim/test_kalshi_sim_official_sdk_v2.py runs tests/peers/kalshi_sdk_v2_peer.py
# with it, and skips (saying why) when the venv or Python 3.13 is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="${KALSHI_PEER_VERSION:-3.34.0}"
VENV=".venv-peer-kalshi"

PY=""
for cand in python3.13 "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.13"*/bin/python3.13 /usr/bin/python3.13 /usr/local/bin/python3.13; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info >= (3, 13)' 2>/dev/null; then
    PY="$(command -v "$cand")"
    break
  fi
done
if [ -z "$PY" ]; then
  echo "setup_kalshi_peer: no Python >= 3.13 found; the official-SDK peer test will skip" >&2
  exit 0
fi

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
# the pinned version must exist in the registry (pip index versions lists what it can install)
available="$("$VENV/bin/python" -m pip index versions kalshi-python-sync 2>/dev/null || true)"
if ! printf '%s\n' "$available" | grep -qE "(^|[ ,(])${VERSION//./\\.}([,) ]|$)"; then
  echo "setup_kalshi_peer: kalshi-python-sync $VERSION is not in the package index" >&2
  exit 1
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "kalshi-python-sync==$VERSION"
"$VENV/bin/python" -c "import kalshi_python_sync as k; assert k.__version__ == '$VERSION', k.__version__; print('kalshi-python-sync', k.__version__, 'ready in $VENV')"
