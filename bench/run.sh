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

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
if [ -z "${LGSP_BIN:-}" ]; then cargo build --release --bin lgsp --quiet; fi
LGSP="${LGSP_BIN:-$ROOT/target/release/lgsp}"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  git -C "$ROOT" worktree remove --force "$WORK/base-src" 2>/dev/null || true
  git -C "$ROOT" worktree remove --force "$WORK/access-src" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

build_commit() { # name commit -> path of its release binary
  echo "building $1 ($2) in a worktree" >&2
  git -C "$ROOT" worktree add --detach "$WORK/$1-src" "$2" >/dev/null 2>&1
  (cd "$WORK/$1-src" && cargo build --release --bin lgsp --quiet --target-dir "$ROOT/target/bench-$1")
  echo "$ROOT/target/bench-$1/release/lgsp"
}
BASE_BIN="${BASE_BIN:-$(build_commit base "$BASE_COMMIT")}"
ACCESS_BIN="${ACCESS_BIN:-$(build_commit access "$ACCESS_COMMIT")}"

first_line() { # file -> first line once written
  for _ in $(seq 1 300); do [ -s "$1" ] && { head -n1 "$1"; return; }; sleep 0.1; done
  echo "no announcement in $1" >&2; exit 1
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

"$LGSP" mock --listen 127.0.0.1:0 --citizens 1000 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)

AGENCY='[[agencies]]
code = "000.00.00.H29"
name = "Tỉnh đo hiệu năng"'
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
REGISTRY="$AGENCY

[[services]]
slug = \"bench-secure\"
version = \"v1\"
name = \"Fixed response, confidential personal data\"
owner = \"000.00.00.H29\"
data_class = \"confidential\"
personal_data = true
security_level = 3
upstream = { url = \"http://$MOCK/fixed\" }

[[systems]]
slug = \"bench-sys\"
agency = \"000.00.00.H29\"
name = \"Benchmark client\"
security_level = 3

[[credentials]]
id = \"bench-sys-oauth\"
system = \"bench-sys\"
kind = \"client_secret\"
client_id = \"bench-sys\"
secret_hash = \"$HASH\"

[[subscriptions]]
system = \"bench-sys\"
service = \"bench-secure\"
state = \"approved\"
purposes = [\"1.001612\"]
plan = { rate_per_second = 1000000000.0, burst = 1000000000 }"

start_node() { # name binary -> data address; writes $WORK/<name>/
  local name=$1 bin=$2
  mkdir -p "$WORK/$name"
  printf 'data_dir = "%s"\n[listen]\ndata = "127.0.0.1:0"\nadmin = "127.0.0.1:0"\n[auth]\ntoken_ttl_secs = 3600\n' "$WORK/$name/data" >"$WORK/$name/lgsp.toml"
  printf '%s\n' "$REGISTRY" >"$WORK/$name/registry.toml"
  "$bin" apply "$WORK/$name/registry.toml" --config "$WORK/$name/lgsp.toml" >/dev/null
  RUST_LOG=warn "$bin" serve --config "$WORK/$name/lgsp.toml" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  PIDS+=($!)
  json_field "$(first_line "$WORK/$name.out")" data
}
token_for() { # data address -> bearer token
  curl -s "http://$1/oauth2/token" -d grant_type=client_credentials -d client_id=bench-sys -d "client_secret=$SECRET" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}
ACC=$(start_node access "$ACCESS_BIN")
CUR=$(start_node audited "$LGSP")
ACC_HEADERS=(-H "Authorization: Bearer $(token_for "$ACC")" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer")
CUR_HEADERS=(-H "Authorization: Bearer $(token_for "$CUR")" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer")

run_wrk() { # name url [wrk args...]
  local name=$1 url=$2; shift 2
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" >"$WORK/$name.wrk"
  python3 - "$WORK/$name.wrk" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def ms(v):
    n, unit = re.match(r"([\d.]+)(us|ms|s)", v).groups()
    return float(n) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
p50 = ms(re.search(r"50%\s+(\S+)", text).group(1))
p99 = ms(re.search(r"99%\s+(\S+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
print(f"{rps:.0f} {p50:.3f} {p99:.3f} {errors.group(1) if errors else 0}")
PY
}

# Warm every path (connection pools, token cache, decision cache) before measuring.
wrk -t1 -c8 -d2s "http://$MOCK/fixed" >/dev/null
wrk -t1 -c8 -d2s "http://$BASE/api/bench/v1" >/dev/null
wrk -t1 -c8 -d2s "${ACC_HEADERS[@]}" "http://$ACC/api/bench-secure/v1" >/dev/null
wrk -t1 -c8 -d2s "${CUR_HEADERS[@]}" "http://$CUR/api/bench-secure/v1" >/dev/null

read -r D_RPS D_P50 D_P99 D_ERR < <(run_wrk direct "http://$MOCK/fixed")
read -r P_RPS P_P50 P_P99 P_ERR < <(run_wrk plain "http://$BASE/api/bench/v1")
read -r A_RPS A_P50 A_P99 A_ERR < <(run_wrk access "http://$ACC/api/bench-secure/v1" "${ACC_HEADERS[@]}")
read -r U_RPS U_P50 U_P99 U_ERR < <(run_wrk audited "http://$CUR/api/bench-secure/v1" "${CUR_HEADERS[@]}")
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
" "$D_RPS" "$P_RPS" "$A_RPS" "$U_RPS" "$A_P99" "$U_P99"
