#!/usr/bin/env bash
# The benchmark environment: arbkit plus the peers it is compared with side by side.
# Peers are never runtime dependencies of arbkit.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-bench
.venv-bench/bin/pip install -q -e '.[test]' -r bench/requirements-peers.txt
echo "benchmark environment ready: .venv-bench/bin/python -m bench NAME"
