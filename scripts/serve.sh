#!/usr/bin/env bash
# Sets up everything and runs the service on embedded defaults: SQLite, a local worker, the shipped base model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve,train
exec .venv/bin/placeq serve "$@"
