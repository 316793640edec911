#!/usr/bin/env bash
# An example experiment plan, in the spirit of the original 3_run.sh: on the bundled long-tailed
# digits demo, train several objectives with the same budget, test each on the held-out split,
# then plot them together. About 3 minutes on 2 CPU cores.
#
# Override any of these from the environment, e.g.  OBJECTIVES="ERM CCE" EPOCHS=60 ./run.sh
set -euo pipefail
cd "$(dirname "$0")"

DATASET=${DATASET:-digits-lt}
MODEL=${MODEL:-resnet32}
EPOCHS=${EPOCHS:-30}
OBJECTIVES=${OBJECTIVES:-"ERM CCE"}
# 8x8 digits are upscaled to 16x16 (enough for a CIFAR ResNet, 4x cheaper than 32x32); digits are
# not mirror-symmetric, so no horizontal flips. 30 epochs: 20 at lr 0.05, 6 at 0.005, 4 at 0.0005.
TRAIN_OPTIONS=(--model "$MODEL" --epochs "$EPOCHS" --lrstep 20,6,4 --warmup 2 --lr 0.05 --batchsize 32
               --height 16 --width 16 --hflip 0 --seed 0)

ltcli demo-data                                   # data_split/digits-lt/<digit>/*.png (kept if present)
if [ ! -d "a_datasets/$DATASET" ]; then
  ltcli split "$DATASET" --ratios 0.7,0.15,0.15 --seed 0
fi

# On a machine with several GPUs, launch each training through torchrun instead (same options;
# --batchsize stays the images per step over all GPUs):
#   torchrun --standalone --nproc_per_node 4 -m ltcli train --dataset "$DATASET" ...
runs=()
for objective in $OBJECTIVES; do
  ltcli train --dataset "$DATASET" --objective "$objective" "${TRAIN_OPTIONS[@]}"
  ltcli test --dataset "$DATASET" --model "$MODEL" --objective "$objective" --datetime latest
  runs+=(--run "$(ls -d "logs/$MODEL/$DATASET/$objective"/*/ | sort | tail -n 1)")
done

ltcli plot "${runs[@]}" --metrics acc,loss,balanced_acc --out "logs/plots/$DATASET-$MODEL.svg" --png
ltcli plot "${runs[@]}" --kind per-class --out "logs/plots/$DATASET-$MODEL-per-class.svg"
ltcli plot "${runs[@]}" --kind shots --out "logs/plots/$DATASET-$MODEL-shots.svg"
ltcli runs --dataset "$DATASET" --model "$MODEL"

# The web app on these runs (Train / Infer / Compare / Runs / Data tabs), on this machine only:
#   ltcli app --root .        # then open http://127.0.0.1:7860
echo "open the app on these runs: ltcli app --root . (then http://127.0.0.1:7860)"
