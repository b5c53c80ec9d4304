#!/usr/bin/env bash
# Sets up .venv on a fresh machine: the CPU build of torch first (pinned), then lightcli with its dev tools.
# With --lowest: .venv-lowest instead, with the lowest versions lightcli allows (.ci/lowest.txt).
# Usage: bash scripts/setup.sh [--lowest]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
constraints=()
if [[ "${1:-}" == "--lowest" ]]; then
  venv=.venv-lowest
  constraints=(--constraint .ci/lowest.txt)
elif [[ $# -gt 0 ]]; then
  echo "usage: bash scripts/setup.sh [--lowest]" >&2
  exit 2
fi
python3 -m venv "$venv"
"$venv"/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: this exact version is the CPU wheel; an unpinned torch would pull a multi-GB CUDA build.
"$venv"/bin/python -m pip install --quiet torch==2.13.0
"$venv"/bin/python -m pip install --quiet "${constraints[@]}" -e ".[dev]"
