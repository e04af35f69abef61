#!/usr/bin/env bash
# The accelerator check in one command (see benchmarks/gpu_check.py for what it measures):
#
#   benchmarks/gpu_check.sh [--device cuda] [--out DIR] [more gpu_check.py options]
#   benchmarks/gpu_check.sh --device cpu --tiny --out /tmp/gpu_check     # the smoke test
#
# It runs from the source tree on the machine's own torch (nothing is pip-installed over it).
# Wheels the machine lacks (PyAV, simplejpeg for the end-to-end part) can be carried in a folder
# named by $WHEELS; they are unpacked into .gpu_check_deps beside the tree. The whole run is
# capped at 8 minutes (the script's own --budget-s stops measuring before that and writes files).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
deps="$root/.gpu_check_deps"
if [ -n "${WHEELS:-}" ] && ! "$python" -c "import av, simplejpeg" 2>/dev/null; then
    "$python" -m pip install --quiet --no-index --no-deps --target "$deps" "$WHEELS"/*.whl
fi
export PYTHONPATH="$root/src:$deps${PYTHONPATH:+:$PYTHONPATH}"
exec timeout --signal=INT --kill-after=20 480 "$python" "$root/benchmarks/gpu_check.py" "$@"
