#!/usr/bin/env bash
# The cuBLAS GEMM path's device run (src/gemm.rs): the correctness tests (kernels, fused, gemm,
# gemm_logits, fixture_logits, batched_decode), then `aviary bench` on cuBLAS and variants
# (GEMM_BENCH="model|tuning;..." overrides the list, e.g.
# GEMM_BENCH="synth:2.9b:q4_k_m|;synth:2.9b:q4_k_m|gemm_split_k=3"), then a per-kernel profile of a 512-token
# prefill. Whole run 125 s on an H200 (2026-11-30).
#
# Build here (repository root), then carry bin-gemm/ (~45 MiB):
#   crates/cuda/device-gemm.sh --build
# On the device (run tool): carry ["bin-gemm"], command: bash crates/cuda/device-gemm.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
B=bin-gemm
if [ "${1:-}" = "--build" ]; then
    set -e
    grep -qx /bin-gemm/ .git/info/exclude || echo /bin-gemm/ >> .git/info/exclude
    mkdir -p $B /tmp/gbs
    cargo build --release --no-default-features --features cuda --bin aviary
    cargo build --release -p cuda --example kernel_bench
    cargo test -p cuda --no-run --message-format=json > /tmp/gemm-tests.json
    python3 -c 'import json,shutil; [shutil.copy(m["executable"], "/tmp/gbs/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/gemm-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"] and m["target"]["name"] in ("kernels", "fused", "gemm", "gemm_logits", "fixture_logits", "batched_decode")]'
    cp target/release/aviary target/release/examples/kernel_bench /tmp/gbs/
    strip /tmp/gbs/{aviary,kernel_bench,kernels,fused,gemm,gemm_logits,fixture_logits,batched_decode}
    tar czf $B/bins.tgz -C /tmp/gbs aviary kernels fused gemm gemm_logits fixture_logits batched_decode kernel_bench
    tar czf $B/fixtures.tgz -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-*)
    cp ../shared/fixtures/tokenizer/rwkv_vocab_v20230424.txt $B/vocab.txt
    du -sh $B
    exit 0
fi
LOG="${OUT:-/tmp/gemm-out}"; mkdir -p "$LOG" /tmp/gb
tar xzf $B/bins.tgz -C /tmp/gb || exit 1
export AVIARY_WORLD_VOCAB="$PWD/$B/vocab.txt" AVIARY_CACHE=/tmp/avc RUST_BACKTRACE=1
export AVIARY_REQUIRE_CUDA=1 AVIARY_REQUIRE_CUBLAS=1 CI=1
. crates/cuda/device-libs.sh
( for m in synth:2.9b:q4_k_m synth:2.9b:f16; do t0=$(date +%s); /tmp/gb/aviary inspect --model $m > /dev/null 2>&1; echo "generated $m rc=$? in $(( $(date +%s) - t0 )) s"; done ) > "$LOG/synth.log" 2>&1 &
SYNTH=$!
mkdir -p /tmp/fx && tar xzf $B/fixtures.tgz -C /tmp/fx && export AVIARY_FIXTURES=/tmp/fx
t() { local n=$1 lim=$2; shift 2; local t0=$(date +%s); timeout $lim /tmp/gb/$n --test-threads=1 --nocapture "$@" > "$LOG/$n.log" 2>&1; echo "TEST $n rc=$? $(( $(date +%s) - t0 )) s"; }
t gemm_logits 60
t fixture_logits 60
t batched_decode 60
t gemm 60
t kernels 40
t fused 40
grep -hE "cublas|batched|cuda vs cpu|test result|panicked|SKIPPED|error" "$LOG"/{gemm_logits,fixture_logits,batched_decode,gemm,kernels,fused}.log | cut -c1-260
wait $SYNTH; cat "$LOG/synth.log"
bench() { # $1 model, $2 tuning
    local t0=$(date +%s)
    AVIARY_CUDA_TUNING="$2" timeout 50 /tmp/gb/aviary bench --backend cuda --model "$1" --prefill 512 --gen 64 --runs 1 --batch 256 --no-write > /tmp/b.out 2>&1
    local rc=$?
    { echo "==== $1 [AVIARY_CUDA_TUNING=$2] rc=$rc $(( $(date +%s) - t0 )) s"; cat /tmp/b.out; } >> "$LOG/bench.log"
    echo "==== $1 [$2] rc=$rc $(( $(date +%s) - t0 )) s"; grep -E "Prefill|Generation|Batched|Quality|rror|note" /tmp/b.out | cut -c1-200
}
Q=synth:2.9b:q4_k_m F=synth:2.9b:f16
IFS=';' read -ra RUNS <<< "${GEMM_BENCH:-$Q|;$F|;$Q|gemm_calls=3;$Q|gemm_calls=2;$Q|prefill_chunk=256;$F|gemm_f16_panel=1}"
for r in "${RUNS[@]}"; do bench "${r%%|*}" "${r#*|}"; done
path=$(ls /tmp/avc/synth/*2.9b*Q4_K_M* 2>/dev/null | head -n 1)
timeout 30 /tmp/gb/kernel_bench --only-models --model "$path" > "$LOG/profile.log" 2>&1; echo "profile rc=$?"
grep -E "^(==|PROFILE)" "$LOG/profile.log" | head -n 45 | cut -c1-120
