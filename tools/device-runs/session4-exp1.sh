# Ablations of this session's decode change (sourced by tools/device-bench.sh as EXTRA).
for spec in "2.9b:q4_k_m|pdl=0,mv_prefetch=0" "2.9b:q4_k_m|mv_prefetch=0" "2.9b:q4_k_m|pdl=0" "2.9b:q4_k_m|" "2.9b:f16|pdl=0,mv_prefetch=0" "2.9b:f16|"; do
  time_left || { t "out of time"; break; }
  m=${spec%%|*}; tun=${spec#*|}
  r=$(AVIARY_CUDA_TUNING=$tun timeout 100 /tmp/fb/aviary bench --backend cuda --model synth:$m --prefill 512 --gen 128 --runs 1 --no-write --json 2>> $LOG/exp.err | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("pp", round(d["prefill_tok_s"]), "tg", round(d["generation_tok_s"], 1), "hash", d["quality_hash"])' 2>&1)
  t "EXP $m [$tun] $r"
done
