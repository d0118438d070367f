#!/usr/bin/env bash
# Acceptance peer for the KuCoin simulator: KuCoin's official Python SDK (kucoin-universal-sdk) in
# its own virtual environment (arbkit's venv stays as it is).
#
#   tests/peers/setup_kucoin_peer.sh            -> .venv-peer-kucoin at the repository root
#
# tests/integration/sim/test_kucoin_sim_official_sdk.py runs tests/peers/kucoin_sdk_peer.py with it
# and skips (saying why) when the venv is absent.
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION="${KUCOIN_PEER_VERSION:-1.3.2}"
VENV=".venv-peer-kucoin"
PY="${KUCOIN_PEER_BASE_PYTHON:-python3}"

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "kucoin-universal-sdk==$VERSION"
"$VENV/bin/python" - <<PYEOF
from importlib.metadata import version
v = version("kucoin-universal-sdk")
assert v == "$VERSION", v
import kucoin_universal_sdk.api  # noqa: F401
print("kucoin-universal-sdk", v, "ready in $VENV")
PYEOF
