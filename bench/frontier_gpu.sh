#!/usr/bin/env bash
# The two-level latent's frontier on a lent GPU: several runs at once, one per target rate of
# z_g, each trained for MINUTES of wall time (the learning rate's cosine follows the clock),
# then packed as float16 checkpoints with their logs into $OUT.
#
# Needs .gpu/corpus.tgz (the prepared splits: tar czf .gpu/corpus.tgz -C data corpus) beside it;
# run it from the repository root: MINUTES=7 OUT=/tmp/out bash bench/frontier_gpu.sh
set -u
MINUTES=${MINUTES:-7}
OUT=${OUT:-runs/gpu}
WORK=/tmp/frontier
mkdir -p "$WORK/runs" "$OUT"
tar xzf .gpu/corpus.tgz -C "$WORK"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
common=(--epochs 1000 --batch-size 512 --lr 3e-3 --lr-min 0.05 --device cuda --threads 2
        --data "$WORK/corpus" --kl-anneal-steps 1500
        --set latent_global=32 --set detail_drop=0.35 --set detail_nest=0.3 --set null_rate=0.3)

# a smoke run first, so a broken step costs seconds, not the lease
python3 -m model train --form 5 --out "$WORK/runs/smoke/ckpt" --limit 3000 --max-minutes 0.05 "${common[@]}" \
  --set rate_target=10 > "$WORK/runs/smoke.log" 2>&1 || { tail -30 "$WORK/runs/smoke.log"; exit 1; }
tail -2 "$WORK/runs/smoke.log"

run() {  # name, then flags
  local name=$1; shift
  timeout $((MINUTES * 60 + 90)) python3 -m model train --out "$WORK/runs/$name/ckpt" --max-minutes "$MINUTES" \
    "${common[@]}" "$@" > "$WORK/runs/$name.log" 2>&1 &
}
run q5r05 --form 5 --set rate_target=5
run q5r12 --form 5 --set rate_target=12
run q5r25 --form 5 --set rate_target=25
run q5r45 --form 5 --set rate_target=45
run q7r12 --form 7 --set rate_target=12
run q7r25 --form 7 --set rate_target=25
wait
grep -h "epoch .*valid\|stopping\|Error\|error" "$WORK"/runs/*.log | tail -40

# float16 checkpoints, two runs a tarball (the device returns at most 8 files of 16 MiB)
python3 - "$WORK/runs" "$WORK/pack" <<'EOF'
import sys
from pathlib import Path
from model.checkpoint import load, save
runs, pack = Path(sys.argv[1]), Path(sys.argv[2])
for d in sorted(p for p in runs.iterdir() if p.is_dir() and p.name != "smoke"):
    if (d / "ckpt.json").exists():
        save(load(d / "ckpt"), pack / d.name, half=True)
EOF
cd "$WORK/pack" && tar czf "$OUT/q5a.tgz" q5r05.* q5r12.*; tar czf "$OUT/q5b.tgz" q5r25.* q5r45.*
tar czf "$OUT/q7.tgz" q7r*.*
cd "$WORK/runs" && tar czf "$OUT/logs.tgz" ./*.log ./*/ckpt.png
ls -la "$OUT"
