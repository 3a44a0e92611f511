#!/usr/bin/env bash
# Gateway benchmarks, every figure measured in this run on this machine:
#   direct   — the fixed-response upstream (the simulators' `/fixed`) hit directly;
#   plain    — the same upstream through a gateway route with no access stack
#              (the foundation build, BASE_COMMIT, whose access stages pass through);
#   access   — the full access stack without the audit log (ACCESS_COMMIT):
#              bearer token, confidential personal-data service, policy decision
#              with purpose and officer, rate limit under an approved subscription;
#   audited  — the current gateway: the same access stack plus the durable,
#              group-committed, hash-chained audit record of every exchange.
# Prints requests/s and p50/p99 for each and the ratios between them.
#
# Usage: bench/run.sh [duration_seconds] [connections]
#   LGSP_BIN=path   use an already built current binary
#   BASE_BIN=path   use an already built baseline binary (else BASE_COMMIT is built in a worktree)
#   ACCESS_BIN=path likewise for ACCESS_COMMIT
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
THREADS="${BENCH_THREADS:-1}"
BASE_COMMIT="${BASE_COMMIT:-98e88ab}"
ACCESS_COMMIT="${ACCESS_COMMIT:-8294d76}"
on_exit() {
  git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true
  git -C "$ROOT" worktree remove --force "$WORK/access-src" 2>/dev/null || true
}
source "$ROOT/bench/nodes.sh"

build_commit() { # name commit -> path of its release binary
  echo "building $1 ($2) in a worktree" >&2
  git -C "$ROOT" worktree add --detach "$WORK/$1-src" "$2" >/dev/null 2>&1
  (cd "$WORK/$1-src" && cargo build --release --bin lgsp --quiet --target-dir "$ROOT/target/bench-$1")
  echo "$ROOT/target/bench-$1/release/lgsp"
}
BASE_BIN="${BASE_BIN:-$(build_commit base "$BASE_COMMIT")}"
ACCESS_BIN="${ACCESS_BIN:-$(build_commit access "$ACCESS_COMMIT")}"

"$LGSP" mock --listen 127.0.0.1:0 --citizens 1000 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)

