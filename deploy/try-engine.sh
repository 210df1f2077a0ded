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

# Networking, in a network namespace of its own (a stand-in for a node), so that your own
# network is left as it is: a bridge container with a published port, reached from the "node".
demo_ns=skiff-demo-node
ip netns del "$demo_ns" 2>/dev/null || true
ip netns add "$demo_ns"
# (Each step `|| true`: under `set -e` a failing command would end the trap early, and the
# script with status 1.)
trap 'nsenter --net=/run/netns/'"$demo_ns"' "$skiff" container rm -f demo-web-net >/dev/null 2>&1 || true; ip netns del '"$demo_ns"' 2>/dev/null || true; rm -rf "$layout"' EXIT
ip -n "$demo_ns" link set lo up
innode() { step "skiff $* (in network namespace $demo_ns)"; nsenter --net="/run/netns/$demo_ns" "$skiff" "$@"; }
innode container run -d --name demo-web-net --network bridge -p 8080:80 demo sh -c \
  'mkdir -p /www && echo "hello from $(hostname) at $(ip -o -4 addr show eth0 | awk "{print \$4}")" > /www/index.html && exec httpd -f -p 80 -h /www'
sleep 0.5
step "GET http://127.0.0.1:8080/ from the node"
printf 'GET / HTTP/1.0\r\n\r\n' | nsenter --net="/run/netns/$demo_ns" busybox nc -w 2 127.0.0.1 8080 | tail -n 1
innode container rm -f demo-web-net
printf '\nDone. Try it yourself: %s container run --rm demo echo hi   (data in %s)\n' "$skiff" "$SKIFF_DATA_DIR"
