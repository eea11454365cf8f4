#!/usr/bin/env bash
# Check that requirements/*.lock were made from the committed inputs: pyproject.toml's
# dependency tables, requirements/*.in and requirements/lock.sh.
#
# usage: scripts/check_lock.sh [ROOT]     (ROOT: a copy of the project; default this one)
#
# Each lock's first line records the sha256 of its inputs (requirements/inputs.py); this
# compares it with the inputs as they are now. It reads only the project's files, never the
# package registry, so a new upload upstream never makes it fail; a change to the inputs
# without a relock does. To fix a failure: requirements/lock.sh, then commit the locks.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    awk 'NR == 1 { next } /^#SBATCH/ || !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
    exit 0
fi
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec python3 "$here/requirements/inputs.py" check "${1:-$here}"
