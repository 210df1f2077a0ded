#!/usr/bin/env bash
# Runs Skiff's embedded default: `skiff dev`, a one-node cluster in one process (a control plane
# of one server and the node's agent), with the demo app of manifests/demo — three replicas of a
# small web server behind port 8080. The demo image is built here from Debian's busybox-static
# (no outside registry is assumed). Run as root on Debian 12; Ctrl-C stops it (the containers
# keep running and are adopted at the next start). Data goes to $SKIFF_DEV_DIR (default
# /var/lib/skiff-dev); in another shell, `skiff ps` and `skiff node ls` find it without flags.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p skiff -p skiff-testkit --examples --bins
skiff="$PWD/target/release/skiff"
dev_dir="${SKIFF_DEV_DIR:-/var/lib/skiff-dev}"
layout="$(mktemp -d /tmp/skiff-dev-image.XXXXXX)"
trap 'rm -rf "$layout"' EXIT

"$PWD/target/release/examples/write_image" "$layout" skiff-demo:latest >/dev/null
"$skiff" image --data-dir "$dev_dir/agent/engine" load -i "$layout"
rm -rf "$layout"
echo "Starting skiff dev; in another shell: curl http://127.0.0.1:8080/ and $skiff ps"
exec "$skiff" dev --data-dir "$dev_dir" -f manifests/demo/compose.yaml
