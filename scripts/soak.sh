#!/usr/bin/env bash
# The soak of issue 32 at full size: a month of a pharmacy's WhatsApp traffic at speed against
# the sim (1,000,000 customer messages, 100,000 replies, 5,000 customers, a photo in every 20),
# with a dropped connection after every tenth and two restarts of the service. Figures and
# chart go to SOAK_OUT (default target/soak): soak.csv, soak.svg. Smaller runs: SOAK_MESSAGES,
# SOAK_REPLIES, SOAK_CUSTOMERS (the integration test's defaults are 600 / 60 / 20).
set -euo pipefail
cd "$(dirname "$0")/.."
export SOAK_MESSAGES=${SOAK_MESSAGES:-1000000}
export SOAK_REPLIES=${SOAK_REPLIES:-100000}
export SOAK_CUSTOMERS=${SOAK_CUSTOMERS:-5000}
export SOAK_OUT=${SOAK_OUT:-$PWD/target/soak}
mkdir -p "$SOAK_OUT"
echo "soak: $SOAK_MESSAGES messages, $SOAK_REPLIES replies, $SOAK_CUSTOMERS customers -> $SOAK_OUT"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo n/a), cores: $(nproc 2>/dev/null || echo n/a)"
cargo test --release --locked -p pharmacy-service --test integration -- \
  soak::a_soak_keeps_memory_descriptors_tasks_wal_and_latency_flat --exact --nocapture --test-threads 1 2>&1 | tee "$SOAK_OUT/soak.log"
