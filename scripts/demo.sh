#!/usr/bin/env bash
# Build and run the netaio demo (examples/demo.cpp) in build/release.
#   scripts/demo.sh [demo arguments...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh

cmake -S . -B build/release -G Ninja \
  -DCMAKE_BUILD_TYPE=Release \
  -DNETAIO_BUILD_EXAMPLES=ON \
  -DNETAIO_BUILD_TESTS=OFF
cmake --build build/release --target netaio_demo -j2
exec build/release/examples/netaio_demo "$@"
