#!/usr/bin/env bash
# Train every objective with the same short budget on CIFAR-10-LT (imbalance 100), test each, and
# print a table of accuracy and balanced accuracy. Runs PARALLEL jobs at a time (one GPU is far from
# busy with one ResNet-32). Usage:
#   benchmarks/objectives_cifar10lt.sh [DATA_DIR] [EPOCHS] [PARALLEL]
# DATA_DIR defaults to ../shared/data/cifar10-lt-if100 (train/ and test/; validation uses test/,
# as the long-tail literature does).
set -euo pipefail
DATA=${1:-../shared/data/cifar10-lt-if100}
EPOCHS=${2:-20}
PARALLEL=${3:-4}
LOGS=${LOGS:-logs}
OBJECTIVES=${OBJECTIVES:-"ERM CCE COT FL SquareAUC TPAUC BSCE LA LDAM LADE GML FeaBal"}
WORKERS=${WORKERS:-2}
[ -d "$DATA/train" ] || { echo "no $DATA/train: skipping" >&2; exit 0; }

train_one() {
  local objective=$1 extra=()
  [ "$objective" = LDAM ] && extra=(--train-rule DRW)
  ltcli train --data "$DATA" --model resnet32 --objective "$objective" "${extra[@]}" --epochs "$EPOCHS" \
    --sched cosine --warmup 2 --lr 0.1 --batchsize 128 --weight-decay 2e-4 --workers "$WORKERS" \
    --logs-dir "$LOGS" > "$LOGS/train-$objective.log" 2>&1
  ltcli test --run "$(ls -d "$LOGS"/resnet32/*/"$objective"/*/ | sort | tail -n 1)" --logs-dir "$LOGS" \
    > "$LOGS/test-$objective.log" 2>&1
}

mkdir -p "$LOGS"
running=0
for objective in $OBJECTIVES; do
  train_one "$objective" &
  running=$((running + 1))
  if [ "$running" -ge "$PARALLEL" ]; then wait -n || true; running=$((running - 1)); fi
done
wait || true
python - "$LOGS" <<'PY'
import json, sys
from pathlib import Path
rows = []
for metrics in sorted(Path(sys.argv[1]).glob("resnet32/*/*/*/metrics.json")):
    m = json.loads(metrics.read_text())
    cfg = json.loads((metrics.parent / "config.json").read_text())
    rows.append((m["acc"], cfg["objective"] + ("+" + cfg["train_rule"] if cfg["train_rule"] != "None" else ""), m))
print(f"| objective | acc | balanced acc | many | medium | few | lowest recall | epochs |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
fmt = lambda v: "n/a" if v is None else f"{100 * v:.1f}"
for acc, name, m in sorted(rows, key=lambda r: -r[0]):
    print(f"| {name} | {fmt(m['acc'])} | {fmt(m['balanced_acc'])} | {fmt(m.get('many_shot_acc'))} | "
          f"{fmt(m.get('medium_shot_acc'))} | {fmt(m.get('few_shot_acc'))} | {fmt(m['lowest_recall'])} | "
          f"{m['checkpoint_epoch'] + 1} (best) |")
PY
