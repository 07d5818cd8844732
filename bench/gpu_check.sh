#!/usr/bin/env bash
# GPU checks and benchmarks in one short run (for a lent GPU machine; the project needs none).
#   bash bench/gpu_check.sh [OUT_DIR]
# 1. each paper backbone: one fast_dev_run at 224 px on the GPU in bf16 with channels_last;
# 2. the same with torch.compile for inception_resnet_v2;
# 3. the Lightning-vs-plain-loop and GAN throughput benchmarks (ratios against baselines in the same run);
# 4. the modern recipe on the GPU, and online augmentation on CPU vs GPU for one seeded batch.
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
# 4. the modern recipe on the GPU (kornia augmentation, EMA, TTA), and online augmentation drawing the same
#    parameters on CPU and GPU (kornia draws them on the CPU): largest pixel difference of one seeded batch.
/usr/bin/time -f "recipe=modern %e s" $PY train.py $common backbone=resnet10t recipe=modern \
  hydra.run.dir="$OUT/runs/modern" 2>&1 | tail -3 | tee -a "$OUT/backbones.txt"
$PY - <<'PYEOF' 2>&1 | tee "$OUT/augment_cpu_gpu.txt"
import hydra, torch
from hydra import compose, initialize_config_dir
from pathlib import Path
with initialize_config_dir(version_base="1.3", config_dir=str(Path("conf").resolve())):
    aug = hydra.utils.instantiate(compose("train.yaml", overrides=["augment=strong"]).augment.pipeline)
x = torch.randint(0, 256, (64, 1, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
torch.manual_seed(1); cpu = aug(x)
torch.manual_seed(1); gpu = aug.cuda()(x.cuda()).cpu()
print("augment=strong, CPU vs GPU, max |difference| in grey levels:", float((cpu - gpu).abs().max()))
PYEOF
