#!/usr/bin/env bash
# The CUDA path on a real card, measured into one JSON file (see benchmarks/gpu_check.py):
#   benchmarks/gpu_check.sh [OUT.json]        (default gpu_check.json; about 8 minutes at most)
# Packages the machine lacks (bitsandbytes, gguf, platformdirs, llama-cpp-python) can travel
# as wheels in .whl/: they are installed into a scratch folder first. Without a CUDA device it
# writes {"cuda": false, "reason": "no CUDA device"} and exits 0. SMOKE=1 runs every section on
# the CPU with tiny shapes (the script's own check; its figures mean nothing).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu_check.json}"
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ] && python=.venv/bin/python
if ls .whl/*.whl >/dev/null 2>&1; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/gpu-check-site .whl/*.whl && export PYTHONPATH="/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}"
fi
smoke=()
[ "${SMOKE:-0}" = "1" ] && smoke=(--smoke)
PYTHONUNBUFFERED=1 timeout 480 "$python" benchmarks/gpu_check.py --out "$out" "${smoke[@]}"
status=$?
[ -f "$out" ] && echo "gpu_check: wrote $out"
exit "$status"
