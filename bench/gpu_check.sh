#!/usr/bin/env bash
# One call for the GPU device tool: build the CUDA extension, run the CUDA parity tests and the
# GPU benchmarks, write everything under $OUT (default ./gpu_check_out). Budget: ~5 minutes.
#
#   bash bench/gpu_check.sh            # from the repository root
#
# Each step has its own timeout and the script goes on after a failure, so one broken step still
# leaves the others' results; the exit status is non-zero if any step failed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-$PWD/gpu_check_out}"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
export NBSKIT_CACHE="${NBSKIT_CACHE:-/tmp/nbskit-gpu-cache}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
STATUS=0

step() {  # step NAME SECONDS COMMAND...: run with a timeout, log to $OUT/NAME.log, record the result
  local name="$1" seconds="$2"
  shift 2
  local start=$SECONDS
  echo "== $name (limit ${seconds}s)"
  timeout "$seconds" "$@" >"$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - start))" | tee -a "$OUT/steps.txt"
  tail -n 25 "$OUT/$name.log"
  [ "$rc" -eq 0 ] || STATUS=1
}

{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  "$PYTHON" -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
  nvcc --version | tail -n 1
  for module in numpy tqdm pytest ninja; do
    "$PYTHON" -c "import $module" 2>/dev/null && echo "python module $module: yes" || echo "python module $module: MISSING"
  done
} >"$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"

step build 240 "$PYTHON" -m nbskit_cuda.build --kinds cuda
if "$PYTHON" -c "import pytest" 2>/dev/null; then
  # "not cpu": the CPU parametrisations already run in CI; this machine only adds the CUDA ones.
  step parity 120 "$PYTHON" -m pytest -q -k "not cpu" --junitxml="$OUT/parity.xml" \
    tests/test_cuda_core_encoding.py tests/test_cuda_core_render.py tests/test_table_optimizer.py
else
  echo "parity: pytest is not installed on this machine; skipped" | tee -a "$OUT/steps.txt"
  STATUS=1
fi
step bench_encode 120 "$PYTHON" -m bench.encode --devices cuda --dtypes float32,float16 --repeats 20 \
  --warmup 3 --out "$OUT/encode.json"
step bench_march 60 "$PYTHON" -m bench.march --devices cuda --rays 262144 --repeats 10 --out "$OUT/march.json"
if [ -f bench/step.py ]; then
  # Dense Adam vs row-sparse Adam on the tables: 2^17 samples (nearly every row touched), then
  # 2^12 samples (most hashed rows untouched).
  step bench_step 90 "$PYTHON" -m bench.step --devices cuda --repeats 20 --out "$OUT/step.json"
  step bench_step_few_samples 90 "$PYTHON" -m bench.step --devices cuda --repeats 20 --samples 4096 \
    --out "$OUT/step_few_samples.json"
fi
exit $STATUS
