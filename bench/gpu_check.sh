#!/usr/bin/env bash
# GPU checks and benchmarks in one short run (for a lent GPU machine; the project needs none).
#   bash bench/gpu_check.sh [OUT_DIR]
# 1. each paper backbone: one fast_dev_run at 224 px on the GPU in bf16 with channels_last;
# 2. the same with torch.compile for inception_resnet_v2;
# 3. the Lightning-vs-plain-loop and GAN throughput benchmarks (ratios against baselines in the same run).
set -uo pipefail
OUT=${1:-${OUT:-bench/results}}
mkdir -p "$OUT"
PY=${PY:-python}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
common="experiment=demo logger=none trainer=gpu trainer.fast_dev_run=true backbone.input_size=224 model.channels_last=true"
for b in vgg16 vgg19 inception_v3 inception_resnet_v2; do
  /usr/bin/time -f "$b %e s" $PY train.py $common backbone=$b hydra.run.dir="$OUT/runs/$b" 2>&1 | tail -3 | tee -a "$OUT/backbones.txt"
done
/usr/bin/time -f "inception_resnet_v2+compile %e s" $PY train.py $common backbone=inception_resnet_v2 model.compile=true \
  hydra.run.dir="$OUT/runs/irv2_compile" 2>&1 | tail -3 | tee -a "$OUT/backbones.txt"
FER_BENCH_DEVICE=cuda $PY -m bench lightning_overhead gan 2>&1 | tee "$OUT/bench.jsonl"
