#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need from npm/PyPI into
# git-ignored folders (.tools/) when missing, so a fresh clone needs nothing else.
set -euo pipefail
cd "$(dirname "$0")"
root=$(pwd)
mkdir -p .tools

# System packages (Node.js, Chromium, zbar): installed when missing and run as root, otherwise the
# command to run is named.
.ci/system-packages

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

# npm Baileys builds that the simulated server must serve (whatsapp-sim's Baileys check). Its
# libsignal is pinned to the npm release (the default points at a git repository).
baileys_dirs=()
for version in 6.7.24 7.0.0-rc14; do
  dir="$root/.tools/baileys-$version"
  if [ ! -f "$dir/.installed" ]; then
    mkdir -p "$dir"
    printf '{"private":true,"dependencies":{"baileys":"%s"},"overrides":{"libsignal":"6.0.0"}}\n' "$version" > "$dir/package.json"
    (cd "$dir" && npm install --no-audit --no-fund --legacy-peer-deps --ignore-scripts --silent)
    touch "$dir/.installed"
  fi
  baileys_dirs+=("$dir")
done
WA_BAILEYS_DIRS=$(IFS=:; echo "${baileys_dirs[*]}")
export WA_BAILEYS_DIRS

# Django 4.2 (PyPI) into .tools/django: the switch-over import tests build a database with it.
pharmacy-service/tests/django/setup.sh

# Example programs that the end-to-end tests run as processes (target/debug/examples/).
cargo build --workspace --examples --locked
cargo test --workspace --all-targets --locked
cargo test --workspace --doc --locked
# The two library crates package and build on their own (schemas, examples and README inside), and
# their documentation has no broken link. `--allow-dirty` lets a developer run this before committing.
# The client is verified against whatsapp-proto unpacked from a local registry that cargo
# rebuilds at every run under the same name and version, while it caches registry crates as
# immutable (the unpacked source and the build): both are cleared first, in a target dir of
# the check's own so that the workspace's build is left alone.
pkg_target="${CARGO_TARGET_DIR:-$root/target}/package-verify"
rm -rf "$pkg_target/package" "$pkg_target"/debug/.fingerprint/whatsapp-proto-* \
  "$pkg_target"/debug/.fingerprint/whatsapp-client-* \
  "${CARGO_HOME:-$HOME/.cargo}"/registry/src/-*/whatsapp-proto-*
cargo package -p whatsapp-proto -p whatsapp-client --locked --allow-dirty --target-dir "$pkg_target"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps -p whatsapp-proto -p whatsapp-client --locked
# A serve-only pharmacy-service (no `demo` feature) builds without the simulator.
cargo check -p pharmacy-service --no-default-features --bins --locked
# The web UI's pure modules under node's own test runner (the formatter's linear-time bound, the
# busy-retry policy).
node --test pharmacy-service/ui/tests/*.test.mjs

# ---- pharmacy-service HTTP API: schema-driven fuzzing (schemathesis from PyPI into .tools/py)
# against /api/openapi.json of a seeded `pharmacy-service serve`: no 5xx, no response that breaks
# the documented schema. Fails (never skips) when schemathesis cannot be installed.
pharmacy-service/tests/api_fuzz.sh
# ---- end pharmacy-service HTTP API fuzzing
