#!/usr/bin/env bash
# Builds skiff and shows its control plane at work on this machine: three `skiff server`
# processes on 127.0.0.1 form a Raft cluster, an environment is created and an app applied
# (dry run first), the leader is killed and a new one takes over with nothing lost, and a
# backup is taken. Everything runs under a temporary directory that is removed at the end, and
# every server started here is stopped by its pid. Run on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
./deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -q -p skiff --bins
skiff="$PWD/target/release/skiff"
base_port="${SKIFF_DEMO_PORT:-7401}"
work="$(mktemp -d /tmp/skiff-cluster-demo.XXXXXX)"
declare -A pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { step "skiff $*"; "$skiff" "$@"; }
addr() { echo "127.0.0.1:$((base_port + $1 - 1))"; }
start() { # start ID [server flags…]
  local id="$1"; shift
  "$skiff" server --data-dir "$work/server-$id" --id "$id" --listen "$(addr "$id")" "$@" \
    >"$work/server-$id.out" 2>"$work/server-$id.log" &
  pids[$id]=$!
}
wait_ready() { # wait_ready ID
  for _ in $(seq 100); do
    curl -sf "http://$(addr "$1")/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "server $1 did not become ready; its log:" >&2; cat "$work/server-$1.log" >&2; exit 1
}

step "skiff server --id 1 --listen $(addr 1) --bootstrap"
start 1 --bootstrap
wait_ready 1
cat "$work/server-1.out"
export SKIFF_TOKEN; SKIFF_TOKEN="$(cat "$work/server-1/admin.token")"
for id in 2 3; do
  step "skiff server --id $id --listen $(addr "$id") --join $(addr 1)"
  start "$id" --join "$(addr 1)"
  wait_ready "$id"
done
export SKIFF_SERVER="$(addr 1),$(addr 2),$(addr 3)"
run cluster status
run env create dev --max-cpus 4 --max-memory 2G
run apply -f manifests/web-db-cache/compose.yaml --env dev --dry-run
run apply -f manifests/web-db-cache/compose.yaml --env dev --detach   # no agents here: do not wait for tasks to run
run get apps --env dev
run get services --env dev

leader="$("$skiff" cluster status -o json | sed -n 's/.*"leader": *\([0-9]*\).*/\1/p' | head -1)"
step "kill -9 <server $leader, the leader>"
kill -9 "${pids[$leader]}"; wait "${pids[$leader]}" 2>/dev/null || true; unset "pids[$leader]"
run token create --role deploy --env dev --description "written after the failover"
run cluster status
run get apps --env dev
step "skiff server --id $leader (restarted on its data directory)"
start "$leader"
wait_ready "$leader"
run cluster status

step "curl …/v1/cluster/snapshot -o backup   (a consistent backup of every object)"
curl -sf -H "Authorization: Bearer $SKIFF_TOKEN" "http://$(addr 1)/v1/cluster/snapshot" -o "$work/backup"
ls -l "$work/backup"
printf '\nDone. The servers are stopped and %s removed.\n' "$work"
