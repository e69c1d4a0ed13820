#!/usr/bin/env bash
# The GPU machine's closing run, in one command: the cuda correctness tests, then aviary's benches
# (cuda and wgpu) beside llama.cpp built with CUDA from source on the same synthetic GGUF files.
# BENCHMARKS.md entries ("H200 cuda", "H200 wgpu") are appended to a copy that comes back in $OUT.
#
# Build here (repository root; llama.cpp's source from ../shared/tools/llamacpp.sh):
#   tools/device-bench.sh --build
# On the device (run tool): carry ["bin-final", ".gl"] (.gl: the Vulkan loader packages; or single
# files of bin-final, to stay under the 64 MiB a call carries), command:
#   CHANGE="what changed" bash tools/device-bench.sh
# Environment: MODELS (cuda and llama.cpp, default the four 2.9b/7.2b Q4_K_M/F16; "" for none), WGPU_MODELS,
# SKIP_TESTS=1, SKIP_LLAMA=1, TESTS ("name:timeout_s ..."), EXTRA (a script sourced before the benches).
set -uo pipefail
cd "$(dirname "$0")/.."
B=bin-final
if [ "${1:-}" = "--build" ]; then
    set -e
    grep -qx /bin-final/ .git/info/exclude || echo /bin-final/ >> .git/info/exclude
    mkdir -p $B /tmp/fb
    cargo build --release --features cuda --bin aviary
    # Copy at once: the target dir is shared with builds of other feature sets.
    cp target/release/aviary /tmp/fb/
    cargo test -p cuda --no-run --message-format=json > /tmp/fb-tests.json
    python3 -c 'import json,shutil; [shutil.copy(m["executable"], "/tmp/fb/" + m["target"]["name"]) for m in map(json.loads, open("/tmp/fb-tests.json")) if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"] and m["target"]["name"] in ("kernels", "fused", "gemm", "gemm_logits", "fixture_logits", "batched_decode", "wkv7", "legacy_logits", "kernels_v456")]'
    grep -q wkv7_split_prep /tmp/fb/aviary || { echo "error: /tmp/fb/aviary lacks the cuda backend" >&2; exit 1; }
    cargo build --release -p webgpu --example wgpu_kernel_bench
    cp target/release/examples/wgpu_kernel_bench /tmp/fb/
    tests="kernels fused gemm gemm_logits fixture_logits batched_decode wkv7 legacy_logits kernels_v456"
    (cd /tmp/fb && strip aviary wgpu_kernel_bench $tests && tar czf "$OLDPWD/$B/bins.tgz" aviary wgpu_kernel_bench $tests)
    # Two archives, so that a run can carry less than the 64 MiB a call takes: the RWKV-7 fixtures,
    # and the legacy (RWKV-4/5/6) ones of legacy_logits.
    tar czf $B/fixtures.tgz -C ../shared/fixtures README.md $(cd ../shared/fixtures && ls tiny-rwkv7-834K-* synth-tiny-k-*)
    tar czf $B/fixtures-legacy.tgz -C ../shared/fixtures $(cd ../shared/fixtures && ls tiny-rwkv-[456]*)
    cp ../shared/fixtures/tokenizer/rwkv_vocab_v20230424.txt $B/vocab.txt
    bash ../shared/tools/llamacpp.sh source-tarball "$PWD/$B/llama.tar.xz" > /dev/null
    cp BENCHMARKS.md $B/BENCHMARKS.md
    du -sh $B
    exit 0
fi

