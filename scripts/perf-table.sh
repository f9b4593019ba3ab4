#!/usr/bin/env bash
# Runs the loadtest scenarios of docs/performance.md RUNS times each (default 3)
# against a freshly spawned server, writing one JSON report per run to OUT
# (default ./perf-out) and one summary line per run to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
OUT=${OUT:-perf-out}
DUR=${DUR:-10s}
mkdir -p "$OUT"
go build -o bin/lethe ./cmd/lethe
scenario() {
  local name=$1; shift
  for i in $(seq 1 "$RUNS"); do
    ./bin/lethe loadtest --spawn --quiet --duration "$DUR" --warmup 3s --json "$OUT/$name-$i.json" "$@" > "$OUT/$name-$i.txt" 2>&1 || true
    echo "$name run $i: $(grep -E '^(total|server:)' "$OUT/$name-$i.txt" | tr '\n' ' ')"
  done
}
scenario video-50   --publishers 1 --subscribers 50  --media video
scenario video-50-burst --publishers 1 --subscribers 50 --media video --pacing 0
scenario video-100  --publishers 1 --subscribers 100 --media video
scenario video-200  --publishers 1 --subscribers 200 --media video --ramp 40
scenario video-400  --publishers 1 --subscribers 400 --media video --ramp 40
scenario video-800  --publishers 1 --subscribers 800 --media video --ramp 60
scenario video-1000 --publishers 1 --subscribers 1000 --media video --ramp 60
scenario video-1200 --publishers 1 --subscribers 1200 --media video --ramp 60
scenario audio-200  --publishers 1 --subscribers 200 --media audio --ramp 40
scenario rooms-50x2 --rooms 50 --publishers 2 --subscribers 0 --media audio,video --video-bitrate 500000 --ramp 40
