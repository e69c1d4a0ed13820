# Session 4, wgpu closing run: the BENCHMARKS entries (after a warm-up process each), submit_every A/B, a decode profile.
G() { /tmp/fb/aviary inspect --model synth:$1 > /dev/null 2>> $LOG/synth.log; }
( G 7.2b:q8_0 && touch /tmp/ready-7.2b:q8_0; t "7.2b q8_0 generated"; G 7.2b:f16 && touch /tmp/ready-7.2b:f16; t "7.2b f16 generated" ) &
BIG=$!
pids=""; for m in 2.9b:q4_k_m 2.9b:f16 2.9b:q8_0 0.4b:q4_k_m 0.4b:f16 0.4b:q8_0; do G $m & pids="$pids $!"; done; wait $pids; t "small models ready"
wb() {
  time_left || { t "out of time: skipping wgpu $1"; return; }
  timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:$1 --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>> $LOG/warm.err; local w=$?
  timeout 120 /tmp/fb/aviary bench --backend wgpu --model synth:$1 --prefill 512 --gen 128 --runs 1 --device-bw 4400 \
    --title "H200 wgpu" --change "$WCHANGE; prefill 512, gen 128, 1 run, after a warm-up process" --output $OUT/BENCHMARKS.md >> $LOG/bench.txt 2>> $LOG/bench.err
  t "aviary wgpu $1 rc=$? (warm-up rc=$w)"
}
for m in 2.9b:q4_k_m 2.9b:f16 2.9b:q8_0 0.4b:q4_k_m 0.4b:f16 0.4b:q8_0; do wb $m; done
for se in 16 64; do
  r=$(AVIARY_WGPU_SUBMIT_EVERY=$se timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:2.9b:q4_k_m --prefill 64 --gen 128 --runs 1 --no-write --json 2>> $LOG/exp.err | tail -n 1 | python3 -c 'import json,sys; d=json.load(sys.stdin); print("tg", round(d["generation_tok_s"], 1))' 2>&1)
  t "EXP submit_every=$se 2.9b q4_k_m $r"
done
timeout 90 /tmp/fb/wgpu_kernel_bench model /tmp/avc/synth/2.9b-Q4_K_M-v1.gguf --decode 64 --prefill 64 > $LOG/kb-model.txt 2>&1; t "kb model rc=$?"; sed -n 1,26p $LOG/kb-model.txt
while kill -0 $BIG 2> /dev/null && time_left; do sleep 5; done
for m in 7.2b:q8_0 7.2b:f16; do if [ -e /tmp/ready-$m ]; then wb $m; else t "7.2b $m not generated in time"; fi; done
