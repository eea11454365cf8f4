#!/usr/bin/env bash
# Check that requirements/*.lock are current: regenerate them into a temporary folder
# with requirements/lock.sh and fail on any difference.
#
# usage: scripts/check_lock.sh [-h|--help]
#
# Needs only the package registry: uv is taken from .venv or PATH if it is the pinned
# release, otherwise installed into a cache venv (~/.cache/spin-tools). Resolution is frozen at
# lock.sh's EXCLUDE_NEWER date, so a new release upstream never makes this fail; a change
# to pyproject.toml's dependencies or to requirements/*.in without relocking does.
# To fix a failure: requirements/lock.sh, then commit the locks. Also prints a notice when
# vllm 0.33.0 (left out of gpu.lock, see replication/PINS.md) has become resolvable.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    exit 0
fi

UV_VERSION=0.13.8  # the lock format is uv's output: same uv, same bytes
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# The project's venv has the pinned uv (extra dev) once scripts/install.sh ran.
uv="$root/.venv/bin/uv"
[[ -x "$uv" ]] || uv="$(command -v uv || true)"
if [[ -z "$uv" || "$("$uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
    tools="${XDG_CACHE_HOME:-$HOME/.cache}/spin-tools"
    if [[ ! -x "$tools/bin/uv" || "$("$tools/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]]; then
        python3 -m venv "$tools"
        "$tools/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
    uv="$tools/bin/uv"
fi

fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
UV="$uv" "$root/requirements/lock.sh" "$fresh" 2>/dev/null

status=0
for lock in "$root"/requirements/*.lock "$fresh"/*.lock; do
    name="$(basename "$lock")"
    if [[ ! -f "$root/requirements/$name" || ! -f "$fresh/$name" ]]; then
        echo "check_lock: requirements/$name is missing or no longer generated" >&2
        status=1
    fi
done
for lock in "$fresh"/*.lock; do
    name="$(basename "$lock")"
    if [[ -f "$root/requirements/$name" ]] && ! diff -q "$root/requirements/$name" "$lock" >/dev/null; then
        echo "check_lock: requirements/$name is out of date with pyproject.toml; rerun requirements/lock.sh:" >&2
        diff -u "$root/requirements/$name" "$lock" | grep -E '^[+-][A-Za-z0-9]' | head -20 >&2 || true
        status=1
    fi
done

# Information only: can vllm 0.33.0 be locked yet (with today's registry)?
if (cd "$root" && "$uv" pip compile --quiet --python-version 3.11 \
    --python-platform x86_64-manylinux_2_28 pyproject.toml --extra gpu --extra gpu-vllm \
    -o /dev/null) >/dev/null 2>&1; then
    echo "check_lock: NOTICE: vllm 0.33.0 now resolves; see replication/PINS.md to add it to gpu.lock" >&2
fi

if ((status == 0)); then
    echo "check_lock: requirements/*.lock are current" >&2
fi
exit "$status"
