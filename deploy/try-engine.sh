#!/usr/bin/env bash
# Builds skiff and shows its container engine at work: a multi-layer busybox image (built here:
# no outside registry is assumed) is loaded, then containers are run, followed, exec'd into,
# stopped and removed. Run as root on Debian 12. Data goes to $SKIFF_DATA_DIR (default
# /var/lib/skiff-demo); remove it with `rm -rf` when done.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p skiff -p skiff-testkit --examples --bins
skiff="$PWD/target/release/skiff"
export SKIFF_DATA_DIR="${SKIFF_DATA_DIR:-/var/lib/skiff-demo}"
layout="$(mktemp -d /tmp/skiff-demo-image.XXXXXX)"
trap 'rm -rf "$layout"' EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "skiff $*"; "$skiff" "$@"; }

"$PWD/target/release/examples/write_image" "$layout" demo:latest >/dev/null
run image load -i "$layout"
run image ls
run container run --rm --memory 64m --pids-limit 32 demo sh -c \
  'echo "hello from $(hostname): pid $$, uid $(id -u)"; echo "memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"; ls /data/old'
"$skiff" container rm -f demo-web >/dev/null 2>&1 || true
run container run -d --name demo-web demo sh -c \
  'trap "echo stopping; exit 0" TERM; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
sleep 1
run container ls
run container logs --tail 3 demo-web
run container exec demo-web ps
run container stop demo-web
run container ls -a
run container logs --tail 2 demo-web
run container rm demo-web
printf '\nDone. Try it yourself: %s container run --rm demo echo hi   (data in %s)\n' "$skiff" "$SKIFF_DATA_DIR"
