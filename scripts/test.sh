#!/usr/bin/env bash
# Sets up everything (ngspice, .venv with all extras) and runs the whole test suite against the real
# PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) of this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve,train,dev
export PYTHONHASHSEED=0
exec .venv/bin/python -m pytest -q "$@"
