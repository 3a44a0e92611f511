#!/usr/bin/env bash
# What exporting traces costs, every figure measured in this run on this machine.
# Two nodes of the current build serve the secured route of bench/run.sh's
# `audited` path (bearer token, policy, rate limit, durable audit record):
#   off    — no OTEL_* variables: stage spans are disabled where they are written;
#   traced — OTLP/HTTP export (protobuf) to a local sink (bench/otlp_sink.py),
#            OTEL_TRACES_SAMPLER=parentbased_traceidratio, OTEL_TRACES_SAMPLER_ARG=0.01.
# They are measured in alternating rounds; prints req/s, p50/p99 and the
# gateway's CPU time per request for each, and the traced/off ratios.
#
# Usage: bench/traces.sh [duration_seconds] [connections]
#   LGSP_BIN=path      use an already built binary (else `cargo build --release`, honouring CARGO_TARGET_DIR)
#   SAMPLE_RATIO=0.01  the traced node's sampling ratio
#   ROUNDS=2           alternating rounds of off then traced
#   AUDIT_TOML=...     appended to both nodes' [audit] section, e.g. 'mode = "async"'
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DURATION="${1:-10}"
CONNECTIONS="${2:-64}"
THREADS="${BENCH_THREADS:-1}"
RATIO="${SAMPLE_RATIO:-0.01}"
ROUNDS="${ROUNDS:-2}"
source "$ROOT/bench/nodes.sh"

"$LGSP" mock --listen 127.0.0.1:0 --citizens 1000 >"$WORK/mock.out" 2>/dev/null &
PIDS+=($!)
MOCK=$(json_field "$(first_line "$WORK/mock.out")" mock)
python3 "$ROOT/bench/otlp_sink.py" >"$WORK/sink.out" 2>/dev/null &
PIDS+=($!)
SINK=$(json_field "$(first_line "$WORK/sink.out")" sink)

CREDS=$("$LGSP" credential client-secret)
SECRET=$(json_field "$CREDS" client_secret)
REGISTRY=$(secure_registry "$MOCK" "$(json_field "$CREDS" secret_hash)")
AUDIT="$(printf '[audit]\n%s' "${AUDIT_TOML:-}")"

OFF=$(start_node off "$LGSP" "$REGISTRY" "$AUDIT")
PIDS+=("$(cat "$WORK/off.pid")")
TRACED=$(OTEL_EXPORTER_OTLP_ENDPOINT="http://$SINK" \
  OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG="$RATIO" \
  start_node traced "$LGSP" "$REGISTRY" "$AUDIT")
PIDS+=("$(cat "$WORK/traced.pid")")

declare -A HEADERS_OF
for node in off traced; do
  addr=$([ $node = off ] && echo "$OFF" || echo "$TRACED")
  HEADERS_OF[$node]="Authorization: Bearer $(token_for "$addr" "$SECRET")"
  # Warm the connection pools, token and decision caches.
  wrk -t1 -c8 -d2s -H "${HEADERS_OF[$node]}" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer" \
    "http://$addr/api/bench-secure/v1" >/dev/null
done

ROWS=()
for round in $(seq 1 "$ROUNDS"); do
  for node in off traced; do
    addr=$([ $node = off ] && echo "$OFF" || echo "$TRACED")
    pid=$(cat "$WORK/$node.pid")
    cpu0=$(cpu_ticks "$pid")
    read -r rps p50 p99 err < <(run_wrk "$node-$round" "http://$addr/api/bench-secure/v1" \
      -H "${HEADERS_OF[$node]}" -H "X-LGSP-Purpose: 1.001612" -H "X-LGSP-User: bench.officer")
    ROWS+=("$node $round $rps $p50 $p99 $err $(( $(cpu_ticks "$pid") - cpu0 ))")
  done
done
# Let the last batch reach the sink (the default schedule delay is 5 s).
sleep 6
EXPORTS=$(curl -s "http://$SINK/stats")

printf '\nlgsp tracing benchmark: %s s x %s rounds, %s connections, %s wrk thread(s), %s CPU(s), sampling %s\n' \
  "$DURATION" "$ROUNDS" "$CONNECTIONS" "$THREADS" "$(nproc)" "$RATIO"
python3 - "$(getconf CLK_TCK)" "$DURATION" "$EXPORTS" "${ROWS[@]}" <<'PY'
import json, sys
tick, duration, exports = 1e6 / float(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
rows = [r.split() for r in sys.argv[4:]]
print(f"{'node':<8} {'round':>5} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>7} {'CPU us/req':>11}")
total = {}
for node, rnd, rps, p50, p99, err, ticks in rows:
    rps, ticks = float(rps), float(ticks)
    cpu = ticks * tick / (rps * duration)
    print(f"{node:<8} {rnd:>5} {rps:>10.0f} {float(p50):>8.3f} {float(p99):>8.3f} {err:>7} {cpu:>11.1f}")
    t = total.setdefault(node, [0.0, 0.0])
    t[0] += rps * duration
    t[1] += ticks * tick
(off_n, off_us), (on_n, on_us) = total["off"], total["traced"]
print(f"traced/off throughput ratio: {on_n / off_n:.3f}  (cost {100 * (1 - on_n / off_n):.1f}%)")
print(f"gateway CPU per request:     off {off_us / off_n:.1f} us, traced {on_us / on_n:.1f} us ({on_us / on_n - off_us / off_n:+.1f} us)")
print(f"OTLP exports received by the sink: {exports['requests']} requests, {exports['bytes']} bytes")
PY