T0=$(date +%s); t() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
# The run tool stops a command at 600 s: leave the last benches out rather than lose the logs.
time_left() { [ $(( $(date +%s) - T0 )) -lt ${DEADLINE_S:-540} ]; }
R=$PWD/$B; LOG=/tmp/final-log; mkdir -p $LOG /tmp/fb
trap '[ -n "${OUT:-}" ] && tar czf "$OUT/logs.tgz" -C "$LOG" .' EXIT
tar xzf $R/bins.tgz -C /tmp/fb || exit 1
for f in .gl/*.deb; do dpkg -x "$f" / > /dev/null 2>&1; done; ldconfig   # Vulkan loader for wgpu
. crates/cuda/device-libs.sh
export PATH=/usr/local/cuda/bin:$PATH WGPU_BACKEND=vulkan XDG_RUNTIME_DIR=/tmp
export AVIARY_WORLD_VOCAB=$R/vocab.txt AVIARY_CACHE=/tmp/avc RUST_BACKTRACE=1
cp $R/BENCHMARKS.md $OUT/BENCHMARKS.md
MODELS="${MODELS-2.9b:q4_k_m 2.9b:f16 7.2b:q4_k_m 7.2b:f16}"
WGPU_MODELS="${WGPU_MODELS-2.9b:q4_k_m 2.9b:f16}"
for m in $(echo $MODELS $WGPU_MODELS | tr ' ' '\n' | sort -u); do ( /tmp/fb/aviary inspect --model synth:$m > /dev/null 2>> $LOG/synth.log ) & done
if [ -z "${SKIP_LLAMA:-}" ]; then
  ( cd /tmp && tar xJf $R/llama.tar.xz && cd llama.cpp &&
    cmake -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DGGML_CUDA_FA=OFF \
      -DGGML_CUDA_NCCL=OFF -DGGML_NATIVE=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
      -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF > $LOG/llama-build.log 2>&1 &&
    ninja -C build llama-bench llama-batched-bench >> $LOG/llama-build.log 2>&1 ) &
fi
if [ -z "${SKIP_TESTS:-}" ]; then
  mkdir -p /tmp/fx && for a in $R/fixtures*.tgz; do tar xzf $a -C /tmp/fx; done
  for spec in ${TESTS:-wkv7:40 gemm_logits:120 fixture_logits:120 batched_decode:90 gemm:60 kernels:40 fused:40 legacy_logits:60 kernels_v456:40}; do
    n=${spec%%:*}
    AVIARY_FIXTURES=/tmp/fx AVIARY_REQUIRE_CUDA=1 AVIARY_REQUIRE_CUBLAS=1 CI=1 \
      timeout ${spec#*:} /tmp/fb/$n --test-threads=1 --nocapture > $LOG/test-$n.log 2>&1
    t "TEST $n rc=$? $(grep -h '^test result' $LOG/test-$n.log | tail -1)"
  done
fi
wait; t "models generated; llama-bench: $(ls /tmp/llama.cpp/build/bin/llama-bench 2>/dev/null || echo missing)"
tail -n 2 $LOG/llama-build.log 2>/dev/null
LB=/tmp/llama.cpp/build/bin
if [ -n "${EXTRA:-}" ]; then t "extra: $EXTRA"; . "$EXTRA"; fi
cd /tmp
gguf() { echo /tmp/avc/synth/$(echo $1 | sed 's/:/-/' | tr a-z A-Z | sed 's/B-/b-/')-v1.gguf; }
for m in $MODELS; do
  time_left || { t "out of time: skipping $m"; continue; }
  pp=-; tg=-
  if [ -x $LB/llama-bench ]; then
    timeout 120 $LB/llama-bench -m $(gguf $m) -ngl 99 -p 512 -n 128 -r 2 -o json > $LOG/llama-$m.json 2> $LOG/llama-$m.err
    read pp tg < <(python3 -c "
import json
d = json.load(open('$LOG/llama-$m.json'))
print(f\"{[r['avg_ts'] for r in d if r['n_prompt'] > 0][0]:.0f} {[r['avg_ts'] for r in d if r['n_gen'] > 0][0]:.1f}\")" 2> /dev/null || echo "- -")
  fi
  t "llama.cpp $m: pp512 $pp tg128 $tg"
  timeout 150 /tmp/fb/aviary bench --backend cuda --model synth:$m --prefill 512 --gen 128 --runs 1 --batch 256 --device-bw 4400 \
    --title "H200 cuda" --output $OUT/BENCHMARKS.md >> $LOG/bench.txt 2>> $LOG/bench.err \
    --change "${CHANGE:-closing run}; llama.cpp CUDA (ggml 0.25.3, sm_90, llama-bench -ngl 99 -r 2) in the same command: pp512 $pp, tg128 $tg; prefill 512, gen 128, batch 256, 1 run"
  t "aviary cuda $m rc=$?"
done
if [ -x $LB/llama-batched-bench ] && time_left; then
  timeout 150 $LB/llama-batched-bench -m $(gguf 2.9b:q4_k_m) -ngl 99 -c 40960 -b 4096 -ub 512 -npp 1 -ntg 128 -npl 16,64,256 > $LOG/llama-batched.txt 2>&1
  t "llama.cpp batched rc=$?"; grep -E "^\|" $LOG/llama-batched.txt | tail -n 5
fi
for m in $WGPU_MODELS; do
  time_left || { t "out of time: skipping wgpu $m"; continue; }
  # A short first process fills the driver's shader cache (folded matvec kernels compile in the
  # background and run unfolded until ready), so the measured process sees the steady state.
  timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:$m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>&1
  timeout 100 /tmp/fb/aviary bench --backend wgpu --model synth:$m --prefill 512 --gen 128 --runs 1 --device-bw 4400 \
    --title "H200 wgpu" --change "${WCHANGE:-closing run}; prefill 512, gen 128, 1 run, after a warm-up process" --output $OUT/BENCHMARKS.md >> $LOG/bench.txt 2>> $LOG/bench.err
  t "aviary wgpu $m rc=$?"
done
grep -E "^\| (Model|Backend|\*\*Prefill|\*\*Generation|Batched|Quality Hash|Gen roofline)" $OUT/BENCHMARKS.md | tail -n 42
tail -n 5 $LOG/bench.err
