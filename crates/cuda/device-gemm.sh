#!/usr/bin/env bash
# The cuBLAS GEMM path's device run (src/gemm.rs): the correctness tests (kernels, fused, gemm,
# gemm_logits, fixture_logits, batched_decode), then `aviary bench` on cuBLAS and variants
# (GEMM_BENCH="model|tuning;..." overrides the list, e.g.
# GEMM_BENCH="synth:2.9b:q4_k_m|;synth:2.9b:q4_k_m|gemm_split_k=3"), then a per-kernel profile of a 512-token
# prefill and of a 256-sequence batched decode step. Whole run 135 s on an H200 (2026-11-30,
# eight benches).
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
    # Copy it now: the target dir is shared, and another build of aviary (default features, no
    # cuda) in the minutes below would replace it (that cost one device run its benchmarks).
    cp target/release/aviary /tmp/gbs/
    cargo build --release -p cuda --example kernel_bench
    cargo test -p cuda --no-run --message-format=json > /tmp/gemm-tests.json
    python3 -c 'import json,shutil; [shutil.copy(m["executable"], "/tmp/gbs/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/gemm-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"] and m["target"]["name"] in ("kernels", "fused", "gemm", "gemm_logits", "fixture_logits", "batched_decode", "wkv7", "batched_profile")]'
    cp target/release/examples/kernel_bench /tmp/gbs/
    # The cuda build embeds the kernel sources.
    grep -q wkv7_split_prep /tmp/gbs/aviary || { echo "error: /tmp/gbs/aviary lacks the cuda backend" >&2; exit 1; }
    strip /tmp/gbs/{aviary,kernel_bench,kernels,fused,gemm,gemm_logits,fixture_logits,batched_decode,wkv7,batched_profile}
    tar czf $B/bins.tgz -C /tmp/gbs aviary kernels fused gemm gemm_logits fixture_logits batched_decode wkv7 batched_profile kernel_bench
    tar czf $B/fixtures.tgz -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-*)
    cp ../shared/fixtures/tokenizer/rwkv_vocab_v20230424.txt $B/vocab.txt
    du -sh $B
    exit 0
fi
# Logs go to /tmp/gemm-log and come back as one archive ($OUT returns at most 8 files).
LOG=/tmp/gemm-log; mkdir -p "$LOG" /tmp/gb
trap '[ -n "${OUT:-}" ] && tar czf "$OUT/gemm-logs.tgz" -C "$LOG" .' EXIT
tar xzf $B/bins.tgz -C /tmp/gb || exit 1
export AVIARY_WORLD_VOCAB="$PWD/$B/vocab.txt" AVIARY_CACHE=/tmp/avc RUST_BACKTRACE=1
export AVIARY_REQUIRE_CUDA=1 AVIARY_REQUIRE_CUBLAS=1 CI=1
. crates/cuda/device-libs.sh
( for m in synth:2.9b:q4_k_m synth:2.9b:f16; do t0=$(date +%s); /tmp/gb/aviary inspect --model $m > /dev/null 2>&1; echo "generated $m rc=$? in $(( $(date +%s) - t0 )) s"; done ) > "$LOG/synth.log" 2>&1 &
SYNTH=$!
mkdir -p /tmp/fx && tar xzf $B/fixtures.tgz -C /tmp/fx && export AVIARY_FIXTURES=/tmp/fx
t() { local n=$1 lim=$2; shift 2; local t0=$(date +%s); timeout $lim /tmp/gb/$n --test-threads=1 --nocapture "$@" > "$LOG/$n.log" 2>&1; echo "TEST $n rc=$? $(( $(date +%s) - t0 )) s"; }
# GEMM_SKIP="kernels fused" leaves tests out (names as below).
for spec in wkv7:40 gemm_logits:120 fixture_logits:90 batched_decode:60 gemm:60 kernels:40 fused:40; do
    [[ " ${GEMM_SKIP:-} " == *" ${spec%%:*} "* ]] || t "${spec%%:*}" "${spec#*:}"
done
grep -hE "cublas|batched|cuda vs cpu|test result|panicked|SKIPPED|error" "$LOG"/*.log | cut -c1-260
wait $SYNTH; cat "$LOG/synth.log"
bench() { # $1 model, $2 tuning
    local t0=$(date +%s)
    AVIARY_CUDA_TUNING="$2" timeout 50 /tmp/gb/aviary bench --backend cuda --model "$1" --prefill 512 --gen 64 --runs 1 --batch 256 --no-write > /tmp/b.out 2>&1
    local rc=$?
    { echo "==== $1 [AVIARY_CUDA_TUNING=$2] rc=$rc $(( $(date +%s) - t0 )) s"; cat /tmp/b.out; } >> "$LOG/bench.log"
    echo "==== $1 [$2] rc=$rc $(( $(date +%s) - t0 )) s"; grep -E "Prefill|Generation|Batched|Quality|rror|note" /tmp/b.out | cut -c1-200
}
Q=synth:2.9b:q4_k_m F=synth:2.9b:f16
IFS=';' read -ra RUNS <<< "${GEMM_BENCH:-$Q|;$Q|gemm=exact;$Q|wkv_split_rows=0;$Q|wkv_split_rows=16;$Q|wkv_split_rows=32;$Q|gemm_split_k=2;$F|;$F|gemm=exact}"
for r in "${RUNS[@]}"; do bench "${r%%|*}" "${r#*|}"; done
path=$(ls /tmp/avc/synth/*2.9b*Q4_K_M* 2>/dev/null | head -n 1)
timeout 30 /tmp/gb/kernel_bench --only-models --model "$path" > "$LOG/profile.log" 2>&1; echo "profile rc=$?"
grep -E "^(==|PROFILE)" "$LOG/profile.log" | head -n 45 | cut -c1-120
# A batched decode step (256 sequences) by kernel (tests/batched_profile.rs).
AVIARY_PROFILE_MODEL="$path" timeout 60 /tmp/gb/batched_profile --nocapture > "$LOG/batched-profile.log" 2>&1; echo "batched profile rc=$?"
grep -E "^(==|PROFILE)" "$LOG/batched-profile.log" | head -n 25 | cut -c1-120
for tn in ${GEMM_PROFILE_TUNINGS:-}; do # extra profiles, e.g. "wkv_split_rows=0 gemm=exact"
    AVIARY_CUDA_TUNING="$tn" timeout 30 /tmp/gb/kernel_bench --only-models --model "$path" > "$LOG/profile-${tn//[^a-z0-9_]/_}.log" 2>&1; echo "profile [$tn] rc=$?"
    grep -E "^(==|PROFILE)" "$LOG/profile-${tn//[^a-z0-9_]/_}.log" | head -n 25 | cut -c1-120
done
