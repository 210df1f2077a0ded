#!/usr/bin/env bash
# Runs Skiff's whole test suite: unit tests and the root tests that use real namespaces,
# mounts and cgroups. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(id -u)" != 0 ]; then
  echo "the test suite needs root (it creates namespaces, mounts and cgroups)" >&2
  exit 1
fi
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
