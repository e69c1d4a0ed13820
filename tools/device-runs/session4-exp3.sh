# Session 4, run 3: wgpu Q4_K matvec layouts per shape, the 2.9b decode profile, exit codes; cuda block counts.
for m in 2.9b:q4_k_m 0.4b:q4_k_m; do /tmp/fb/aviary inspect --model synth:$m > /dev/null 2>> $LOG/synth.log & done; wait; t "models ready"
ab() { # model tuning env...
  local m=$1 tun=$2; shift 2
  r=$(env "$@" AVIARY_CUDA_TUNING=$tun timeout 100 /tmp/fb/aviary bench --backend ${BK:-cuda} --model synth:$m --prefill 512 --gen 128 --runs 1 --no-write --json 2>> $LOG/exp.err | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("pp", round(d["prefill_tok_s"]), "tg", round(d["generation_tok_s"], 1), "hash", d["quality_hash"])' 2>&1)
  t "EXP ${BK:-cuda} $m [$tun] $* $r"
}
ab 2.9b:q4_k_m ""; ab 2.9b:q4_k_m mv_int_blocks=66; ab 2.9b:q4_k_m mv_int_blocks=100; ab 2.9b:q4_k_m ""
K=/tmp/fb/wgpu_kernel_bench
timeout 120 $K matvec --types Q4_K > $LOG/kb-lines.txt 2>&1; t "kb lines rc=$?"
AVIARY_WGPU_Q4K_MV=chunks timeout 120 $K matvec --types Q4_K > $LOG/kb-chunks.txt 2>&1; t "kb chunks rc=$?"
paste -d'|' $LOG/kb-lines.txt $LOG/kb-chunks.txt | grep -v generic
timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:0.4b:q4_k_m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2> $LOG/warm.err; t "wgpu warm-up 0.4b rc=$?"
timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:2.9b:q4_k_m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2> $LOG/warm2.err; t "wgpu warm-up 2.9b rc=$?"
timeout 150 $K model /tmp/avc/synth/2.9b-Q4_K_M-v1.gguf --decode 64 --prefill 64 > $LOG/kb-model.txt 2>&1; t "kb model rc=$?"
head -60 $LOG/kb-model.txt
