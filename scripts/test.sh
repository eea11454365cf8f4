#!/usr/bin/env bash
# The test command (README; .ci/run runs exactly this): install what the tests need,
# check the lock and the lint, then run the tests.
#
# usage: scripts/test.sh [pytest options, e.g. -k pipeline]   (plain `pytest`: the unit tests only)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
    sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit 0
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install.sh --judge
# Headless Chromium renders the HTML report in its test (skipped when absent).
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "test.sh: chromium not installed; the HTML render test will skip" >&2
fi
# pdflatex compiles the report's LaTeX tables in their test (skipped when absent).
# booktabs is in texlive-latex-recommended; graphicx in texlive-latex-base.
if ! command -v pdflatex >/dev/null && command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        texlive-latex-base texlive-latex-recommended >/dev/null) \
        || echo "test.sh: TeX not installed; the LaTeX compile tests will skip" >&2
fi
bash scripts/check_lock.sh
.venv/bin/ruff check spin tests
.venv/bin/ruff format --check spin tests
# All of tests/ (plain `pytest` runs tests/unit only: pyproject.toml testpaths).
exec .venv/bin/python -m pytest -q -ra tests "$@"
