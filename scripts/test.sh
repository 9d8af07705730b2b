#!/usr/bin/env bash
# The whole test suite: set up (venv, extras, Chromium, PostgreSQL), lint, type-check, test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
bash scripts/services.sh
if [ -f .ci/postgres.env ]; then
  # shellcheck disable=SC1091
  source .ci/postgres.env
  export STEPSTONE_TEST_PG
fi
echo "--- ruff"
.venv/bin/ruff check src tests benchmarks examples
echo "--- import layers"
.venv/bin/lint-imports
echo "--- mypy"
.venv/bin/mypy
echo "--- pytest"
# the services were set up above: a test that skips (no PostgreSQL, no Chromium) fails the run
export STEPSTONE_NO_SKIPS=1
.venv/bin/python -m pytest -n 2 --dist loadfile -q -p no:cacheprovider "$@"
