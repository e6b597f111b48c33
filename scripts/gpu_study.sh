#!/usr/bin/env bash
# A study (memo, or converged with GPU_STUDY_ARGS="--experiment converged") on a GPU machine that
# has JAX but not prepbench's other needs: installs the carried wheels, then runs
# scripts/gpu_study.py (see its docstring) within a wall-clock budget.
#
#   bash scripts/gpu_study.sh [CARRY [BUDGET_SECONDS [DATA]]]   # CARRY: folder with whl/ (and the data)
#
# CARRY defaults to .gpu (an ignored folder: .gpu/whl/*.whl, .gpu/cifar10-jpeg-subset.zip), BUDGET to
# 530 s from this script's start; results go to $OUT. DATA (or $GPU_DATA): the image-folder zip,
# $CARRY/cifar10-jpeg-subset.zip by default; a DATA.zip.gz (gzip -9 of the zip: the JPEGs' shared
# headers shrink it about 3 times, for the 64 MiB the machine can receive) is unpacked to /tmp
# first, giving back the very zip. GPU_TINY=1: a CPU dry run at toy sizes; GPU_INSTALL=0 skips the
# wheels (a dry run with a Python that has prepbench's needs, PYTHON=.venv/bin/python). Before the call,
# `python -m prepbench.gpu.stamp CARRY` records the commit (a dirty tree is refused): the runs record it.
set -uo pipefail
started=$(date +%s.%N)
carry=${1:-.gpu}
budget=${2:-530}
data=${3:-${GPU_DATA:-$carry/cifar10-jpeg-subset.zip}}
: "${OUT:=gpu-out}"
mkdir -p "$OUT"
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
site=${GPU_SITE:-/tmp/site}
if [ "${GPU_INSTALL:-1}" != 0 ]; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$carry"/whl/*.whl \
    || { echo "error: installing the carried wheels failed" | tee "$OUT/study.log"; exit 1; }
fi
if [[ $data == *.gz ]]; then
  unpacked=/tmp/$(basename "${data%.gz}")
  gzip -dc "$data" >"$unpacked" || { echo "error: unpacking $data failed" | tee "$OUT/study.log"; exit 1; }
  data=$unpacked
fi
export PYTHONPATH="$site:$PWD" KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
export XLA_PYTHON_CLIENT_PREALLOCATE=false            # several processes share the one GPU
export JAX_COMPILATION_CACHE_DIR=${JAX_COMPILATION_CACHE_DIR:-/tmp/jax-cache}   # one compilation per network shape
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
export PREPBENCH_CACHE=${PREPBENCH_CACHE:-/tmp/prepbench-cache}
export PREPBENCH_STAMP=${PREPBENCH_STAMP:-$(cd "$carry" 2>/dev/null && pwd)/stamp.json}   # python -m prepbench.gpu.stamp CARRY, before the call
"$python" scripts/gpu_study.py --data "$data" --out "$OUT" --budget "$budget" --started "$started" \
  ${GPU_STUDY_ARGS:-} 2>&1 | tee "$OUT/study.log"
