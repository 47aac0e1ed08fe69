#!/usr/bin/env bash
# Checks and benchmarks for a lent CUDA machine, run from the repository root there.
#
#   bash benchmarks/gpu_session.sh check
#       the environment, the whole test suite (device='auto' is CUDA in every fit), the
#       training engine's seconds per epoch (bench_epoch.py --device cuda) and how many fits
#       share the GPU (bench_gpu_share.py)
#   bash benchmarks/gpu_session.sh table3 SECONDS PARALLEL SPEC...
#       Table 3 cells on CUDA, PARALLEL processes at a time, for at most SECONDS; one
#       bench_table3.py process per (dataset, config, start topology, seed), so that a cell
#       cut off by the deadline loses only itself. SPEC: dataset:config:topologies:seeds,
#       e.g. fashion-mnist:defaults:small,medium,large:6,63,72,77,97 (cells run in that order).
#
# The data come from $SKSURGEON_DATA (default ./.gpudata: copies of ../shared/data/fashion-mnist
# and mnist, carried to the machine and never committed). Results are written under
# benchmarks/results/ and copied to $OUT (one tarball for table3) with the logs.
set -u
stage=${1:?stage: check or table3}
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
export SKSURGEON_DATA=${SKSURGEON_DATA:-$PWD/.gpudata}
PY=${PYTHON:-python3}

case $stage in
check)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$OUT/env.txt"
    $PY -c "import sys, torch, sklearn, numpy, scipy, joblib, hypothesis
print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      torch.cuda.is_available(), 'sklearn', sklearn.__version__, 'numpy', numpy.__version__,
      'scipy', scipy.__version__, 'joblib', joblib.__version__, 'cores', __import__('os').cpu_count())" |
        tee -a "$OUT/env.txt"
    # The suite as CI runs it, except that every fit with device='auto' now lands on the GPU.
    # Tests that read ../shared/data skip (it does not travel).
    start=$(date +%s)
    SKSURGEON_DATA= timeout "${TEST_SECONDS:-170}" $PY -m pytest -q -n "${TEST_WORKERS:-12}" \
        -p no:cacheprovider tests sksurgeon >"$OUT/tests.log" 2>&1
    echo "pytest rc $? in $(($(date +%s) - start)) s"
    grep -E "passed|failed|error" "$OUT/tests.log" | tail -3
    grep -E "^(FAILED|ERROR)" "$OUT/tests.log" | head -30
    timeout "${EPOCH_SECONDS:-100}" $PY benchmarks/bench_epoch.py --device cuda --repeats 3
    cp benchmarks/results/epoch_cuda.md "$OUT/" 2>/dev/null
    timeout "${SHARE_SECONDS:-80}" $PY benchmarks/bench_gpu_share.py --device cuda \
        --procs 1 4 8 --epochs 5
    cp benchmarks/results/gpu_share_*.md "$OUT/" 2>/dev/null
    ;;
table3)
    seconds=${2:?seconds}
    parallel=${3:?parallel}
    shift 3
    mkdir -p logs
    jobs=()
    for spec in "$@"; do
        IFS=: read -r ds cfg topos seeds <<<"$spec"
        for topo in ${topos//,/ }; do
            for seed in ${seeds//,/ }; do
                jobs+=("$ds $cfg $topo $seed")
            done
        done
    done
    echo "${#jobs[@]} cells, $parallel at a time, at most $seconds s"
    # The GPU does the arithmetic; one CPU thread per process keeps 16 cores from thrashing.
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PY BENCH_DEVICE=${BENCH_DEVICE:-cuda}
    export TABLE3_EXTRA=${TABLE3_EXTRA:-}
    printf '%s\n' "${jobs[@]}" | timeout "$seconds" xargs -P "$parallel" -L 1 bash -c '
        log=logs/$0_$1_$2_s$3.log
        $PY benchmarks/bench_table3.py --dataset $0 --config $1 --topologies $2 \
            --seeds $3 --device $BENCH_DEVICE --tag gpu_$2_s$3 $TABLE3_EXTRA >"$log" 2>&1 &&
            grep -h "seed" "$log"'
    pkill -f bench_table3.py
    sleep 1
    ls benchmarks/results/table3_*gpu_*.csv 2>/dev/null | wc -l
    tar czf "$OUT/table3_gpu.tgz" benchmarks/results/table3_*gpu_* logs
    ;;
*)
    echo "unknown stage $stage" >&2
    exit 2
    ;;
esac
