#!/usr/bin/env bash
# Prepare, on the development machine, what bench/gpu_check.sh carries to the device machine
# (which can download nothing). Needs the internet; about a minute. Re-running is cheap (it skips
# what exists). Every path it fills is git-ignored:
#   .whl/                       wheels the device image lacks: moderngl + glcontext (synthesis),
#                               trimesh (meshes of run_all), for CPython 3.12 on x86-64
#   .gl/                        the GL/EGL loader packages (libglvnd...), unpacked there into /
#   runs/gpu_carry/subject      a short 512² clip of the paper subject, used if synthesis there fails
# The golden vectors and the ICT model ship in the repository (tests/data/golden, data/) and travel
# with it. At the end it prints the carry list and the size of what travels (at most
# 64 MiB may travel with the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
FALLBACK_FRAMES="${FALLBACK_FRAMES:-160}"  # ~29 MB at 512² (images, masks, depth)
LIMIT_BYTES=$((64 * 1024 * 1024))
CARRY=(.whl .gl runs/gpu_carry)

for path in "${CARRY[@]}"; do
  git check-ignore -q "$path/x" || { echo "$path is not git-ignored: it must be to travel as carry" >&2; exit 1; }
done

# The versions installed here, so the device runs what was tested here.
version() { "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"; }
mkdir -p .whl
for package in moderngl glcontext trimesh; do
  pinned="$package==$(version "$package")"
  compgen -G ".whl/${package}-$(version "$package")-*.whl" >/dev/null && continue
  echo "downloading $pinned for CPython 3.12"
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d .whl "$pinned"
done

if ! compgen -G ".gl/*.deb" >/dev/null; then
  echo "downloading the GL/EGL loader packages"
  mkdir -p .gl /tmp/nbskit_apt_amd64/partial
  apt_options=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/nbskit_apt_amd64)
  apt-get "${apt_options[@]}" update >/dev/null
  (cd .gl && apt-get "${apt_options[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi

if [ ! -f runs/gpu_carry/subject/transforms.json ]; then
  echo "rendering the fallback subject: paper preset, $FALLBACK_FRAMES frames"
  "$PYTHON" -m bench.gpu_subject --preset paper --frames "$FALLBACK_FRAMES" --root runs/gpu_carry/subject
fi

# What travels: tracked files, untracked files git does not ignore, and the carried paths.
total="$({ git ls-files -z --cached --others --exclude-standard | xargs -0 -r du -bL -- 2>/dev/null
          du -sbL -- "${CARRY[@]}"; } | awk '{ total += $1 } END { print total }')"
awk -v total="$total" -v limit="$LIMIT_BYTES" \
  'BEGIN { printf "travels: %.1f MiB of %d MiB\n", total / 1048576, limit / 1048576 }'
[ "$total" -le "$LIMIT_BYTES" ] || { echo "over the 64 MiB that may travel with the checkout" >&2; exit 1; }
printf 'carry: ['; printf '"%s", ' "${CARRY[@]:0:${#CARRY[@]}-1}"; printf '"%s"]\n' "${CARRY[-1]}"
