# Session 4, run 2: PDL A/B repeated (cuda), Q4_K matvec item layouts (wgpu).
for m in 2.9b:q4_k_m 2.9b:f16 0.4b:q4_k_m; do /tmp/fb/aviary inspect --model synth:$m > /dev/null 2>> $LOG/synth.log & done; wait; t "models ready"
ab() { # model tuning env...
  local m=$1 tun=$2; shift 2
  r=$(env "$@" AVIARY_CUDA_TUNING=$tun timeout 100 /tmp/fb/aviary bench --backend ${BK:-cuda} --model synth:$m --prefill 512 --gen 128 --runs 1 --no-write --json 2>> $LOG/exp.err | tail -n 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("pp", round(d["prefill_tok_s"]), "tg", round(d["generation_tok_s"], 1), "hash", d["quality_hash"])' 2>&1)
  t "EXP ${BK:-cuda} $m [$tun] $* $r"
}
for i in 1 2; do ab 2.9b:q4_k_m pdl=0; ab 2.9b:q4_k_m pdl=1; done
ab 2.9b:f16 pdl=0; ab 2.9b:f16 pdl=1
BK=wgpu
timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:2.9b:q4_k_m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>&1
AVIARY_WGPU_Q4K_MV=chunks timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:2.9b:q4_k_m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>&1
for i in 1 2; do ab 2.9b:q4_k_m "" X=1; ab 2.9b:q4_k_m "" AVIARY_WGPU_Q4K_MV=chunks; done
timeout 60 /tmp/fb/aviary bench --backend wgpu --model synth:0.4b:q4_k_m --prefill 64 --gen 32 --runs 1 --no-write > /dev/null 2>&1
ab 0.4b:q4_k_m "" X=1; ab 0.4b:q4_k_m "" AVIARY_WGPU_Q4K_MV=chunks
