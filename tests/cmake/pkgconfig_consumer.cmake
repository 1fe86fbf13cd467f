# cmake -DPKG_CONFIG=... -DPKG_CONFIG_DIR=<prefix>/share/pkgconfig -DCXX=... -DCXX_ID=...
#       -DSOURCE=consumer.cpp -DOUTPUT=... -DVERSION=... [-DASIO_INCLUDE_DIR=...]
#       [-DEXTRA_FLAGS="<compiler and linker flags>"]
#       -P pkgconfig_consumer.cmake
# Consumer test: build consumer.cpp with nothing but the compiler and
# `pkg-config --cflags --libs netaio` (from the installed netaio.pc), then run it.
set(ENV{PKG_CONFIG_PATH} "${PKG_CONFIG_DIR}")
execute_process(
  COMMAND "${PKG_CONFIG}" --cflags --libs netaio
  OUTPUT_VARIABLE flags
  RESULT_VARIABLE rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags --libs netaio failed (${rc})")
endif()
execute_process(
  COMMAND "${PKG_CONFIG}" --modversion netaio
  OUTPUT_VARIABLE modversion
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT modversion STREQUAL VERSION)
  message(FATAL_ERROR "pkg-config --modversion netaio is '${modversion}', expected '${VERSION}'")
endif()
message(STATUS "pkg-config netaio ${modversion}: ${flags}")
separate_arguments(flags UNIX_COMMAND "${flags}")

separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
if(ASIO_INCLUDE_DIR AND NOT ASIO_INCLUDE_DIR STREQUAL "/usr/include")
  list(APPEND extra "-I${ASIO_INCLUDE_DIR}")
endif()
if(CXX_ID STREQUAL "Clang")
  # what FindAsio adds for Clang with Asio < 1.26 (pkg-config cannot be conditional)
  list(APPEND extra -DASIO_HAS_CO_AWAIT=1 -DASIO_HAS_STD_COROUTINE=1)
endif()

execute_process(
  COMMAND "${CXX}" -std=c++20 "-DNETAIO_EXPECTED_VERSION=\"${VERSION}\"" ${extra}
          "${SOURCE}" -o "${OUTPUT}" ${flags}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "compiling ${SOURCE} with the pkg-config flags failed (${rc})")
endif()
execute_process(COMMAND "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${OUTPUT} failed (${rc})")
endif()
