#!/bin/bash
# Dataset models that need a GPU to train (issue 8): `wnet_large` (~2.2M parameters, four levels)
# on each dataset at its own resolution, crops of 256 px, three seeds side by side on one GPU,
# with the paper's configuration (gpu_paper.sh) beside them. Stage 1 only; each run's threshold is
# chosen on its own validation images and its test metrics land in RUN/test/stage1.
#
# Sized to the device tool's lease: one probe epoch per run measures its epoch under the same
# contention, then each run gets the epochs that fit BUDGET_S seconds of training.
#
# Once, on the CPU machine (the data beside the checkout does not travel to the device):
#   mkdir -p .gpu-data && cp -r ../shared/data/DRIVE ../shared/data/CHASEDB1 ../shared/data/RITE .gpu-data/
#   echo /.gpu-data/ >> .git/info/exclude
# Then: run(command="bash benchmarks/gpu_large.sh", carry=[".gpu-data"], timeout_s=600). What
# comes back ($OUT): each run's model.safetensors, a tar of every run's records and the logs.
# Smoke test on a CPU (tiny, synthetic): SMOKE=1 bash benchmarks/gpu_large.sh
# ONLY=chase_db1 PAPER=0 WORKERS=5: one dataset's seeds alone on the GPU (more loader processes each).
# ONLY=rite PAPER=0: the A/V model (AV_BACKBONE, default av_cascade_wide, on AV_VESSEL's vessel
# probability, default drive_av's), three seeds; .gpu-data must then hold RITE/ beside DRIVE/.
# THEN="16:0.0005 14:0.0003": after the budgeted run, continue each seed from its weights for
# EPOCHS at LR, one step after the other (RUN-then1, RUN-then2, ...; the same seed, so the same
# validation images); the last step's weights come back. Session 12's A/V schedule was
# ONLY=rite PAPER=0 AV_BACKBONE=av_cascade WORKERS=4 BUDGET_S=380 THEN="16:0.0005 14:0.0003".
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
RUNS=${RUNS:-runs/gpu-large}
BUDGET_S=${BUDGET_S:-330}
SEEDS=${SEEDS:-0 1 2}
OUT=${OUT:-$RUNS/out}
if [ "${SMOKE:-0}" = 1 ]; then
  DATASETS=("synthetic:" "rite:${RITE_ROOT:-../shared/data}") ; DEVICE=(--accelerator cpu --precision 32-true --num-workers 0)
  SHAPE=(--crop 64 --batch-size 2 --samples-per-epoch 4 --val-count 2 --backbone wnet)
  AV_SHAPE=(--crop 64 --batch-size 2 --samples-per-epoch 4 --backbone "${AV_BACKBONE:-av_cascade_wide}"
            --av-vessel-model "${AV_VESSEL:-drive_av}")
  ONLY=${ONLY:-synthetic}
  BUDGET_S=1 SEEDS=0 PAPER=0
else
  DATASETS=("drive:.gpu-data/DRIVE" "chase_db1:.gpu-data/CHASEDB1" "rite:.gpu-data")
  DEVICE=(--accelerator gpu --devices 1 --precision bf16-mixed --num-workers "${WORKERS:-2}")
  SHAPE=(--crop 256 --batch-size 8 --samples-per-epoch 1024 --val-count 3 --backbone wnet_large)
  AV_SHAPE=(--crop 320 --batch-size 8 --samples-per-epoch 1024 --backbone "${AV_BACKBONE:-av_cascade_wide}"
            --av-vessel-model "${AV_VESSEL:-drive_av}")
  ONLY=${ONLY:-drive chase_db1}
  "$PYTHON" -c "import torch; assert torch.cuda.is_available(), 'no GPU'; print(torch.cuda.get_device_name(0))" || exit 1
  export OMP_NUM_THREADS=2  # seven processes share 16 cores
fi
rm -rf "$RUNS"; mkdir -p "$RUNS/logs" "$OUT"

train_one() {  # DATASET ROOT SEED: probe epoch, then the budgeted run with its test evaluation
  local dataset=$1 root=$2 seed=$3 run="$RUNS/$1-s$3"
  local data=(--root "$root") stage=stage1 shape=("${SHAPE[@]}") train test=()
  [ -z "$root" ] && data=()
  if [ "$dataset" = rite ]; then  # the A/V model: `fit rite` trains it and scores RITE's test split
    train=(-m earnet fit rite) stage=av shape=("${AV_SHAPE[@]}")
  else
    train=(-m earnet train --stage 1 --dataset "$dataset") test=(--test)
  fi
  local common=("${data[@]}" "${DEVICE[@]}" "${shape[@]}" --seed "$seed" --no-progress)
  "$PYTHON" "${train[@]}" --out "$run-probe" "${common[@]}" --epochs 1 || return 1
  local epoch_s epochs
  epoch_s=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['train_seconds'])" \
    "$run-probe/$stage/stage.json")
  epochs=$("$PYTHON" -c "import sys; print(max(1, int(float(sys.argv[1]) / float(sys.argv[2]))))" "$BUDGET_S" "$epoch_s")
  echo "$run: one epoch ${epoch_s} s -> $epochs epochs"
  local start; start=$(date +%s)
  "$PYTHON" "${train[@]}" --out "$run" "${common[@]}" --epochs "$epochs" "${test[@]}" || return 1
  echo "$run: $(( $(date +%s) - start )) s wall, $epochs epochs"
  local step=0 previous=$run
  for then in ${THEN:-}; do
    step=$((step + 1))
    "$PYTHON" "${train[@]}" --out "$run-then$step" "${common[@]}" --init "$previous/$stage/model.safetensors" \
      --epochs "${then%%:*}" --lr "${then#*:}" "${test[@]}" || return 1
    echo "$run-then$step: +${then%%:*} epochs at lr ${then#*:}"
    previous=$run-then$step
  done
  cp "$previous/$stage/model.safetensors" "$OUT/$(basename "$run").safetensors"  # back even if a later run overruns
}

pids=()
if [ "${PAPER:-1}" = 1 ]; then
  BUDGET_S=${PAPER_BUDGET_S:-300} WORKERS=4 bash benchmarks/gpu_paper.sh > "$RUNS/logs/paper.log" 2>&1 &
  pids+=($!)
fi
for entry in "${DATASETS[@]}"; do
  [[ " $ONLY " == *" ${entry%%:*} "* ]] || continue
  for seed in $SEEDS; do
    train_one "${entry%%:*}" "${entry#*:}" "$seed" > "$RUNS/logs/${entry%%:*}-s$seed.log" 2>&1 &
    pids+=($!)
  done
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done

# What comes back (at most 8 files): the weights of every run (copied as each finished), the paper
# run's results, and every run's records (no images, no checkpoints) with the logs.
[ "${PAPER:-1}" = 1 ] && rm -f "$OUT/fit.log"
tar czf "$OUT/records.tar.gz" --exclude='*.ckpt' --exclude='*.safetensors' --exclude='images' --exclude='maps' \
  --exclude='events.out.*' --exclude='*.png' "$RUNS"/*-s[0-9] "$RUNS"/*-s[0-9]-then* "$RUNS/logs" runs/gpu-paper/fit.log runs/gpu-paper/paper/test runs/gpu-paper/paper/*/stage.json \
  runs/gpu-paper/paper/*/threshold.json 2>/dev/null
for log in "$RUNS"/logs/*.log; do echo "== $log"; tail -n 4 "$log"; done
exit $status
