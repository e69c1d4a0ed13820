#!/usr/bin/env bash
# The cuda backend's speed run on the GPU machine: correctness first (kernel tests, fixture logits),
# then kernel timings (examples/kernel_bench.rs), then `aviary bench` on synthetic models generated
# there (in the background, while the tests run) and a per-kernel profile of a decode step.
#
# Build here (repository root), then carry bin-cuda/ (keep it under 60 MiB):
#   crates/cuda/device-perf.sh --build
# On the device (run tool): carry ["bin-cuda"], command: bash crates/cuda/device-perf.sh [MODELS...]
#   MODELS: synth specs to benchmark (default: synth:0.4b:q4_k_m synth:2.9b:q4_k_m synth:2.9b:f16)
# Environment: PERF_SKIP_TESTS=1 skips the correctness steps, PERF_ABLATE="fuse=0;mma=0" adds bench
# runs of the first 2.9b model under those AVIARY_CUDA_TUNING settings, PERF_KB_ARGS passes
# arguments to kernel_bench (e.g. "--quick --no-prefill", or "--no-prefill --no-small --types
# q4_k,q6_k,f16" for the decode matvec table alone).
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=bin-cuda

if [ "${1:-}" = "--build" ]; then
    set -e
    grep -qx /bin-cuda/ .git/info/exclude || echo /bin-cuda/ >> .git/info/exclude
    mkdir -p "$BIN"
    cargo test --release -p cuda --no-run --message-format=json > /tmp/cuda-perf-tests.json
    python3 -c 'import json,shutil; [shutil.copy(m["executable"], "bin-cuda/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/cuda-perf-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"] and m["target"]["name"] in ("kernels", "fixture_logits", "fused", "batched_decode")]'
    cargo build --release -p cuda --example kernel_bench
    cp target/release/examples/kernel_bench "$BIN/"
    cargo build --release --features cuda --bin aviary
    cp target/release/aviary "$BIN/"
    strip "$BIN"/{aviary,kernels,fixture_logits,fused,batched_decode,kernel_bench}
    tar czf "$BIN/fixtures.tgz" -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-*)
    cp ../shared/fixtures/tokenizer/rwkv_vocab_v20230424.txt "$BIN/vocab.txt"
    ls -la "$BIN"; du -sh "$BIN"
    exit 0
fi

MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(synth:0.4b:q4_k_m synth:2.9b:q4_k_m synth:2.9b:f16)
LOG="${OUT:-/tmp/cuda-perf}"
mkdir -p "$LOG"
export AVIARY_WORLD_VOCAB="$PWD/$BIN/vocab.txt" AVIARY_CACHE=/tmp/avc RUST_BACKTRACE=1
export AVIARY_REQUIRE_CUDA=1 AVIARY_REQUIRE_NVRTC=1 CI=1

. crates/cuda/device-libs.sh
echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader 2>&1)"

# Synthetic models, generated on the CPU while the GPU runs the tests.
( for m in "${MODELS[@]}"; do
    t0=$(date +%s); $BIN/aviary inspect --model "$m" > /dev/null 2>&1; echo "generated $m in $(( $(date +%s) - t0 )) s"
  done ) > "$LOG/synth.log" 2>&1 &
SYNTH=$!

summary=()
step() { # $1: name, $2: timeout, rest: command; output to $LOG/$1.log
    local name="$1" limit="$2" t0 rc; shift 2
    t0=$(date +%s)
    timeout "$limit" "$@" > "$LOG/$name.log" 2>&1
    rc=$?
    summary+=("$(printf '%-16s rc=%-3s %4s s' "$name" "$rc" "$(( $(date +%s) - t0 ))")")
    [ $rc -eq 0 ] || tail -n 30 "$LOG/$name.log"
}

if [ -z "${PERF_SKIP_TESTS:-}" ]; then
    mkdir -p /tmp/aviary-fixtures && tar xzf "$BIN/fixtures.tgz" -C /tmp/aviary-fixtures
    export AVIARY_FIXTURES=/tmp/aviary-fixtures
    step kernels 70 "$BIN/kernels" --test-threads=1 --nocapture
    step fused 70 "$BIN/fused" --test-threads=1 --nocapture
    step fixture_logits 90 "$BIN/fixture_logits" --test-threads=1 --nocapture
    [ -x "$BIN/batched_decode" ] && step batched_decode 60 "$BIN/batched_decode" --test-threads=1 --nocapture
fi
step kernel_bench 120 "$BIN/kernel_bench" ${PERF_KB_ARGS:-}

wait $SYNTH
cat "$LOG/synth.log"
bench() { # $1: label, $2: tuning, $3: model
    local t0=$(date +%s) rc
    AVIARY_CUDA_TUNING="$2" timeout 60 "$BIN/aviary" bench --backend cuda --model "$3" --prefill 512 --gen 64 --runs 1 --no-write \
        > /tmp/bench.out 2>&1
    rc=$?
    { echo "==== $1 [AVIARY_CUDA_TUNING=$2] $3: rc=$rc, $(( $(date +%s) - t0 )) s"; cat /tmp/bench.out; } >> "$LOG/bench.log"
}
for m in "${MODELS[@]}"; do bench "$(echo "$m" | tr ':' '_')" "" "$m"; done
first29=$(printf '%s\n' "${MODELS[@]}" | grep 2.9b | head -n 1)
IFS=';' read -ra ABL <<< "${PERF_ABLATE:-}"
for a in "${ABL[@]}"; do [ -n "$a" ] && [ -n "$first29" ] && bench "ablate-$(echo "$a" | tr -c 'a-z0-9' '_')" "$a" "$first29"; done
if [ -n "$first29" ]; then
    path=$(ls /tmp/avc/synth/*2.9b*Q4_K_M* 2>/dev/null | head -n 1)
    [ -n "$path" ] && step profile 60 "$BIN/kernel_bench" --only-models --model "$path"
fi

echo; echo "== bench"; grep -E "^====|^Prefill|^Generation|^Quality Hash|^Load Time|rror" "$LOG/bench.log" 2>/dev/null | cut -c1-220
echo; echo "== kernel_bench"; grep -E "^(MATVEC|PREFILL|SMALL)" "$LOG/kernel_bench.log" | cut -c1-340
echo; echo "== profile"; grep -E "^(==|PROFILE)" "$LOG/profile.log" 2>/dev/null | head -n 40
echo; echo "== tests"; grep -hE "cuda vs cpu|greedy:|test result|panicked" "$LOG"/kernels.log "$LOG"/fused.log "$LOG"/fixture_logits.log "$LOG"/batched_decode.log 2>/dev/null | cut -c1-200
echo; echo "== summary"; printf '%s\n' "${summary[@]}"
