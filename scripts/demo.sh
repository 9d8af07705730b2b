#!/usr/bin/env bash
# The main job: set up, then run the end-to-end example.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
.venv/bin/python examples/quickstart.py "$@"
