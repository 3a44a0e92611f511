#!/usr/bin/env bash
# Once-only reuse: what a reuse hit costs against an authoritative lookup, every
# figure measured in this run on this machine. One gateway of the current build
# serves a population service through the NDXP adapter (OAuth2 token, X-NDXP-*
# headers, the `citizen` contract) with `reuse = { data_type = "citizen" }`;
# the simulator adds 50 ms to every NDXP call. The same URLs, the same gateway
# and the same caller (API key, purpose, officer) are measured twice:
#   hit           — the reuse store answers (X-LGSP-Reuse: hit), NDXP is not called;
#   authoritative — `Cache-Control: no-cache` forces NDXP (X-LGSP-Reuse: bypass),
#                   and the fresh answer is remembered again.
# Both go through the whole access stack and the durable audit record. The
# simulator's NDXP call count and the gateway's reuse-hit counter are read
# around each run to check that hits never reach NDXP and bypasses always do.
# Prints req/s, p50/p99 for each and the hit/authoritative ratios.
#
# With 50 ms upstream latency the authoritative run is bounded by
# connections / 0.05 s (1,280 req/s at 64 connections), so use enough connections.
#
# Usage: bench/reuse.sh [duration_seconds] [connections]
#   LGSP_BIN=path      use an already built binary (else `cargo build --release`, honouring CARGO_TARGET_DIR)
#   LATENCY_MS=50      latency the simulator adds to every NDXP call
#   ROUNDS=1           alternating rounds of hit then authoritative
#   AUDIT_TOML=...     appended to the node's [audit] section, e.g. 'mode = "async"'
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
THREADS="${BENCH_THREADS:-1}"
LATENCY_MS="${LATENCY_MS:-50}"
ROUNDS="${ROUNDS:-1}"
PURPOSE=1.001612
source "$ROOT/bench/nodes.sh"

# Personal IDs that exist in the simulator's default dataset (seed 2026, 10,000
# citizens): the binary names some only in the demo's manifest, so the demo is
# started once, read and stopped. The IDs are never printed.
mkdir -p "$WORK/demo"
"$LGSP" demo --data-dir "$WORK/demo/data" --data-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
  >"$WORK/demo/out" 2>"$WORK/demo/log" &
DEMO_PID=$!
PIDS+=("$DEMO_PID")
for _ in $(seq 1 600); do [ -s "$WORK/demo/data/demo.json" ] && break; sleep 0.1; done
python3 - "$WORK/demo/data/demo.json" >"$WORK/ids" <<'PY'
import json, sys
for i in json.load(open(sys.argv[1]))["sample_personal_ids"]:
    print(i)
PY
kill "$DEMO_PID" 2>/dev/null || true
wait "$DEMO_PID" 2>/dev/null || true
[ -s "$WORK/ids" ] || { echo "no sample personal IDs from lgsp demo" >&2; exit 1; }
mapfile -t IDS <"$WORK/ids"

"$LGSP" mock --listen 127.0.0.1:0 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)

API_KEY="lgsp_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
KEY_HASH=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
REGISTRY="$AGENCY

