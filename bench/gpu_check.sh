#!/usr/bin/env bash
# The GPU check, in one command on a GPU machine: build the CUDA core, run its CUDA parity tests,
# time the encoder, train the `paper` preset on the `paper` subject for 120 s and time a trained
# 512² frame, then the other GPU benchmarks (step, march, random-field render) and, if time is
# left, `bench.paper.run_all --gpu`. Steps run in that order: what the targets need comes first.
#
# 1. Here, on the development machine, once per checkout (needs the internet; ~1 min):
#        bash bench/gpu_prepare.sh
#    It downloads the wheels and GL loader packages the device image lacks, renders a short 512²
#    fallback subject, and prints the carry list below with the size of what travels (limit
#    64 MiB). The golden vectors and the ICT model are part of the repository and travel with it.
# 2. On the GPU machine, from a copy of the checkout that includes the ignored folders .whl, .gl
#    and runs/gpu_carry, with a 600 s limit:
#        bash bench/gpu_check.sh
#    The script stops itself after GPU_CHECK_BUDGET_S (540 s): about 11 of 15 minutes of GPU time
#    with the machine's start. Results come back under $OUT: summary.json (every step's status, rc and
#    seconds, the card, the key numbers; rewritten after each step), gpu_check.log (all output),
#    build_cuda.log (the compiler log, if the build failed) and logs.tar.gz (per-step logs and
#    JSON). The last lines of the output are the headline numbers.
#    A rerun at once (the machine stays warm for 30 s), with the same carry list, reuses the build
#    and the subject in /tmp/nbskit_gpu_check, e.g. only the paper claims (about four minutes); give
#    it a budget that ends before the device time does (LEFT: the seconds `status` reports left):
#        run(command="GPU_CHECK_BUDGET_S=<LEFT-40> GPU_CHECK_STEPS=subject,run_all bash bench/gpu_check.sh",
#            timeout_s=<LEFT-20>, carry=[same])
#
# Dry run of the whole logic on a CPU, tiny sizes (tests/test_bench_gpu_check.py runs it):
#        GPU_CHECK_MODE=dry bash bench/gpu_check.sh
#
# Every step has its own time limit (cut to what is left of the budget) and the script goes on
# after a failure; a step whose Python modules are missing is skipped with their names. Each
# parity test has its own time limit too (NBSKIT_TEST_TIMEOUT_S), so one hung kernel costs one test.
# The subject synthesis (CPU work) runs in the background during the build and the parity tests
# only: it is paused while anything is timed, and awaited before training. Exit status: 0 if no
# step failed. Settings (environment): GPU_CHECK_MODE (gpu|dry), GPU_CHECK_STEPS (comma-separated
# step names, default all), GPU_CHECK_BUDGET_S, GPU_CHECK_WORK, GPU_CHECK_FALLBACK_SUBJECT
# (trained on when the subject step leaves none), OUT, PYTHON.
set -uo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
MODE="${GPU_CHECK_MODE:-gpu}"
STEPS="${GPU_CHECK_STEPS:-all}"
WORK="${GPU_CHECK_WORK:-/tmp/nbskit_gpu_check}"
OUT="${OUT:-$REPO/runs/gpu_check_out}"
LOGS="$WORK/logs"
PAPER_WORK="$WORK/paper_work"  # subjects and training runs of bench.paper (reused by a rerun)
RESERVE_S=25  # kept back at the end for the summary and the log bundle
mkdir -p "$OUT" "$LOGS"
rm -f "$WORK/steps.jsonl" "$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1 PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

