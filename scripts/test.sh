#!/usr/bin/env bash
# Run every test stage of netaio for C++:
#
#   check   build/check   Debug, -DNETAIO_SANITIZE=ON -DNETAIO_WERROR=ON: one build that is
#                         both ASan+UBSan and -Wall -Wextra -Wpedantic -Werror (header
#                         tests included); build + ctest
#   fuzz    build/fuzz    clang++, -DNETAIO_BUILD_FUZZERS=ON: every libFuzzer target
#                         runs NETAIO_FUZZ_SECONDS (default 60) over a copy of its
#                         corpus, NETAIO_JOBS targets at a time;
#                         NETAIO_FUZZ_SECONDS=0 skips the stage; skipped without clang++
#
# Optional stages (NETAIO_STAGES, default "check fuzz"):
#   werror  build/werror  Debug, -Werror, no sanitizers: build + ctest
#   asan    build/asan    Debug, ASan+UBSan+Werror, without the header tests: build + ctest
# e.g. NETAIO_STAGES="werror asan fuzz" runs the plain and the sanitized builds apart.
# One merged stage is the default because compiling everything twice cost CI half its
# time on two cores, and the sanitized build already reports every warning.
#
# Environment: NETAIO_STAGES, NETAIO_JOBS (build parallelism, default 2),
# NETAIO_FUZZ_SECONDS, NETAIO_CTEST_ARGS (extra ctest arguments, e.g. "-R packify"
# or "-E consumer"). Exits non-zero on the first failure. Prints a timing line per stage.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

JOBS="${NETAIO_JOBS:-2}"
STAGES=" ${NETAIO_STAGES:-check fuzz} "
wants() { [[ "$STAGES" == *" $1 "* ]]; }
FUZZ_SECONDS="${NETAIO_FUZZ_SECONDS:-60}"
GENERATOR=(-G Ninja)
command -v ninja >/dev/null 2>&1 || GENERATOR=()

TIMINGS=()
stage_start=0
begin_stage() {
  echo
  echo "==================== stage $1 ===================="
  stage_start=$(date +%s)
}
end_stage() {
  local elapsed=$(($(date +%s) - stage_start))
  echo "==> stage $1: ${elapsed}s"
  TIMINGS+=("$1: ${elapsed}s")
}
on_exit() {
  local rc=$?
  if ((${#TIMINGS[@]} > 0)); then
    echo
    echo "timings: ${TIMINGS[*]}"
  fi
  if ((rc != 0)); then
    echo "scripts/test.sh: FAILED (exit ${rc})" >&2
  fi
}
trap on_exit EXIT

# configure_build_test <dir> <cmake args...>: configure, build everything, ctest.
configure_build_test() {
  local dir="$1"
  shift
  cmake -S "$ROOT" -B "$dir" "${GENERATOR[@]}" "$@"
  cmake --build "$dir" -j "$JOBS"
  # shellcheck disable=SC2086 # NETAIO_CTEST_ARGS is split on purpose
  (cd "$dir" && ctest --output-on-failure ${NETAIO_CTEST_ARGS:-})
}

begin_stage deps
scripts/install-deps.sh
end_stage deps

# Every sanitizer report fails its test (-fno-sanitize-recover=all). LeakSanitizer
# needs ptrace; in a container that forbids it, run with ASAN_OPTIONS=detect_leaks=0.
export ASAN_OPTIONS="${ASAN_OPTIONS:-check_initialization_order=1:strict_init_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

if wants check; then
  begin_stage check
  configure_build_test build/check -DCMAKE_BUILD_TYPE=Debug -DNETAIO_SANITIZE=ON -DNETAIO_WERROR=ON
  end_stage check
fi

if wants werror; then
  begin_stage werror
  configure_build_test build/werror -DCMAKE_BUILD_TYPE=Debug -DNETAIO_WERROR=ON -DNETAIO_SANITIZE=OFF
  end_stage werror
fi

if wants asan; then
  begin_stage asan
  # (the compile-only header tests run in the werror stage)
  configure_build_test build/asan -DCMAKE_BUILD_TYPE=Debug -DNETAIO_SANITIZE=ON -DNETAIO_WERROR=ON \
    -DNETAIO_BUILD_HEADER_TESTS=OFF
  end_stage asan
fi

if ! wants fuzz; then
  echo
  echo "==> stage fuzz: not in NETAIO_STAGES"
elif [[ "$FUZZ_SECONDS" == "0" ]]; then
  echo
  echo "==> stage fuzz: skipped (NETAIO_FUZZ_SECONDS=0)"
elif ! command -v clang++ >/dev/null 2>&1; then
  echo
  echo "==> stage fuzz: skipped (no clang++)"
else
  begin_stage fuzz
  CXX=clang++ cmake -S "$ROOT" -B build/fuzz "${GENERATOR[@]}" \
    -DCMAKE_CXX_COMPILER=clang++ \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g" \
    -DNETAIO_BUILD_FUZZERS=ON \
    -DNETAIO_BUILD_TESTS=OFF \
    -DNETAIO_BUILD_EXAMPLES=OFF \
    -DNETAIO_BUILD_BENCH=OFF \
    -DNETAIO_INSTALL=OFF
  cmake --build build/fuzz --target netaio_fuzzers -j "$JOBS"
  # Each target fuzzes alone for FUZZ_SECONDS; JOBS of them run side by side
  # (one core each), so the stage takes about ceil(targets / JOBS) * FUZZ_SECONDS.
  run_fuzzer() {
    local target="$1" name="${1#fuzz_}"
    local binary="build/fuzz/fuzzers/$target" corpus="build/fuzz/corpus/${1#fuzz_}" log="build/fuzz/$target.log"
    rm -rf "$corpus"
    mkdir -p "$corpus"
    if [[ -d "tests/fuzz/corpus/$name" ]]; then
      cp -R "tests/fuzz/corpus/$name/." "$corpus/"
    fi
    echo "--> $target: ${FUZZ_SECONDS}s over a copy of tests/fuzz/corpus/$name ($(find "$corpus" -type f | wc -l) inputs)"
    if ! "$binary" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/$target-" "$corpus" >"$log" 2>&1; then
      tail -n 60 "$log"
      echo "$target: FAILED, see $log (crash inputs: build/fuzz/$target-*)" >&2
      return 1
    fi
    local execs rate cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 || true)
    echo "$target: ${rate:-?} execs/s, ${execs:-?} execs in ${FUZZ_SECONDS}s, ${cov:-cov: ?}, corpus now $(find "$corpus" -type f | wc -l) inputs"
  }
  ran=0
  failed=0
  running=0
  for source in tests/fuzz/fuzz_*.cpp; do
    target="$(basename "$source" .cpp)"
    if [[ ! -x "build/fuzz/fuzzers/$target" ]]; then
      echo "$target: not built (its headers do not exist yet?), skipped"
      continue
    fi
    if ((running >= JOBS)); then
      wait -n || failed=1
      running=$((running - 1))
    fi
    run_fuzzer "$target" &
    running=$((running + 1))
    ran=$((ran + 1))
  done
  while ((running > 0)); do
    wait -n || failed=1
    running=$((running - 1))
  done
  if ((ran == 0)); then
    echo "no fuzz target was built" >&2
    exit 1
  fi
  if ((failed)); then
    echo "fuzzing found a failure (see above)" >&2
    exit 1
  fi
  end_stage fuzz
fi