[[services]]
slug = \"population\"
version = \"v1\"
name = \"Tra cứu dân cư qua NDXP\"
owner = \"000.00.00.H29\"
personal_data = true
data_class = \"confidential\"
security_level = 3
upstream = { url = \"http://$MOCK/ndxp/v1/population\", timeout_ms = 3000 }
adapter = { kind = \"ndxp\" }
operations = [{ method = \"GET\", path = \"/citizens/{soDinhDanh}\" }]
contract = \"citizen\"
reuse = { data_type = \"citizen\", fresh_for_secs = 86400 }

[[systems]]
slug = \"bench-sys\"
agency = \"000.00.00.H29\"
name = \"Benchmark client\"
security_level = 3

[[credentials]]
id = \"bench-sys-key\"
system = \"bench-sys\"
kind = \"api_key\"
key_hash = \"$KEY_HASH\"

[[subscriptions]]
system = \"bench-sys\"
service = \"population\"
state = \"approved\"
purposes = [\"$PURPOSE\"]
plan = { rate_per_second = 1000000000.0, burst = 1000000000 }"
NODE_TOML="$(printf '[audit]\n%s\n[ndxp]\ntoken_url = "http://%s/ndxp/oauth2/token"\nclient_id = "lgsp-tinh"\nclient_secret = "ndxp-sim-secret"\nagency_code = "000.00.00.H29"' \
  "${AUDIT_TOML:-}" "$MOCK")"
GW=$(start_node gw "$LGSP" "$REGISTRY" "$NODE_TOML")
PIDS+=("$(cat "$WORK/gw.pid")")
ADMIN=$(json_field "$(first_line "$WORK/gw.out")" admin)

curl -sf -X PUT "http://$MOCK/__sim/faults/ndxp" -H 'Content-Type: application/json' \
  -d "{\"latency_ms\": $LATENCY_MS}" >/dev/null

CALLER=(-H "X-API-Key: $API_KEY" -H "X-LGSP-Purpose: $PURPOSE" -H "X-LGSP-User: bench.officer")
reuse_of() { # personal ID [curl args...] -> "<status> <X-LGSP-Reuse>"
  local id=$1; shift
  curl -s -o /dev/null -D - "${CALLER[@]}" "$@" "http://$GW/api/population/v1/citizens/$id" \
    | python3 -c "
import sys
lines = sys.stdin.read().splitlines()
status = lines[0].split()[1] if lines else '000'
reuse = [l.split(':', 1)[1].strip() for l in lines if l.lower().startswith('x-lgsp-reuse:')]
print(status, reuse[0] if reuse else '-')"
}
# Warm the store (one source call per ID), then check what each kind of call is.
for id in "${IDS[@]}"; do
  read -r status reuse < <(reuse_of "$id")
  [ "$status" = 200 ] || { echo "warm-up call answered $status (see $WORK/gw.log)" >&2; cat "$WORK/gw.log" >&2; exit 1; }
done
for id in "${IDS[@]}"; do
  read -r status reuse < <(reuse_of "$id")
  [ "$status $reuse" = "200 hit" ] || { echo "expected a reuse hit, got: $status $reuse" >&2; exit 1; }
  read -r status reuse < <(reuse_of "$id" -H 'Cache-Control: no-cache')
  [ "$status $reuse" = "200 bypass" ] || { echo "expected a bypass, got: $status $reuse" >&2; exit 1; }
done

# Every request of a run cycles through the IDs.
{
  printf 'local ids = {'
  printf '"%s",' "${IDS[@]}"
  printf '}\nlocal i = 0\nrequest = function()\n  i = i %% #ids + 1\n'
  printf '  return wrk.format("GET", "/api/population/v1/citizens/" .. ids[i])\nend\n'
} >"$WORK/ids.lua"

ndxp_calls() { curl -s "http://$MOCK/__sim/stats" | python3 -c "import json,sys; print(json.load(sys.stdin)['ndxp'])"; }
reuse_hits() {
  curl -s "http://$ADMIN/metrics" | awk '/^lgsp_reuse_lookups_total\{result="hit"\}/ {print $2; found=1} END {if (!found) print 0}'
}
# Warm the connection pools and the NDXP token at the measured concurrency.
wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/ids.lua" "${CALLER[@]}" "http://$GW" >/dev/null
wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/ids.lua" "${CALLER[@]}" -H 'Cache-Control: no-cache' "http://$GW" >/dev/null

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
  for kind in hit authoritative; do
    extra=()
    [ $kind = authoritative ] && extra=(-H 'Cache-Control: no-cache')
    pid=$(cat "$WORK/gw.pid")
    calls0=$(ndxp_calls) hits0=$(reuse_hits) cpu0=$(cpu_ticks "$pid")
    read -r rps p50 p99 err < <(run_wrk "$kind-$round" "http://$GW" -s "$WORK/ids.lua" "${CALLER[@]}" "${extra[@]}")
    cpu=$(( $(cpu_ticks "$pid") - cpu0 ))
    total=$(awk '/requests in/ {print $1}' "$WORK/$kind-$round.wrk")
    ROWS+=("$kind $round $rps $p50 $p99 $err $cpu $total $(( $(ndxp_calls) - calls0 )) $(( $(reuse_hits) - hits0 ))")
  done
done

printf '\nlgsp reuse benchmark: %s s x %s round(s), %s connections, %s wrk thread(s), %s CPU(s), NDXP latency %s ms, %s personal IDs\n' \
  "$DURATION" "$ROUNDS" "$CONNECTIONS" "$THREADS" "$(nproc)" "$LATENCY_MS" "${#IDS[@]}"
python3 - "$(getconf CLK_TCK)" "$DURATION" "${ROWS[@]}" <<'PY'
import sys
tick, duration = 1e6 / float(sys.argv[1]), float(sys.argv[2])
rows = [r.split() for r in sys.argv[3:]]
print(f"{'run':<14} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>7} {'CPU us/req':>11} {'requests':>9} {'NDXP calls':>11} {'reuse hits':>11}")
total = {}
for kind, rnd, rps, p50, p99, err, ticks, n, calls, hits in rows:
    rps = float(rps)
    cpu = float(ticks) * tick / (rps * duration)
    print(f"{kind:<14} {rnd:>5} {rps:>9.0f} {float(p50):>8.3f} {float(p99):>8.3f} {err:>7} {cpu:>11.1f} {n:>9} {calls:>11} {hits:>11}")
    t = total.setdefault(kind, [0.0, [], []])
    t[0] += rps
    t[1].append(float(p50))
    t[2].append(float(p99))
hit, auth = total["hit"], total["authoritative"]
print(f"hit/authoritative throughput: {hit[0] / auth[0]:.1f}x")
print(f"p50: hit {min(hit[1]):.3f} ms vs authoritative {min(auth[1]):.3f} ms;"
      f" p99: hit {max(hit[2]):.3f} ms vs authoritative {max(auth[2]):.3f} ms (best p50, worst p99 over rounds)")
PY
