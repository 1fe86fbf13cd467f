#!/usr/bin/env bash
# Install the build dependencies of netaio for C++ (Debian/Ubuntu).
#
# Does nothing (no apt, no network) when every package is already installed, so
# it is fast and works offline on a ready machine. Uses sudo when not root.
# Set NETAIO_SKIP_DEPS=1 to skip it entirely (e.g. on other distributions).
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config
  libasio-dev libsodium-dev nlohmann-json3-dev catch2 zlib1g-dev
  clang libfuzzer-14-dev
  python3
  iproute2
)

if [[ "${NETAIO_SKIP_DEPS:-0}" == "1" ]]; then
  echo "install-deps: NETAIO_SKIP_DEPS=1, skipped"
  exit 0
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps: not a Debian-based system; install these (or equivalents) yourself:" >&2
  echo "  ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    echo "install-deps: not root and no sudo; install these yourself: ${missing[*]}" >&2
    exit 1
  fi
fi
"${sudo[@]}" apt-get update
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
