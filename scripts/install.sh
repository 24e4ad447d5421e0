#!/usr/bin/env bash
# Installs what building and checking Strata needs on a fresh machine with rustup:
# the stable toolchain's rustfmt and clippy. Safe to run repeatedly.
set -euo pipefail
if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || rustup component add rustfmt clippy
fi
cargo --version
