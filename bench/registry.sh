#!/usr/bin/env bash
# Registry churn: the data plane's latency while the registry changes, every
# figure measured in this run on this machine. One gateway of the current build
# holds 10,000 registered routes (public services in front of the simulator's
# /fixed, called with an API key). wrk calls one of them throughout two kinds of run:
#   quiet — nothing changes;
#   churn — a client adds services through the admin API at 50 changes/s
#           (POST /admin/v1/services, each committed, logged and built into
#           the snapshot before it answers).
# Prints req/s, p50/p99 of each run, the p99 ratio churn/quiet, the change
# rate actually reached, the admin call latency and the snapshot rebuild time
# (lgsp_snapshot_reload_duration_seconds) during the churn.
#
# Usage: bench/registry.sh [duration_seconds] [connections]
#   LGSP_BIN=path   use an already built binary (else `cargo build --release`)
#   ROUTES=10000    routes registered before measuring
#   RATE=50         registry changes per second during churn runs
#   ROUNDS=1        alternating rounds of quiet then churn
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${1:-15}"
CONNECTIONS="${2:-32}"
THREADS="${BENCH_THREADS:-1}"
ROUTES="${ROUTES:-10000}"
RATE="${RATE:-50}"
ROUNDS="${ROUNDS:-1}"
source "$ROOT/bench/nodes.sh"

"$LGSP" mock --listen 127.0.0.1:0 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)

API_KEY="lgsp_bench_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
KEY_HASH=$(printf '%s' "$API_KEY" | sha256sum | cut -d' ' -f1)
python3 - "$ROUTES" "$MOCK" "$KEY_HASH" >"$WORK/routes.toml" <<'PY'
import sys
routes, mock, key_hash = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print('[[agencies]]\ncode = "000.00.00.H29"\nname = "Tỉnh đo hiệu năng"\n')
print('[[systems]]\nslug = "bench-sys"\nagency = "000.00.00.H29"\nname = "Benchmark client"\nsecurity_level = 3\n')
print(f'[[credentials]]\nid = "bench-sys-key"\nsystem = "bench-sys"\nkind = "api_key"\nkey_hash = "{key_hash}"\n')
for i in range(routes):
    print(f'[[services]]\nslug = "svc-{i:05d}"\nversion = "v1"\nname = "Dịch vụ {i}"\n'
          f'owner = "000.00.00.H29"\nupstream = {{ url = "http://{mock}/fixed" }}\n')
PY
NODE_TOML='[rate_limits]
public_rate_per_second = 1000000000.0
public_burst = 1000000000'
started=$(date +%s.%N)
GW=$(start_node gw "$LGSP" "$(cat "$WORK/routes.toml")" "$NODE_TOML")
PIDS+=("$(cat "$WORK/gw.pid")")
ADMIN=$(json_field "$(first_line "$WORK/gw.out")" admin)
python3 -c "import sys; print(f'applied and started {sys.argv[1]} routes in {float(sys.argv[3]) - float(sys.argv[2]):.1f} s')" "$ROUTES" "$started" "$(date +%s.%N)"

PASSWORD="bench-password-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$LGSP" admin create-user --role province_admin --username bench --password "$PASSWORD" \
  --config "$WORK/gw/lgsp.toml" >/dev/null
TOKEN=$(curl -sf "http://$ADMIN/admin/v1/login" -H 'Content-Type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"$PASSWORD\"}" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])")
URL="http://$GW/api/svc-00042/v1"
CALLER=(-H "X-API-Key: $API_KEY")
[ "$(curl -s -o /dev/null -w '%{http_code}' "${CALLER[@]}" "$URL")" = 200 ] || { echo "the route does not answer 200" >&2; exit 1; }

reload_stats() { # -> "<sum seconds> <count>"
  curl -s "http://$ADMIN/metrics" | awk '
    /^lgsp_snapshot_reload_duration_seconds_sum/ {s=$2}
    /^lgsp_snapshot_reload_duration_seconds_count/ {c=$2}
    END {print s+0, c+0}'
}

# Adds services at RATE per second for DURATION seconds; prints "<changes> <p50 ms> <p99 ms>" of the admin calls.
churn() { # round
  python3 - "$ADMIN" "$TOKEN" "$RATE" "$DURATION" "$MOCK" "$1" <<'PY'
import http.client, json, sys, time
admin, token, rate, duration, mock, rnd = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
host, port = admin.rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=30)
latencies, start, n = [], time.monotonic(), 0
while time.monotonic() - start < duration:
    due = start + n / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    body = json.dumps({"slug": f"churn-{rnd}-{n:05d}", "version": "v1", "name": f"Churn {n}",
                       "owner": "000.00.00.H29", "state": "published",
                       "upstream": {"url": f"http://{mock}/fixed"}})
    t0 = time.monotonic()
    conn.request("POST", "/admin/v1/services", body, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 201:
        sys.exit(f"admin change answered {r.status}")
    latencies.append((time.monotonic() - t0) * 1000)
    n += 1
latencies.sort()
q = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))]
print(n, f"{q(0.5):.1f}", f"{q(0.99):.1f}")
PY
}

# Warm up the connection pools.
wrk -t1 -c"$CONNECTIONS" -d2s "${CALLER[@]}" "$URL" >/dev/null

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
  read -r rps p50 p99 err < <(run_wrk "quiet-$round" "$URL" "${CALLER[@]}")
  ROWS+=("quiet $round $rps $p50 $p99 $err 0 - - - -")
  read -r sum0 count0 < <(reload_stats)
  churn "$round" >"$WORK/churn-$round" &
  CHURN=$!
  read -r rps p50 p99 err < <(run_wrk "churn-$round" "$URL" "${CALLER[@]}")
  wait "$CHURN"
  read -r changes admin50 admin99 <"$WORK/churn-$round"
  read -r sum1 count1 < <(reload_stats)
  rebuild=$(python3 -c "print(f'{($sum1 - $sum0) / max(1, $count1 - $count0) * 1000:.1f}')")
  ROWS+=("churn $round $rps $p50 $p99 $err $changes $admin50 $admin99 $((count1 - count0)) $rebuild")
done
total=$(curl -s "http://$ADMIN/metrics" | awk '/^lgsp_snapshot_version / {print $2}')

printf '\nlgsp registry churn benchmark: %s routes, %s changes/s asked, %s s x %s round(s), %s connections, %s CPU(s); registry version %s at the end\n' \
  "$ROUTES" "$RATE" "$DURATION" "$ROUNDS" "$CONNECTIONS" "$(nproc)" "$total"
python3 - "$DURATION" "${ROWS[@]}" <<'PY'
import sys
duration = float(sys.argv[1])
rows = [r.split() for r in sys.argv[2:]]
print(f"{'run':<6} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>7} {'changes/s':>10} {'admin p50':>10} {'admin p99':>10} {'rebuilds':>9} {'rebuild ms':>11}")
p99 = {}
for kind, rnd, rps, p50, q99, err, changes, a50, a99, rebuilds, rebuild in rows:
    rate = f"{int(changes) / duration:.1f}" if kind == "churn" else "-"
    print(f"{kind:<6} {rnd:>5} {float(rps):>9.0f} {float(p50):>8.3f} {float(q99):>8.3f} {err:>7} {rate:>10} {a50:>10} {a99:>10} {rebuilds:>9} {rebuild:>11}")
    p99.setdefault(kind, []).append(float(q99))
print(f"data-plane p99 churn/quiet: {max(p99['churn']) / max(p99['quiet']):.2f}x (worst p99 over rounds)")
PY
