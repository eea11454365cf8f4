#!/usr/bin/env bash
# A check of one CUDA GPU, offline, in at most 8 minutes: CUDA vLLM against HF generate
# (tokens/s), a bf16 training step with fp32 master weights, FSDP2 and DeepSpeed ZeRO-3 on
# one process (with the step-0 invariants: reference = policy, SPIN's first loss log 2), the
# T-SPIN_ref reference pass, and peak memory against spin plan's estimate.
#
# usage: scripts/gpu_check.sh [--output FILE] [--only CHECK ...]
#
# Prints one JSON object and writes it to reports/gpu_check.json (or --output FILE).
# Exit codes: 0 all checks passed, 1 one failed (see its "error"), 3 no CUDA device.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
python="${SPIN_PYTHON:-$root/.venv/bin/python}"
[[ -x "$python" ]] || python="$(command -v python3)"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_NO_USAGE_STATS=1
# One GPU, whatever the machine has: the first visible one.
visible="${CUDA_VISIBLE_DEVICES:-0}"
export CUDA_VISIBLE_DEVICES="${visible%%,*}"
exec "$python" -m spin.gpu_check "$@"