case "$MODE" in
  gpu)
    PYTHON="${PYTHON:-python3}"
    DEVICE=cuda
    BUDGET_S="${GPU_CHECK_BUDGET_S:-540}"
    SUBJECT_PRESET=paper
    # From gpu_prepare.sh: a 160-frame clip of the paper subject, trained on if synthesis fails.
    FALLBACK_SUBJECT="${GPU_CHECK_FALLBACK_SUBJECT-$REPO/runs/gpu_carry/subject}"
    BUILD_ARGS=(--kinds cuda)
    PARITY_ARGS=(-q)  # only the CUDA cases (NBSKIT_TEST_CUDA_ONLY below): the CPU ones run in CI
    PARITY_TEST_TIMEOUT_S=60
    ENCODE_ARGS=(--devices cuda --dtypes float32,float16 --repeats 20 --warmup 3)
    STEP_ARGS=(--devices cuda --backends cuda --repeats 10 --warmup 3)
    # A few hundred samples touch only a small part of the hashed rows (at 4096 samples about 86 %
    # of all rows get a gradient): where a row-sparse update should pay.
    STEP_FEW_SAMPLES=256
    MARCH_ARGS=(--devices cuda --backends cuda --rays 262144 --repeats 5 --warmup 1)
    RENDER_RANDOM_ARGS=(--device cuda --backends cuda --size 512 --chunks default,frame --repeats 5 --warmup 1)
    TTP_ARGS=(--preset paper --budget-s 120 --eval-every-s 15 --curve-frames 8)
    TTP_NEED_S=200  # 120 s of training + loading 1800 frames + curve and final evaluations + checkpoint
    RENDER_TRAINED_ARGS=(--device cuda --backends cuda --chunks default,frame --repeats 20 --warmup 3)
    RUN_ALL_ARGS=(--gpu)
    ;;
  dry)
    PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
    DEVICE=cpu
    BUDGET_S="${GPU_CHECK_BUDGET_S:-1500}"
    SUBJECT_PRESET=tiny
    FALLBACK_SUBJECT="${GPU_CHECK_FALLBACK_SUBJECT-}"
    BUILD_ARGS=(--kinds cpu)
    PARITY_ARGS=(-q --collect-only)
    PARITY_TEST_TIMEOUT_S=60
    TINY=(--repeats 1 --warmup 0 --threads 2)
    ENCODE_ARGS=(--devices cpu --samples 4096 -K 4 "${TINY[@]}")
    STEP_ARGS=(--devices cpu --samples 4096 -K 4 "${TINY[@]}")
    STEP_FEW_SAMPLES=512
    MARCH_ARGS=(--devices cpu --rays 1024 "${TINY[@]}")
    RENDER_RANDOM_ARGS=(--device cpu --size 16 --expressions 4 --chunks default,frame "${TINY[@]}")
    TTP_ARGS=(--preset cpu-smoke --budget-s 3 --eval-every-s 1.5 --curve-frames 1 --final-frames 2
              --calibration-steps 2 --threads 2 --override max_image_size=32 --override rays_per_frame=64
              --override march_max_steps=32 --override grid_resolution=16)
    TTP_NEED_S=60
    RENDER_TRAINED_ARGS=(--device cpu "${TINY[@]}")
    RUN_ALL_ARGS=(--profile toy --only fig8_speed,table2 --threads 2)
    ;;
  *)
    echo "GPU_CHECK_MODE must be gpu or dry, got '$MODE'" >&2
    exit 2
    ;;
esac
DEADLINE=$((SECONDS + BUDGET_S))
FAILED=0

log() { echo "$*" | tee -a "$OUT/gpu_check.log"; }

summarise() {  # rewrite $OUT/summary.json from everything written so far (standard library only: fast)
  "$PYTHON" -m bench.gpu_summary --work "$WORK" --out "$OUT/summary.json" --device "$DEVICE" --mode "$MODE" "$@" \
    2>>"$OUT/gpu_check.log"
}

# record NAME STATUS RC START_S SECONDS LIMIT REASON: one line of steps.jsonl, then a fresh summary.
# START_S counts from the start of the check, so overlaps with the background synthesis can be read off.
record() {
  local reason="${7//\"/\'}"
  printf '{"step": "%s", "status": "%s", "rc": %s, "start_s": %s, "seconds": %s, "limit_s": %s, "reason": "%s"}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "$reason" >>"$WORK/steps.jsonl"
  { [ "$2" = failed ] || [ "$2" = timeout ]; } && FAILED=1
  summarise
}

