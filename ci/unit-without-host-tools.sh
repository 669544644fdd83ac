#!/usr/bin/env bash
# The unit suite as on a fresh machine: a PATH without the host's build tools (compilers, cross
# compilers, CMake, Ninja, QEMU, debootstrap, apt, git, ccache, distcc, nvcc), and, when run as
# root, their data hidden too (debootstrap's scripts, the cross sysroots, CUDA) by bind mounts in
# a private mount namespace. Tests that need such a tool must skip, saying which, or live in
# tests/integration. Usage: ci/unit-without-host-tools.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/empty"
for dir in /usr/bin /bin /usr/sbin /sbin; do
  for tool in "$dir"/*; do
    name=$(basename "$tool")
    case "$name" in
      debootstrap | mmdebstrap | cmake* | ctest | cpack | ninja* | ccache | distcc* | \
        gcc* | g++* | cc | c++ | cpp* | clang* | *-linux-gnu*-* | qemu-* | nvcc | \
        dpkg-deb | apt | apt-get | apt-cache | patchelf | git | make | ld | ld.* | as | \
        ar | readelf | objdump | strip | binfmt* | update-binfmts)
        continue ;;
    esac
    [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name"
  done
done
hidden="/usr/share/debootstrap /usr/aarch64-linux-gnu /usr/arm-linux-gnueabihf /usr/local/cuda"
run=(env -u VIRTUAL_ENV PATH="$work/bin" .venv/bin/python -m pytest tests/unit -q -p no:cacheprovider "$@")
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
  script='for d in '"$hidden"'; do [ -e "$d" ] && mount --bind "$0" "$d"; done; shift; exec "$@"'
  unshare -m sh -c "$script" "$work/empty" -- "${run[@]}"
  exit $?
fi
echo "not root: only the PATH is cleaned; the host's data stays visible" >&2
"${run[@]}"
