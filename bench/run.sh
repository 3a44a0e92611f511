#!/usr/bin/env bash
# Gateway overhead benchmark: a fixed-response upstream (the simulators'
# `/fixed`), hit directly and through a gateway route, under wrk. Prints
# requests/s and p50/p99 for both and the gateway/direct ratio, all measured
# in the same run on the same machine.
#
# Usage: bench/run.sh [duration_seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
THREADS="${BENCH_THREADS:-1}"

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
# LGSP_BIN runs an already built binary instead of building one.
if [ -z "${LGSP_BIN:-}" ]; then cargo build --release --bin lgsp --quiet; fi
LGSP="${LGSP_BIN:-target/release/lgsp}"
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

first_line() { # file -> first line once written
  for _ in $(seq 1 200); do [ -s "$1" ] && { head -n1 "$1"; return; }; sleep 0.1; done
  echo "no announcement in $1" >&2; exit 1
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

"$LGSP" mock --listen 127.0.0.1:0 --citizens 1000 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)

cat >"$WORK/lgsp.toml" <<TOML
data_dir = "$WORK/data"
[listen]
data = "127.0.0.1:0"
admin = "127.0.0.1:0"
[log]
format = "json"
TOML
cat >"$WORK/registry.toml" <<TOML
[[agencies]]
code = "000.00.00.H29"
name = "Tỉnh đo hiệu năng"
[[services]]
slug = "bench"
version = "v1"
name = "Fixed response"
owner = "000.00.00.H29"
upstream = { url = "http://$MOCK/fixed" }
TOML
"$LGSP" apply "$WORK/registry.toml" --config "$WORK/lgsp.toml" >/dev/null
RUST_LOG=warn "$LGSP" serve --config "$WORK/lgsp.toml" >"$WORK/gw.out" 2>"$WORK/gw.log" &
PIDS+=($!)
GW=$(json_field "$(first_line "$WORK/gw.out")" data)

run_wrk() { # name url
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$2" >"$WORK/$1.wrk"
  python3 - "$WORK/$1.wrk" <<'PY'
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

# Warm both paths (connection pools, caches) before measuring.
wrk -t1 -c8 -d2s "http://$MOCK/fixed" >/dev/null
wrk -t1 -c8 -d2s "http://$GW/api/bench/v1" >/dev/null

read -r D_RPS D_P50 D_P99 D_ERR < <(run_wrk direct "http://$MOCK/fixed")
read -r G_RPS G_P50 G_P99 G_ERR < <(run_wrk gateway "http://$GW/api/bench/v1")

printf '\nlgsp benchmark: %s s, %s connections, %s wrk thread(s), %s CPU(s)\n' "$DURATION" "$CONNECTIONS" "$THREADS" "$(nproc)"
printf '%-10s %12s %10s %10s %8s\n' path 'req/s' 'p50 ms' 'p99 ms' non2xx
printf '%-10s %12s %10s %10s %8s\n' direct "$D_RPS" "$D_P50" "$D_P99" "$D_ERR"
printf '%-10s %12s %10s %10s %8s\n' gateway "$G_RPS" "$G_P50" "$G_P99" "$G_ERR"
python3 -c "import sys; d,g=float(sys.argv[1]),float(sys.argv[2]); print(f'gateway/direct throughput ratio: {g/d:.3f}')" "$D_RPS" "$G_RPS"
