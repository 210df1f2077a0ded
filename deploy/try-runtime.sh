#!/usr/bin/env bash
# Builds skiff-runtime and runs a busybox container with it: the most complete thing Skiff
# runs today. Run as root on Debian 12. The bundle stays in $BUNDLE (default /tmp/skiff-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p skiff-runtime
rt="$PWD/target/release/skiff-runtime"
bundle="${BUNDLE:-/tmp/skiff-demo}"
rm -rf "$bundle" && mkdir -p "$bundle/rootfs/bin" "$bundle/rootfs/etc" "$bundle/rootfs/tmp"
cp /bin/busybox "$bundle/rootfs/bin/"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$bundle/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$bundle/rootfs/etc/passwd"
cd "$bundle"
"$rt" spec
# No terminal (so that this works without one), a memory and pids limit, and a probe script.
sed -i 's/"terminal": true/"terminal": false/' config.json
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname): I am pid $$, uid $(id -u)\"; "
    "echo \"processes I can see: $(ls /proc | grep -c '^[0-9]')\"; "
    "echo \"my mounts: $(awk '{print $5}' /proc/self/mountinfo | tr '\\n' ' ')\"; "
    "grep CapEff /proc/self/status; "
    "echo \"memory limit: $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)\"; "
    "touch /x 2>&1 || true"]
c["linux"]["resources"]["memory"] = {"limit": 64 * 1024 * 1024}
c["linux"]["resources"]["pids"] = {"limit": 32}
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "running a container from $bundle with $rt:"
"$rt" --root /run/skiff-demo run "demo-$$"
echo "done: try '$rt --root /run/skiff-demo run -b $bundle mybox' yourself"
