#!/usr/bin/env bash
# A sanity figure, not the benchmark suite (issue 6): one HTTP route through weir against the
# same `weir echo` backend hit directly, with wrk, and TLS 1.3 full handshakes per second against
# weir and nginx with the same certificate (openssl s_time). The proxy runs on CPU 0; the load
# generator and the backend on CPU 1.
#   bench/sanity.sh            # prints a small table
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
for pkg in wrk nginx-light; do
  dpkg -s "$pkg" >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; }
done
cargo build --release --bin weir -q
WEIR=$PWD/target/release/weir
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

# Backend and weir.
taskset -c 1 $WEIR echo --address 127.0.50.2 --port 3000 --h2c-port 0 --pod bench-pod --namespace default 2>/dev/null & pids+=($!)
$WEIR certs --out "$work/certs" --hostname bench.example --name bench-tls >/dev/null
mkdir -p "$work/config"
cp "$work/certs/bench-tls-secret.yaml" "$work/config/"
cat > "$work/config/bench.yaml" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: weir}
spec: {controllerName: weir.dev/gateway-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bench, namespace: default}
spec:
  gatewayClassName: weir
  addresses: [{type: IPAddress, value: 127.0.50.1}]
  listeners:
  - {name: http, protocol: HTTP, port: 8080}
  - name: https
    protocol: HTTPS
    port: 8443
    tls: {certificateRefs: [{kind: Secret, name: bench-tls}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: bench, namespace: default}
spec:
  parentRefs: [{name: bench}]
  rules: [{backendRefs: [{name: echo, port: 8080}]}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: echo, namespace: default, labels: {kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{name: http, port: 3000}]
endpoints: [{addresses: [127.0.50.2]}]
YAML
WEIR_LOG=warn taskset -c 0 $WEIR run --config-dir "$work/config" --workers 1 --admin-address 127.0.50.1:9901 & pids+=($!)
for _ in $(seq 1 100); do curl -sf http://127.0.50.1:9901/readyz >/dev/null 2>&1 && break; sleep 0.1; done

run_wrk() { # url -> "req/s p50 p99"
  taskset -c 1 wrk -t1 -c16 -d10s --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    END {print rps, p50, p99}'
}
read -r d_rps d_p50 d_p99 < <(run_wrk http://127.0.50.2:3000/)
read -r w_rps w_p50 w_p99 < <(run_wrk http://127.0.50.1:8080/)

# TLS 1.3 full handshakes per second: weir, then nginx (one worker on CPU 0), same certificate.
handshakes() { # host:port -> connections/s
  # "N connections in S real seconds": wall-clock rate (the other line is per client CPU second).
  taskset -c 1 openssl s_time -connect "$1" -new -tls1_3 -time 10 2>/dev/null | awk '/real seconds/ {printf "%.0f", $1 / $4; exit}'
}
w_hs=$(handshakes 127.0.50.1:8443)
base64 -d > "$work/cert.pem" < <(sed -n 's/^  tls.crt: //p' "$work/certs/bench-tls-secret.yaml")
base64 -d > "$work/key.pem" < <(sed -n 's/^  tls.key: //p' "$work/certs/bench-tls-secret.yaml")
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
worker_cpu_affinity 01;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.50.3:8443 ssl;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    location / { return 200 "ok"; }
  }
}
NGINX
nginx -c "$work/nginx.conf" -g 'daemon off;' & pids+=($!)
sleep 0.5
n_hs=$(handshakes 127.0.50.3:8443)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
echo
echo "| one route, wrk -t1 -c16 -d10s | req/s | p50 | p99 |"
echo "|---|---|---|---|"
echo "| weir echo directly (ceiling) | $d_rps | $d_p50 | $d_p99 |"
echo "| through weir (1 core) | $w_rps | $w_p50 | $w_p99 |"
echo "| weir / direct | $(ratio "$w_rps" "$d_rps") | | |"
echo
echo "| TLS 1.3 full handshakes/s (openssl s_time -new, 10 s) | conn/s |"
echo "|---|---|"
echo "| weir (1 core) | $w_hs |"
echo "| nginx 1.22 (1 worker) | $n_hs |"
echo "| weir / nginx | $(ratio "$w_hs" "$n_hs") |"
