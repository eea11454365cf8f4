#!/usr/bin/env bash
# The main job: install into .venv, then run the tiny preset end to end on the CPU.
#
# usage: scripts/demo.sh [spin run options, e.g. --set seed=1 --output-dir DIR]
#
# Writes runs/tiny/seed42/ (stages, results/*.json, summary.md, accuracy.png).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,6p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install.sh
exec .venv/bin/spin run replication/tiny.yaml "$@"
