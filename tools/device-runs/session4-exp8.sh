# Session 4: Nsight Compute on one layer's decode matvecs (2.9b Q4_K_M): the first four mv_q4_k launches of the first decode step.
/tmp/fb/aviary inspect --model synth:2.9b:q4_k_m > /dev/null 2>> $LOG/synth.log; t "model ready"
NCU=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
t "ncu: $NCU"
timeout 150 $NCU --clock-control none --kernel-name regex:mv_q4_k_r --launch-count 4 \
  --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats --section MemoryWorkloadAnalysis \
  /tmp/fb/aviary bench --backend cuda --model synth:2.9b:q4_k_m --prefill 8 --gen 2 --runs 1 --no-write > $LOG/ncu.txt 2>&1
t "ncu rc=$?"; cp $LOG/ncu.txt $OUT/ncu.txt
grep -E "mv_q4_k|Duration|Memory Throughput|DRAM Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit|Stall|Warp Cycles Per Issued|Issued Warp|No Eligible|One or More|Grid Size|Block Size" $LOG/ncu.txt | head -80
