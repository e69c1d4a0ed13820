#!/usr/bin/env bash
# The cuda backend's check on the GPU machine (H200: Ubuntu 24.04, CUDA 13 driver, no Rust
# toolchain, no network): runs prebuilt binaries carried in bin-device/, prints a pass/fail table
# and decode timings. Whole run well under 3 minutes.
#
# Build and copy, here, in the repository root (or run `crates/cuda/device-check.sh --build`, which
# runs exactly these):
#   grep -qx /bin-device/ .git/info/exclude || echo /bin-device/ >> .git/info/exclude
#   mkdir -p bin-device         # shared with other checks: only the files below are (over)written
#   cargo test -p cuda --no-run --message-format=json > /tmp/cuda-tests.json
#   python3 -c 'import json,shutil; [shutil.copy(m["executable"], "bin-device/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/cuda-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]]'
#   cargo build --release --no-default-features --features cuda --bin aviary
#   cp target/release/aviary bin-device/
#   strip bin-device/{aviary,kernels,fused,fixture_logits,decode_speed,nvrtc_compile,kernels_v456,legacy_logits,batched_decode}
#   (cd bin-device && tar czf bins.tgz aviary kernels fused fixture_logits decode_speed nvrtc_compile kernels_v456 legacy_logits batched_decode \
#       && rm aviary kernels fused fixture_logits decode_speed nvrtc_compile kernels_v456 legacy_logits batched_decode)
#   tar czf bin-device/fixtures.tgz -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-* tiny-rwkv-[456]v*.bin)
#   du -sh bin-device            # the carried tree must stay under 64 MiB
#
# Then on the device (run tool):
#   carry: ["bin-device"]
#   command: bash crates/cuda/device-check.sh bin-device/fixtures.tgz
#
# Usage: device-check.sh FIXTURES        FIXTURES: a directory, or a .tgz of one (as built above)
#        device-check.sh --build         build and copy (needs cargo; not on the device)
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=bin-device

if [ "${1:-}" = "--build" ]; then
    set -e
    grep -qx /bin-device/ .git/info/exclude || echo /bin-device/ >> .git/info/exclude
    mkdir -p "$BIN"
    cargo test -p cuda --no-run --message-format=json > /tmp/cuda-tests.json
    python3 -c 'import json,shutil; [shutil.copy(m["executable"], "bin-device/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/cuda-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]]'
    cargo build --release --no-default-features --features cuda --bin aviary
    cp target/release/aviary "$BIN/"
    strip "$BIN"/{aviary,kernels,fused,fixture_logits,decode_speed,nvrtc_compile,kernels_v456,legacy_logits,batched_decode}
    # Packed (binaries gzip to ~40%): with the legacy fixtures too, loose binaries would push the
    # carried tree past 64 MiB.
    bins="aviary kernels fused fixture_logits decode_speed nvrtc_compile kernels_v456 legacy_logits batched_decode"
    (cd "$BIN" && tar czf bins.tgz $bins && rm $bins)
    tar czf "$BIN/fixtures.tgz" -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-* tiny-rwkv-[456]v*.bin)
    ls -la "$BIN"; du -sh "$BIN"
    exit 0
fi

FIX="${1:?usage: device-check.sh FIXTURES_DIR_OR_TGZ | --build}"
LOG="${OUT:-/tmp/cuda-device-check}"   # the run tool brings back up to 8 files from $OUT: 8 logs
mkdir -p "$LOG"
if [ -f "$FIX" ]; then
    mkdir -p /tmp/aviary-fixtures && tar xzf "$FIX" -C /tmp/aviary-fixtures || { echo "cannot unpack $FIX"; exit 1; }
    FIX=/tmp/aviary-fixtures
fi
if [ -f "$BIN/bins.tgz" ]; then
    mkdir -p /tmp/aviary-bin && tar xzf "$BIN/bins.tgz" -C /tmp/aviary-bin || { echo "cannot unpack $BIN/bins.tgz"; exit 1; }
    BIN=/tmp/aviary-bin
fi
export AVIARY_FIXTURES="$(cd "$FIX" && pwd)"
export CI=1                  # a missing fixture fails instead of skipping
export AVIARY_REQUIRE_CUDA=1 # no GPU fails instead of skipping
export AVIARY_REQUIRE_NVRTC=1
export RUST_BACKTRACE=1

. crates/cuda/device-libs.sh
echo "== $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
echo "== LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
echo "== fixtures: $AVIARY_FIXTURES ($(ls "$AVIARY_FIXTURES"/*.gguf | wc -l) GGUF files)"

results=()
record() { # $1: name, $2: exit status, $3: start time (ns)
    local secs status=PASS
    secs=$(awk -v a="$3" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
    [ "$2" -eq 0 ] || status="FAIL(rc=$2)"
    results+=("$(printf '%-22s %-12s %7s s' "$1" "$status" "$secs")")
    echo "---- $1: $status ($secs s)"
}
step() { # $1: name, rest: command; stdout and stderr to $LOG/$1.log
    local name="$1" t0 rc; shift
    t0=$(date +%s%N)
    timeout 150 "$@" > "$LOG/$name.log" 2>&1
    rc=$?
    record "$name" "$rc" "$t0"
    [ $rc -eq 0 ] || tail -n 40 "$LOG/$name.log"
}

step nvrtc_compile "$BIN/nvrtc_compile" --nocapture
step kernels "$BIN/kernels" --test-threads=4 --nocapture
step fused "$BIN/fused" --test-threads=1 --nocapture
step fixture_logits "$BIN/fixture_logits" --test-threads=1 --nocapture
step decode_speed "$BIN/decode_speed" --nocapture
step kernels_v456 "$BIN/kernels_v456" --test-threads=4 --nocapture
step legacy_logits "$BIN/legacy_logits" --test-threads=1 --nocapture
step batched_decode "$BIN/batched_decode" --test-threads=1 --nocapture

# The CLI end to end: greedy text on the F32 fixture must equal the cpu backend's (stdout only).
M="$AVIARY_FIXTURES/tiny-rwkv7-834K-F32.gguf"
for backend in cuda cpu; do
    t0=$(date +%s%N)
    timeout 60 "$BIN/aviary" run --backend $backend --model "$M" --prompt "The " --max-tokens 48 --temperature 0 \
        --seed 1 > "$LOG/cli_$backend.out" 2> "$LOG/cli_$backend.err"
    rc=$?
    record "cli_$backend" "$rc" "$t0"
    [ $rc -eq 0 ] || tail -n 20 "$LOG/cli_$backend.err"
done
t0=$(date +%s%N)
[ -s "$LOG/cli_cuda.out" ] && cmp -s "$LOG/cli_cuda.out" "$LOG/cli_cpu.out"
record cli_cuda_equals_cpu $? "$t0"
echo "cuda text: $(head -c 200 "$LOG/cli_cuda.out")"

echo
echo "== per-fixture results"
grep -h "cuda vs cpu\|greedy:" "$LOG/fixture_logits.log" "$LOG/legacy_logits.log" || true
echo
echo "== timings"
grep -h "^DECODE\|^DEVICE" "$LOG/decode_speed.log" || true
grep -h "kernels compiled in" "$LOG/nvrtc_compile.log" || true
echo
echo "== summary"
printf '%s\n' "${results[@]}"
! printf '%s\n' "${results[@]}" | grep -q FAIL