skip() {  # skip NAME REASON
  log "-- $1 skipped: $2"
  record "$1" skipped null "$SECONDS" 0 0 "$2"
}

selected() { [ "$STEPS" = all ] || [[ ",$STEPS," == *",$1,"* ]]; }

# cannot_run NAME REASON: skip a step whose input is missing (or that was not asked for).
cannot_run() {
  if selected "$1"; then skip "$1" "$2"; else skip "$1" "not in GPU_CHECK_STEPS=$STEPS"; fi
}

missing_modules() { [ $# -eq 0 ] || "$PYTHON" -m bench.gpu_env --missing "$@"; }

seconds_left() { echo $((DEADLINE - SECONDS - RESERVE_S)); }

# can_run NAME NEED_S MODULES...: 0 if the step should run now, else records why it is skipped.
can_run() {
  local name="$1" need="$2" missing left
  shift 2
  if ! selected "$name"; then skip "$name" "not in GPU_CHECK_STEPS=$STEPS"; return 1; fi
  missing="$(missing_modules "$@")"
  if [ -n "$missing" ]; then skip "$name" "missing Python modules: $missing"; return 1; fi
  left="$(seconds_left)"
  if [ "$left" -lt "$need" ]; then skip "$name" "budget: ${left} s left, needs ${need} s"; return 1; fi
  return 0
}

# finish NAME RC START LIMIT [END [REASON]]: status from the exit code, the log's end on stdout.
# START and END are $SECONDS values (END: now unless given).
finish() {
  local name="$1" rc="$2" start="$3" limit="$4" end="${5:-$SECONDS}" reason="${6:-}" status=ok
  [ "$rc" -eq 0 ] || status=failed
  { [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; } && status=timeout
  tail -n 12 "$LOGS/$name.log"
  log "== $name: $status (rc=$rc, $((end - start)) s of at most $limit)"
  record "$name" "$status" "$rc" "$start" "$((end - start))" "$limit" "$reason"
}

# step NAME LIMIT_S NEED_S "MODULES" COMMAND...: run COMMAND with a time limit, log, record. Its
# output goes to LOGS/NAME.log and, as it comes, to $OUT/gpu_check.log, which thus holds everything
# up to the moment even if the command is stopped from outside.
# A step writes WORK/NAME.json (parity: NAME.xml; run_all: the folder WORK/NAME), removed first so a
# failed rerun on a warm machine never leaves an earlier result looking new. Steps not run keep
# theirs: the summary of a rerun also holds what earlier calls measured (its "steps" say which ran).
step() {
  local name="$1" limit="$2" need="$3" modules="$4" start rc left
  shift 4
  # shellcheck disable=SC2086 # MODULES is a space-separated list
  can_run "$name" "$need" $modules || return 0
  rm -rf "${WORK:?}/$name.json" "$WORK/$name.xml" "$WORK/$name"
  left="$(seconds_left)"
  [ "$limit" -le "$left" ] || limit="$left"
  log "== $name (limit ${limit} s)"
  start=$SECONDS
  timeout -k 10 "$limit" "$@" 2>&1 | tee "$LOGS/$name.log" >>"$OUT/gpu_check.log"
  rc=${PIPESTATUS[0]}
  finish "$name" "$rc" "$start" "$limit"
}

# ---------------------------------------------------------------- the machine
if [ "$MODE" = gpu ]; then
  # Wheels and GL loaders carried from the development machine (bench/gpu_prepare.sh); the device
  # machine cannot download anything. The loaders are unpacked into / only where an NVIDIA driver
  # is (never in dry mode, never on a machine without a GPU).
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/nbskit_site \
      .whl/*.whl >>"$OUT/gpu_check.log" 2>&1 && export PYTHONPATH="$PYTHONPATH:/tmp/nbskit_site"
  fi
  if compgen -G ".gl/*.deb" >/dev/null && [ "$(id -u)" = 0 ] && command -v nvidia-smi >/dev/null; then
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  fi
  EGL_VENDOR=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f "$EGL_VENDOR" ] && export __EGL_VENDOR_LIBRARY_FILENAMES="$EGL_VENDOR"
  CAPABILITY="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1)"
  [ -n "$CAPABILITY" ] && export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$CAPABILITY}"
  export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
  export NBSKIT_CACHE="${NBSKIT_CACHE:-$WORK/cache}"  # kept in /tmp: a rerun on the warm machine reuses the build
fi
log "GPU check, mode $MODE, budget $BUDGET_S s, steps: $STEPS, work $WORK, out $OUT"
step environment 60 10 "" "$PYTHON" -m bench.gpu_env --out "$WORK/environment.json"

# ---------------------------------------------------------------- the subject, in the background
# Synthesis is mostly CPU work (PNG encoding, supersampling) with a little EGL rendering, so it runs
# beside the build, the parity tests and the benchmarks; each step's start_s and seconds in
# summary.json show which of them overlapped it. It is waited for before training, and stopped if
# it would leave too little time for training (then the carried fallback subject is used).
SUBJECT_PID=""
rm -f "$WORK/subject.json"
if can_run subject 60 moderngl scipy PIL tqdm; then
  SUBJECT_LIMIT="$(seconds_left)"
  SUBJECT_START=$SECONDS
  SUBJECT_START_EPOCH="$(date +%s)"
  log "== subject: synthesising the $SUBJECT_PRESET subject in the background (limit $SUBJECT_LIMIT s)"
  timeout -k 10 "$SUBJECT_LIMIT" "$PYTHON" -m bench.gpu_subject --preset "$SUBJECT_PRESET" --work "$PAPER_WORK" \
    --out "$WORK/subject.json" >"$LOGS/subject.log" 2>&1 &
  SUBJECT_PID=$!
fi

# finish_subject WAIT_UNTIL: wait for the synthesis until then at most (stopping it after that).
finish_subject() {
  [ -n "$SUBJECT_PID" ] || return 0
  local reason="" rc ended
  while kill -0 "$SUBJECT_PID" 2>/dev/null && [ "$SECONDS" -lt "$1" ]; do sleep 1; done
  if kill -0 "$SUBJECT_PID" 2>/dev/null; then
    kill -TERM "$SUBJECT_PID"  # timeout passes the signal on to the synthesis
    reason="stopped after $((SECONDS - SUBJECT_START)) s to leave $TTP_NEED_S s for training"
  fi
  wait "$SUBJECT_PID"
  rc=$?
  # It ended when its log was last written (it prints its description last), not when we looked.
  ended=$((SUBJECT_START + $(stat -c %Y "$LOGS/subject.log") - SUBJECT_START_EPOCH))
  { echo "== subject (ran in the background)"; cat "$LOGS/subject.log"; } >>"$OUT/gpu_check.log"
  finish subject "$rc" "$SUBJECT_START" "$SUBJECT_LIMIT" "$ended" "$reason"
  SUBJECT_PID=""
}

# pause_subject / resume_subject: stop the background synthesis while something is timed (timeout
# runs it in its own process group: signal the whole group).
pause_subject() { [ -z "$SUBJECT_PID" ] || kill -STOP -- "-$SUBJECT_PID" 2>/dev/null || true; }
resume_subject() { [ -z "$SUBJECT_PID" ] || kill -CONT -- "-$SUBJECT_PID" 2>/dev/null || true; }

# ---------------------------------------------------------------- kernels: build, parity, encoder
if [ -n "${NBSKIT_NO_COMPILED:-}" ] && [ "$NBSKIT_NO_COMPILED" != 0 ]; then
  skip build "compiled core disabled by NBSKIT_NO_COMPILED=$NBSKIT_NO_COMPILED"
else
  # A failed build prints the end of its compiler log and leaves the whole log in $OUT.
  step build 300 30 "" "$PYTHON" -m nbskit_cuda.build "${BUILD_ARGS[@]}" --copy-failed-logs-to "$OUT"
fi
step parity 150 30 "pytest" env NBSKIT_TEST_CUDA_ONLY=1 NBSKIT_TEST_TIMEOUT_S="$PARITY_TEST_TIMEOUT_S" \
  "$PYTHON" -m pytest "${PARITY_ARGS[@]}" -p no:cacheprovider \
  --junitxml="$WORK/parity.xml" tests/test_cuda_core_encoding.py tests/test_cuda_core_render.py \
  tests/test_cuda_core_bad_inputs.py tests/test_table_optimizer.py
pause_subject
step encode 120 20 "tqdm" "$PYTHON" -m bench.encode "${ENCODE_ARGS[@]}" --out "$WORK/encode.json"
resume_subject

# ---------------------------------------------------------------- training: time to PSNR, trained frame
finish_subject "$((DEADLINE - RESERVE_S - TTP_NEED_S))"
SUBJECT_DIR=""
if [ -f "$WORK/subject.json" ]; then
  SUBJECT_DIR="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["path"])' "$WORK/subject.json")"
elif [ -n "$FALLBACK_SUBJECT" ] && [ -f "$FALLBACK_SUBJECT/transforms.json" ]; then
  SUBJECT_DIR="$FALLBACK_SUBJECT"
  selected time_to_psnr && log "-- no $SUBJECT_PRESET subject: time_to_psnr trains on the fallback $FALLBACK_SUBJECT"
fi
if [ -z "$SUBJECT_DIR" ]; then
  cannot_run time_to_psnr "no subject (see the subject step)"
else
  selected time_to_psnr && rm -rf "$WORK/ttp_run"
  step time_to_psnr $((TTP_NEED_S + 60)) "$TTP_NEED_S" "PIL tqdm" "$PYTHON" -m bench.time_to_psnr "$SUBJECT_DIR" \
    "${TTP_ARGS[@]}" --run-dir "$WORK/ttp_run" --out "$WORK/time_to_psnr.json"
fi
if [ -f "$WORK/ttp_run/config.json" ]; then
  step render_trained 90 20 "PIL tqdm" "$PYTHON" -m bench.render --run "$WORK/ttp_run" "${RENDER_TRAINED_ARGS[@]}" \
    --out "$WORK/render_trained.json"
else
  cannot_run render_trained "no trained run (see time_to_psnr)"
fi

# ---------------------------------------------------------------- the other benchmarks
step step 90 20 "tqdm" "$PYTHON" -m bench.step "${STEP_ARGS[@]}" --out "$WORK/step.json"
step step_few_samples 60 20 "tqdm" "$PYTHON" -m bench.step "${STEP_ARGS[@]}" --samples "$STEP_FEW_SAMPLES" \
  --out "$WORK/step_few_samples.json"
step march 60 20 "tqdm" "$PYTHON" -m bench.march "${MARCH_ARGS[@]}" --out "$WORK/march.json"
step render_random 60 20 "tqdm PIL" "$PYTHON" -m bench.render "${RENDER_RANDOM_ARGS[@]}" --out "$WORK/render_random.json"

# ---------------------------------------------------------------- the paper's claims, with what is left
step run_all "$(seconds_left)" 150 "matplotlib skimage trimesh scipy PIL tqdm" "$PYTHON" -m bench.paper.run_all \
  "${RUN_ALL_ARGS[@]}" --work "$PAPER_WORK" --out "$WORK/run_all"

# ---------------------------------------------------------------- bundle
# Everything small under WORK (logs, JSON, figures); not the subjects, runs, checkpoints or build cache.
tar -czf "$OUT/logs.tar.gz" -C "$WORK" --exclude=./paper_work --exclude=./ttp_run --exclude=./cache . 2>>"$OUT/gpu_check.log"
echo
summarise --print | tee -a "$OUT/gpu_check.log"
exit "$FAILED"
