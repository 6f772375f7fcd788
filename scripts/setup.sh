#!/usr/bin/env bash
# Installs everything placeq needs on a fresh Debian machine: system tools (ngspice) and a .venv in the repo root.
# Usage: scripts/setup.sh [EXTRAS]   (default: serve,train,dev)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-serve,train,dev}"

need_apt=()
command -v ngspice >/dev/null 2>&1 || need_apt+=(ngspice)
ldconfig -p 2>/dev/null | grep -q 'libngspice.so' || need_apt+=(libngspice0)
# The test suite validates docker-compose.yml statically (no Docker engine here).
# Browser tests drive Debian's chromium (no browser download).
case ",$extras," in *,dev,*)
  command -v docker-compose >/dev/null 2>&1 || need_apt+=(docker-compose)
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium) ;;
esac
if [ "${#need_apt[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch==2.13.0 is pinned in the 'train' extra; pip takes the CPU wheel from PIP_FIND_LINKS when present.
.venv/bin/python -m pip install -q -e ".[${extras}]"
