#!/usr/bin/env bash
# Every test: unit and integration tests (cargo test), then the Gateway API conformance
# scenarios against a real weir (weir-conformance), which must keep every scenario listed
# in conformance/expected-pass.txt passing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

cargo build --workspace --bins
cargo test --workspace

must_pass=$(grep -v '^#' conformance/expected-pass.txt | grep -v '^$' | paste -sd, -)
./target/debug/weir-conformance \
  --manifests "${CONFORMANCE_MANIFESTS:-../shared/gateway-api/v1.6.1/conformance}" \
  --report target/conformance-report.yaml \
  --must-pass "$must_pass"
