#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need from npm/PyPI into
# git-ignored folders (.tools/) when missing, so a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
mkdir -p .tools

# npm packages the interop tests drive (pinned), installed once into .tools/node.
node_pkgs=(libsignal@6.0.0 axe-core@4)
if [ ${#node_pkgs[@]} -gt 0 ]; then
  want="${node_pkgs[*]}"
  if [ ! -f .tools/node/.installed ] || [ "$(cat .tools/node/.installed)" != "$want" ]; then
    mkdir -p .tools/node
    (cd .tools/node && npm install --no-audit --no-fund --silent --prefix . "${node_pkgs[@]}")
    echo "$want" > .tools/node/.installed
  fi
  export WA_NODE_MODULES="$root/.tools/node/node_modules"
fi

cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked

# ---- pharmacy-service HTTP API: schema-driven fuzzing (schemathesis from PyPI into .tools/py)
# against /api/openapi.json of a seeded `pharmacy-service serve`: no 5xx, no response that breaks
# the documented schema. Fails (never skips) when schemathesis cannot be installed.
pharmacy-service/tests/api_fuzz.sh
# ---- end pharmacy-service HTTP API fuzzing
