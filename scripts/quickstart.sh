#!/usr/bin/env bash
# The quickstart: builds weir, starts two `weir echo` backends and `weir run` on
# examples/quickstart, and shows a request answered through the gateway.
#   scripts/quickstart.sh          # keeps running until Ctrl-C
#   scripts/quickstart.sh --check  # exits after the checks (used by CI)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

cargo build --release --bin weir
WEIR=target/release/weir
if [ ! -f examples/quickstart/generated/home-tls-secret.yaml ]; then
  $WEIR certs --out examples/quickstart/generated --hostname '*.home.example' --namespace default --name home-tls
fi
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; }
trap cleanup EXIT INT TERM

$WEIR echo --address 127.0.0.1 --port 3101 --h2c-port 0 --pod app-v1 --namespace default & pids+=($!)
$WEIR echo --address 127.0.0.1 --port 3102 --h2c-port 0 --pod app-v2 --namespace default & pids+=($!)
$WEIR run --config-dir examples/quickstart & pids+=($!)

for _ in $(seq 1 100); do
  curl -sf http://127.0.0.1:9901/readyz >/dev/null 2>&1 && break
  sleep 0.1
done

echo
echo '$ curl -s -H "Host: app.home.example" http://127.0.0.1:8080/'
curl -s -H 'Host: app.home.example' http://127.0.0.1:8080/
echo
echo '$ curl -si -H "Host: old.home.example" http://127.0.0.1:8080/docs   # a 301 redirect'
curl -si -H 'Host: old.home.example' http://127.0.0.1:8080/docs | head -3
echo '$ curl -s --cacert examples/quickstart/generated/ca.crt --resolve app.home.example:8443:127.0.0.1 https://app.home.example:8443/ | grep pod'
curl -s --cacert examples/quickstart/generated/ca.crt --resolve app.home.example:8443:127.0.0.1 https://app.home.example:8443/ | grep '"pod"'
echo '$ target/release/weir status'
$WEIR status
pod=$(curl -s -H 'Host: app.home.example' http://127.0.0.1:8080/ | sed -n 's/.*"pod": "\(.*\)".*/\1/p')
case "$pod" in app-v1|app-v2) ;; *) echo "quickstart check failed: no echo reply"; exit 1 ;; esac

if [ "${1:-}" = "--check" ]; then
  echo "quickstart check passed"
  exit 0
fi
echo
echo "weir is serving examples/quickstart on 127.0.0.1:8080 (HTTP) and :8443 (HTTPS); admin on 127.0.0.1:9901."
echo "Edit examples/quickstart/routes.yaml and the change is live within milliseconds. Ctrl-C stops."
wait
