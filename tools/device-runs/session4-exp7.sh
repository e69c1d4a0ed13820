# Session 4: the wgpu argmax change, measured.
G() { /tmp/fb/aviary inspect --model synth:$1 > /dev/null 2>> $LOG/synth.log; }
G 2.9b:q4_k_m & G 0.4b:q4_k_m & wait; t "models ready"
wb() {
  timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:$1 --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>> $LOG/warm.err; local w=$?
  timeout 120 /tmp/fb/aviary bench --backend wgpu --model synth:$1 --prefill 512 --gen 128 --runs 1 --device-bw 4400 \
    --title "H200 wgpu" --change "$WCHANGE; prefill 512, gen 128, 1 run, after a warm-up process" --output $OUT/BENCHMARKS.md >> $LOG/bench.txt 2>> $LOG/bench.err
  t "aviary wgpu $1 rc=$? (warm-up rc=$w)"
}
wb 0.4b:q4_k_m; wb 2.9b:q4_k_m
timeout 90 /tmp/fb/wgpu_kernel_bench model /tmp/avc/synth/2.9b-Q4_K_M-v1.gguf --decode 64 --prefill 64 > $LOG/kb-model.txt 2>&1; t "kb model rc=$?"; sed -n 1,8p $LOG/kb-model.txt; grep -E "Argmax|Wkv7WithOutput|Q6_K" $LOG/kb-model.txt | head -4
grep -E "Generation|Prefill" $LOG/bench.txt
