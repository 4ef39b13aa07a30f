#!/usr/bin/env bash
# Creates (or updates) the development venv with the project installed editable
# with its extras (default .[all,dev]); `make install` runs it.
#
# uv does it in about 15 s from PyPI where pip takes about 5 minutes, so uv is
# used when it can be had: the one on PATH, else one bootstrapped with pip into
# a small tool venv cached outside the repository
# (${LBPROVIDER_UV_TOOL:-${XDG_CACHE_HOME:-$HOME/.cache}/lbprovider/uv-tool}).
# pip is the fallback (or the choice, with LBPROVIDER_NO_UV=1).
#
# Everything is compiled to bytecode at install: where PYTHONDONTWRITEBYTECODE is
# set (as on our build machine) Python never writes a .pyc, so each process would
# compile every module it imports again (a controller started in 0.9 s, not 0.35 s).
#
# Quiet: one progress line per step on stderr; the tools' own output goes to
# $VENV/install.log, shown on failure.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"
EXTRAS="${EXTRAS:-all,dev}"
TOOL_DIR="${LBPROVIDER_UV_TOOL:-${XDG_CACHE_HOME:-$HOME/.cache}/lbprovider/uv-tool}"
# The editable build warns about same-named folders (providers/ by design).
export PYTHONWARNINGS=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_PROGRESS=1

log() { printf '[install] %s\n' "$*" >&2; }

logfile="$(mktemp "${TMPDIR:-/tmp}/lbprovider-install.XXXXXX")"
trap 'rm -f "$logfile"' EXIT
started=$SECONDS

fail() {
  log "$1 failed; its output:"
  tail -n 40 "$logfile" >&2
  exit 1
}

find_uv() {
  if [ -n "${LBPROVIDER_NO_UV:-}" ]; then return 1; fi
  if command -v uv >/dev/null 2>&1; then command -v uv; return 0; fi
  if [ -x "$TOOL_DIR/bin/uv" ]; then echo "$TOOL_DIR/bin/uv"; return 0; fi
  log "bootstrapping uv with pip into $TOOL_DIR"
  if "$PYTHON" -m venv "$TOOL_DIR" >>"$logfile" 2>&1 \
    && "$TOOL_DIR/bin/pip" install -q uv >>"$logfile" 2>&1; then
    echo "$TOOL_DIR/bin/uv"
    return 0
  fi
  rm -rf "$TOOL_DIR"
  log "uv could not be installed; falling back to pip (minutes, not seconds)"
  return 1
}

if uv="$(find_uv)"; then
  log "using $("$uv" --version) ($uv)"
  if [ ! -x "$VENV/bin/python" ]; then
    # --seed: pip in the venv too, for anyone who reaches for .venv/bin/pip.
    "$uv" venv -q --seed --python "$PYTHON" "$VENV" >>"$logfile" 2>&1 || fail "uv venv"
  fi
  log "installing .[$EXTRAS] into $VENV"
  "$uv" pip install -q --compile-bytecode --python "$VENV/bin/python" -e ".[$EXTRAS]" >>"$logfile" 2>&1 \
    || fail "uv pip install"
  tool=uv
else
  if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV" >>"$logfile" 2>&1 || fail "python -m venv"
  fi
  log "installing .[$EXTRAS] into $VENV with pip"
  "$VENV/bin/pip" install -q --upgrade pip >>"$logfile" 2>&1 || fail "pip install --upgrade pip"
  "$VENV/bin/pip" install -q -e ".[$EXTRAS]" >>"$logfile" 2>&1 || fail "pip install"
  tool=pip
fi
# The editable project's own sources are not in site-packages: compile them here.
"$VENV/bin/python" -m compileall -q -j0 lbprovider providers >>"$logfile" 2>&1 \
  || fail "compileall"
cp "$logfile" "$VENV/install.log"
log "$VENV ready ($tool, $((SECONDS - started)) s)"
