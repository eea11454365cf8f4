#!/usr/bin/env bash
# Run a SPIN replication end to end (data, generation, training, evaluation), then the report.
#
# usage: scripts/replicate_spin.sh [EXPERIMENT.yaml] [--output-dir DIR]
#            [--accelerate-config FILE] [--dry-run] [--set KEY=VALUE ...]
#
#   EXPERIMENT.yaml      default: replication/spin-zephyr-7b.yaml (the paper's Zephyr-7B run)
#   --output-dir DIR     run folder (default: the experiment's output_dir, runs/<name>/seed<seed>);
#                        the report goes to DIR/report
#   --accelerate-config  train under `accelerate launch` with this config, e.g.
#                        replication/accelerate/zero3-8gpu.yaml (the paper's ZeRO-3 on 8 GPUs)
#   --dry-run            print the stages and what is cached; run nothing
#   --set KEY=VALUE      passed to `spin run` (repeatable), e.g. --set generation.backend=vllm
#
# Rerunning continues where a killed run stopped: finished stages are skipped.
# example: scripts/replicate_spin.sh --accelerate-config replication/accelerate/zero3-8gpu.yaml
set -euo pipefail

usage() { awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"; }

experiment="${SPIN_DEFAULT_EXPERIMENT:-replication/spin-zephyr-7b.yaml}"
output_dir=""
dry_run=0
run_args=()
set_args=()
while (($#)); do
    case "$1" in
        -h | --help) usage; exit 0 ;;
        --output-dir) output_dir="$2"; shift 2 ;;
        --accelerate-config)
            run_args+=(--set training.launcher=accelerate --set "training.accelerate_config=$2")
            shift 2 ;;
        --dry-run) dry_run=1; run_args+=(--dry-run); shift ;;
        --set) run_args+=(--set "$2"); set_args+=(--set "$2"); shift 2 ;;
        -*) echo "$(basename "$0"): unknown option '$1'" >&2; usage >&2; exit 2 ;;
        *) experiment="$1"; shift ;;
    esac
done

if [[ ! -f "$experiment" ]]; then
    echo "$(basename "$0"): experiment file not found: $experiment" >&2
    exit 2
fi
spin="${SPIN:-spin}"
if [[ -z "$output_dir" ]]; then
    output_dir="$("$spin" plan "$experiment" "${set_args[@]}" --output-dir-only)"
fi

set -x
"$spin" run "$experiment" --output-dir "$output_dir" "${run_args[@]}"
if ((!dry_run)); then
    "$spin" report --results-dir "$output_dir/results" --output-dir "$output_dir/report"
fi
