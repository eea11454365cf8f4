#!/usr/bin/env bash
# Regenerate the report. With no results it rebuilds the reported-only tables and figures
# that are committed under reports/; with --results-dir it compares our results as well.
set -euo pipefail

usage() {
    cat <<'USAGE'
usage: scripts/make_report.sh [--results-dir DIR] [--output-dir DIR] [other `spin report` options]

  (no options)        reported-only build into reports/: tables/, figures/, index.html
  --results-dir DIR   also compare the spin-results/1 files found below DIR
  --output-dir DIR    where to write (default: reports, or reports/ours with --results-dir);
                      relative paths are taken from the current directory
  -h, --help          this help

Outputs are byte-identical across runs with the same matplotlib (see reports/manifest.json).
Environment: PYTHON (default: the repository's .venv/bin/python, else python3).
USAGE
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

results=""
output=""
extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        -h|--help) usage; exit 0 ;;
        --results-dir) results="${2:?--results-dir needs a directory}"; shift 2 ;;
        --output-dir) output="${2:?--output-dir needs a directory}"; shift 2 ;;
        *) extra+=("$1"); shift ;;
    esac
done

args=(report)
if [[ -n "$results" ]]; then
    args+=(--results-dir "$results" --output-dir "${output:-$root/reports/ours}")
else
    args+=(--output-dir "${output:-$root/reports}")
fi
# No cd: relative paths (--output-dir, --results-dir, --reported-dir) are the caller's, as
# with any command; PYTHONPATH finds this checkout's spin even where it is not installed.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m spin.cli "${args[@]}" "${extra[@]+"${extra[@]}"}"