PLAIN_SERVICE="[[services]]
slug = \"bench\"
version = \"v1\"
name = \"Fixed response\"
owner = \"000.00.00.H29\"
upstream = { url = \"http://$MOCK/fixed\" }"

# Baseline node: foundation build, plain route.
mkdir -p "$WORK/base"
printf 'data_dir = "%s"\n[listen]\ndata = "127.0.0.1:0"\nadmin = "127.0.0.1:0"\n' "$WORK/base/data" >"$WORK/base/lgsp.toml"
printf '%s\n\n%s\n' "$AGENCY" "$PLAIN_SERVICE" >"$WORK/base/registry.toml"
"$BASE_BIN" apply "$WORK/base/registry.toml" --config "$WORK/base/lgsp.toml" >/dev/null
RUST_LOG=warn "$BASE_BIN" serve --config "$WORK/base/lgsp.toml" >"$WORK/base.out" 2>"$WORK/base.log" &
PIDS+=($!)
BASE=$(json_field "$(first_line "$WORK/base.out")" data)

# Access and audited nodes: the same registry and credentials, two builds.
CREDS=$("$LGSP" credential client-secret)
SECRET=$(json_field "$CREDS" client_secret)
HASH=$(json_field "$CREDS" secret_hash)
REGISTRY=$(secure_registry "$MOCK" "$HASH")

ACC=$(start_node access "$ACCESS_BIN" "$REGISTRY")
PIDS+=("$(cat "$WORK/access.pid")")
# AUDIT_TOML, e.g. 'max_wait_ms = 2', is appended to the audited node's [audit] section.
CUR=$(start_node audited "$LGSP" "$REGISTRY" "$(printf '[audit]\n%s' "${AUDIT_TOML:-}")")
PIDS+=("$(cat "$WORK/audited.pid")")
ACC_HEADERS=(-H "Authorization: Bearer $(token_for "$ACC" "$SECRET")" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer")
CUR_HEADERS=(-H "Authorization: Bearer $(token_for "$CUR" "$SECRET")" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer")


# Warm every path (connection pools, token cache, decision cache) before measuring.
wrk -t1 -c8 -d2s "http://$MOCK/fixed" >/dev/null
wrk -t1 -c8 -d2s "http://$BASE/api/bench/v1" >/dev/null
wrk -t1 -c8 -d2s "${ACC_HEADERS[@]}" "http://$ACC/api/bench-secure/v1" >/dev/null
wrk -t1 -c8 -d2s "${CUR_HEADERS[@]}" "http://$CUR/api/bench-secure/v1" >/dev/null

read -r D_RPS D_P50 D_P99 D_ERR < <(run_wrk direct "http://$MOCK/fixed")
read -r P_RPS P_P50 P_P99 P_ERR < <(run_wrk plain "http://$BASE/api/bench/v1")
A_CPU0=$(cpu_ticks "$(cat "$WORK/access.pid")")
read -r A_RPS A_P50 A_P99 A_ERR < <(run_wrk access "http://$ACC/api/bench-secure/v1" "${ACC_HEADERS[@]}")
A_CPU=$(( $(cpu_ticks "$(cat "$WORK/access.pid")") - A_CPU0 ))
U_CPU0=$(cpu_ticks "$(cat "$WORK/audited.pid")")
read -r U_RPS U_P50 U_P99 U_ERR < <(run_wrk audited "http://$CUR/api/bench-secure/v1" "${CUR_HEADERS[@]}")
U_CPU=$(( $(cpu_ticks "$(cat "$WORK/audited.pid")") - U_CPU0 ))
RECORDS=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from audit_records').fetchone()[0])" "$WORK/audited/data/lgsp.db")

printf '\nlgsp benchmark: %s s, %s connections, %s wrk thread(s), %s CPU(s), plain %s, access %s\n' \
  "$DURATION" "$CONNECTIONS" "$THREADS" "$(nproc)" "$BASE_COMMIT" "$ACCESS_COMMIT"
printf '%-8s %12s %10s %10s %8s\n' path 'req/s' 'p50 ms' 'p99 ms' non2xx
printf '%-8s %12s %10s %10s %8s\n' direct "$D_RPS" "$D_P50" "$D_P99" "$D_ERR"
printf '%-8s %12s %10s %10s %8s\n' plain "$P_RPS" "$P_P50" "$P_P99" "$P_ERR"
printf '%-8s %12s %10s %10s %8s\n' access "$A_RPS" "$A_P50" "$A_P99" "$A_ERR"
printf '%-8s %12s %10s %10s %8s\n' audited "$U_RPS" "$U_P50" "$U_P99" "$U_ERR"
printf 'audit records written by the audited node: %s\n' "$RECORDS"
python3 -c "
import sys
d, p, a, u, ap99, up99 = map(float, sys.argv[1:7])
print(f'plain/direct throughput ratio:    {p/d:.3f}')
print(f'access/plain throughput ratio:    {a/p:.3f}  (access stack cost {100*(1-a/p):.1f}%)')
print(f'audited/access throughput ratio:  {u/a:.3f}  (durable audit cost {100*(1-u/a):.1f}%)')
print(f'audited/plain throughput ratio:   {u/p:.3f}')
print(f'p99 added by durable audit:       {up99-ap99:+.2f} ms')
tick = 1e6 / float(sys.argv[9])
acpu, ucpu = float(sys.argv[7]) * tick / (a * float(sys.argv[10])), float(sys.argv[8]) * tick / (u * float(sys.argv[10]))
print(f'gateway CPU per request:          access {acpu:.1f} us, audited {ucpu:.1f} us ({ucpu-acpu:+.1f} us for the audit record)')
" "$D_RPS" "$P_RPS" "$A_RPS" "$U_RPS" "$A_P99" "$U_P99" "$A_CPU" "$U_CPU" "$(getconf CLK_TCK)" "$DURATION"
