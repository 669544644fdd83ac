#!/usr/bin/env bash
# Give apt a deb-src entry (needed by `apt-get source`, which the real-tree tests use), made
# from the machine's own first Debian source stanza so no mirror is written into this project.
set -euo pipefail
src=/etc/apt/sources.list.d/debian.sources
out=/etc/apt/sources.list.d/torchbuild-deb-src.sources
if grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null; then
  exit 0
fi
if [ ! -f "$src" ]; then
  echo "no $src: the real-tree tests will skip" >&2
  exit 0
fi
awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { print; exit }' "$src" \
  | sed -e 's/^Types:.*/Types: deb-src/' -e 's/^Suites:.*/Suites: bookworm trixie sid/' >"$out"
apt-get update -qq
