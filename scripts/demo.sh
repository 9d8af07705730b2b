#!/usr/bin/env bash
# The main job: set up, then run `stepstone demo` (the research method end to end on real
# runs, about 5 minutes on 2 cores; a new lab in ./stepstone-demo). Arguments go to the demo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
.venv/bin/stepstone demo "$@"
