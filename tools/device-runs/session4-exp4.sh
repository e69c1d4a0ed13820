# Session 4, run 4: matvec.cu at two resident blocks per SM (__launch_bounds__(512, 2)), with more blocks, one row per group, PDL.
/tmp/fb/aviary inspect --model synth:2.9b:q4_k_m > /dev/null 2>> $LOG/synth.log; t "model ready"
ab() { # model tuning env...
  local m=$1 tun=$2; shift 2
  r=$(env "$@" AVIARY_CUDA_TUNING=$tun timeout 100 /tmp/fb/aviary bench --backend ${BK:-cuda} --model synth:$m --prefill 512 --gen 128 --runs 1 --no-write --json 2>> $LOG/exp.err | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("pp", round(d["prefill_tok_s"]), "tg", round(d["generation_tok_s"], 1), "hash", d["quality_hash"])' 2>&1)
  t "EXP ${BK:-cuda} $m [$tun] $* $r"
}
M=AVIARY_CUDA_MV_MIN_BLOCKS=2
for i in 1 2; do
ab 2.9b:q4_k_m "" X=1
ab 2.9b:q4_k_m "" $M
ab 2.9b:q4_k_m mv_int_blocks=264 $M
ab 2.9b:q4_k_m mv_int_blocks=264,mv_rows=1 $M
ab 2.9b:q4_k_m mv_int_blocks=264,mv_rows=1,pdl=1 $M
ab 2.9b:q4_k_m pdl=1 $M
ab 2.9b:q4_k_m mv_rows=1 X=1
done
ab 2.9b:f16 "" X=1; ab 2.9b:f16 "" $M
