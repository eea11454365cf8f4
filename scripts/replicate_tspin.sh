#!/usr/bin/env bash
# Run a T-SPIN replication end to end, then the report: scripts/replicate_spin.sh with the
# T-SPIN experiment as its default. Same options.
#
# usage: scripts/replicate_tspin.sh [EXPERIMENT.yaml] [--output-dir DIR]
#            [--accelerate-config FILE] [--dry-run] [--set KEY=VALUE ...]
#
#   EXPERIMENT.yaml      default: replication/tspin-zephyr-7b.yaml (iterations 0-4)
#   the other options:   see scripts/replicate_spin.sh --help
#
# example: scripts/replicate_tspin.sh --accelerate-config replication/accelerate/zero3-8gpu.yaml
set -euo pipefail

for arg in "$@"; do
    if [[ "$arg" == "-h" || "$arg" == "--help" ]]; then
        awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
        exit 0
    fi
done
SPIN_DEFAULT_EXPERIMENT="${SPIN_DEFAULT_EXPERIMENT:-replication/tspin-zephyr-7b.yaml}" \
    exec "$(dirname "${BASH_SOURCE[0]}")/replicate_spin.sh" "$@"
