#!/usr/bin/env bash
# Installs Django from PyPI (pinned) into the git-ignored .tools/django venv when missing: the
# switch-over import tests (tests/integration/import_django.rs) build the old system's database
# with Django's own `migrate` and ORM (build_db.py). test.sh runs this before `cargo test`; the
# tests fail, naming this script, when the venv is absent.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
venv="$root/.tools/django"
want="Django==4.2.27"
if [ ! -f "$venv/.installed" ] || [ "$(cat "$venv/.installed")" != "$want" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$want"
  echo "$want" > "$venv/.installed"
fi
# Fails (and so fails the run) when the install did not work.
"$venv/bin/python" -c 'import django, sys; sys.exit(django.VERSION[:2] != (4, 2))'
