#!/usr/bin/env bash
# Installs what building and testing Skiff needs on Debian 12, as root. Safe to run again:
# it only calls apt-get when a package is missing.
set -euo pipefail

packages=(build-essential pkg-config libseccomp-dev busybox-static runc iproute2 nftables iperf3 ca-certificates docker-registry skopeo etcd-server etcd-client)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The tests start their own docker-registry, and the control-plane benchmarks their own etcd
# members, on 127.0.0.1; the packages' system services (the registry would listen on every
# interface, etcd would hold port 2379) are not wanted.
for service in docker-registry etcd; do
  if command -v systemctl >/dev/null && systemctl is-enabled --quiet "$service" 2>/dev/null; then
    systemctl disable --now "$service" >/dev/null 2>&1 || true
  fi
done

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
  echo "installing Debian's Rust toolchain (Skiff needs Rust 1.85 or newer)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq cargo >/dev/null
fi
need=85
have=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "$have" -lt "$need" ]; then
  echo "rustc 1.$have is too old: Skiff needs Rust 1.$need or newer (install it with rustup)" >&2
  exit 1
fi
