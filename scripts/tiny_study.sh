#!/usr/bin/env bash
# The tiny study: θ0 once (replication/tiny-study-theta0.yaml), then
# replication/tiny-study.yaml from that θ0 for every seed, then the analysis.
#
# usage: scripts/tiny_study.sh [SEED ...]        (default seeds: 42 1 2 3 4 5 6)
#   JOBS=N      seeds run at once (default 2); each gets nproc/N torch threads
#   SPIN_PYTHON the interpreter with spin installed (default .venv/bin/python)
#
# Writes runs/tiny-study/{theta0,seedS}/ and reports/tiny/study/: study.md (power, paired differences,
# stability, dynamics), study.json, study.png, seeds.md/.png (per-seed table), wall_time.md.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${SPIN_PYTHON:-$root/.venv/bin/python}"
jobs="${JOBS:-2}"
seeds=("$@")
[[ ${#seeds[@]} -gt 0 ]] || seeds=(42 1 2 3 4 5 6)  # 7: the power target needs S = 7 (study.md)
# One torch thread pool per job, sized to its share of the cores: more threads than cores
# make the OpenMP workers of concurrent runs spin against each other (here one SFT step went
# from 0.13 s to 6 s on a loaded machine).
cores=$(nproc)  # before OMP_NUM_THREADS is set: nproc honours it
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$((cores / jobs > 0 ? cores / jobs : 1))}"
out=reports/tiny/study
mkdir -p "$out" runs/tiny-study
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*"; }

run_seed() {  # one seed, its own log; prints "seed seconds"
    local seed=$1 start
    start=$(date +%s)
    "$py" -m spin.cli run replication/tiny-study.yaml --set "seed=$seed" -q \
        >"runs/tiny-study/seed$seed.log" 2>&1
    echo "$seed $(($(date +%s) - start))"
}

log "tiny study: seeds ${seeds[*]}, $jobs at once, OMP_NUM_THREADS=$OMP_NUM_THREADS"
start=$(date +%s)
log "θ0: replication/tiny-study-theta0.yaml"
"$py" -m spin.cli run replication/tiny-study-theta0.yaml -q >runs/tiny-study/theta0.log 2>&1
theta0=$(($(date +%s) - start))
times=$(mktemp)
pids=()
for seed in "${seeds[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n; done
    run_seed "$seed" >>"$times" &
    pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
[[ $failed -eq 0 ]] || { log "a seed failed: see runs/tiny-study/seed*.log"; exit 1; }
for seed in "${seeds[@]}"; do  # every seed must have evaluated on θ0's held-out items
    cmp -s runs/tiny-study/theta0/stages/prepare-*/eval.jsonl \
        runs/tiny-study/seed"$seed"/stages/prepare-*/eval.jsonl ||
        { log "seed $seed: held-out items differ from θ0's run"; exit 1; }
done
total=$(($(date +%s) - start))
dirs=()
for seed in "${seeds[@]}"; do dirs+=("runs/tiny-study/seed$seed"); done
"$py" -m spin.summary "${dirs[@]}" --output "$out/seeds" >/dev/null
"$py" -m spin.tiny.study "${dirs[@]}" --output "$out/study" >/dev/null
{
    echo "# Wall time"
    echo
    echo "$(date -u +%Y-%m-%d), $cores cores, $jobs seeds at once, OMP_NUM_THREADS=$OMP_NUM_THREADS;"
    echo "the machine's load average when the study ended: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "θ0 (once): $theta0 s."
    echo
    echo "| seed | seconds |"
    echo "|---:|---:|"
    sort -n "$times" | while read -r s t; do echo "| $s | $t |"; done
    echo
    echo "All seeds: $total s ($((total / 60)) min $((total % 60)) s)."
} >"$out/wall_time.md"
rm -f "$times"
log "done in $total s: $out/study.md"
