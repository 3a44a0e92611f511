# Sourced by the benchmark scripts (from the repository root, with ROOT set):
# installs wrk if missing, sets LGSP to the current release binary (LGSP_BIN, or
# built with cargo, honouring CARGO_TARGET_DIR), makes the scratch directory
# WORK, and stops the processes in PIDS on exit (after the caller's `on_exit`
# hook, when it defines one). Then: start processes on free ports, the secured
# benchmark route's registry, and one wrk measurement (THREADS, CONNECTIONS, DURATION).

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
fi
if [ -z "${LGSP_BIN:-}" ]; then cargo build --release --bin lgsp --quiet; fi
LGSP="${LGSP_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/lgsp}"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if declare -F on_exit >/dev/null; then on_exit; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

first_line() { # file -> first line once written
  for _ in $(seq 1 300); do [ -s "$1" ] && { head -n1 "$1"; return; }; sleep 0.1; done
  echo "no announcement in $1" >&2; exit 1
}
json_field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

AGENCY='[[agencies]]
code = "000.00.00.H29"
name = "Tỉnh đo hiệu năng"'

secure_registry() { # mock address, client-secret hash -> registry: a confidential personal-data service and its subscribed client
  printf '%s\n' "$AGENCY

[[services]]
slug = \"bench-secure\"
version = \"v1\"
name = \"Fixed response, confidential personal data\"
owner = \"000.00.00.H29\"
data_class = \"confidential\"
personal_data = true
security_level = 3
upstream = { url = \"http://$1/fixed\" }

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
secret_hash = \"$2\"

[[subscriptions]]
system = \"bench-sys\"
service = \"bench-secure\"
state = \"approved\"
purposes = [\"1.001612\"]
plan = { rate_per_second = 1000000000.0, burst = 1000000000 }"
}

# Variables set on the call (`OTEL_...=x start_node ...`) reach the node's environment.
start_node() { # name binary registry [config TOML] -> data address; writes $WORK/<name>/ and $WORK/<name>.pid
  local name=$1 bin=$2
  mkdir -p "$WORK/$name"
  printf 'data_dir = "%s"\n[listen]\ndata = "127.0.0.1:0"\nadmin = "127.0.0.1:0"\n[auth]\ntoken_ttl_secs = 3600\n' "$WORK/$name/data" >"$WORK/$name/lgsp.toml"
  printf '%s\n' "${4:-}" >>"$WORK/$name/lgsp.toml"
  printf '%s\n' "$3" >"$WORK/$name/registry.toml"
  "$bin" apply "$WORK/$name/registry.toml" --config "$WORK/$name/lgsp.toml" >/dev/null
  RUST_LOG=warn "$bin" serve --config "$WORK/$name/lgsp.toml" >"$WORK/$name.out" 2>"$WORK/$name.log" &
  echo $! >"$WORK/$name.pid" # this runs in a $(...) subshell: the parent reads the pid file
  json_field "$(first_line "$WORK/$name.out")" data
}
cpu_ticks() { # pid -> user+system clock ticks used so far
  awk '{print $14 + $15}' "/proc/$1/stat"
}
token_for() { # data address, client secret -> bearer token of bench-sys
  curl -s "http://$1/oauth2/token" -d grant_type=client_credentials -d client_id=bench-sys -d "client_secret=$2" \
    | python3 -c "import json,sys; print(json.load(sys.stdin)['access_token'])"
}

run_wrk() { # name url [wrk args...] -> "req/s p50_ms p99_ms non2xx"
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
