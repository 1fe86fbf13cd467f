# Consumer tests: tiny projects under tests/cmake/ that use netaio the way users
# do, each built with `ctest --build-and-test` and run (tests/cmake/consumer.cpp).
#
#   consumer_install        fixture setup: cmake --install of this build into a temp prefix
#   consumer_find_package   find_package(netaio) from that prefix
#   consumer_pkgconfig      the compiler + `pkg-config --cflags --libs netaio` from that prefix
#   consumer_add_subdirectory
#   consumer_fetchcontent   FetchContent_Declare(netaio SOURCE_DIR <this source tree>)

set(NETAIO_CONSUMER_DIR "${CMAKE_CURRENT_BINARY_DIR}/consumers")
set(NETAIO_CONSUMER_PREFIX "${NETAIO_CONSUMER_DIR}/prefix")

get_property(_netaio_multi_config GLOBAL PROPERTY GENERATOR_IS_MULTI_CONFIG)

# Settings handed down to every consumer build. Lists are passed with
# $<SEMICOLON> so that add_test() keeps each -D in one argument.
set(_netaio_consumer_options
  "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}"
  "-DNETAIO_EXPECTED_VERSION=${PROJECT_VERSION}"
  "-DNETAIO_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON")
if(NOT _netaio_multi_config)
  list(APPEND _netaio_consumer_options "-DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}")
endif()
set(_netaio_san "")
if(NETAIO_SANITIZE AND NOT MSVC)
  # the consumer programs run under the same sanitizers as our own tests
  set(_netaio_san "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all")
  list(APPEND _netaio_consumer_options
    "-DCMAKE_CXX_FLAGS=${_netaio_san}" "-DCMAKE_EXE_LINKER_FLAGS=${_netaio_san}")
endif()
foreach(var Asio_INCLUDE_DIR sodium_INCLUDE_DIR sodium_LIBRARY nlohmann_json_DIR ZLIB_ROOT)
  if(DEFINED ${var} AND ${var})
    list(APPEND _netaio_consumer_options "-D${var}=${${var}}")
  endif()
endforeach()

set(_netaio_build_and_test_args
  --build-generator "${CMAKE_GENERATOR}"
  --build-noclean)
if(CMAKE_MAKE_PROGRAM)
  list(APPEND _netaio_build_and_test_args --build-makeprogram "${CMAKE_MAKE_PROGRAM}")
endif()
if(CMAKE_GENERATOR_PLATFORM)
  list(APPEND _netaio_build_and_test_args --build-generator-platform "${CMAKE_GENERATOR_PLATFORM}")
endif()
if(CMAKE_GENERATOR_TOOLSET)
  list(APPEND _netaio_build_and_test_args --build-generator-toolset "${CMAKE_GENERATOR_TOOLSET}")
endif()
if(_netaio_multi_config)
  list(APPEND _netaio_build_and_test_args --build-config "$<CONFIG>")
endif()

# netaio_add_consumer_test(<name> [PREFIX_PATH <dir>...])
#   builds tests/cmake/<name>/ and runs its `consumer` program.
function(netaio_add_consumer_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "PREFIX_PATH")
  set(options ${_netaio_consumer_options})
  set(prefix_path ${arg_PREFIX_PATH} ${CMAKE_PREFIX_PATH})
  if(prefix_path)
    string(REPLACE ";" "$<SEMICOLON>" prefix_path "${prefix_path}")
    list(APPEND options "-DCMAKE_PREFIX_PATH=${prefix_path}")
  endif()
  if(arg_PREFIX_PATH)
    list(APPEND options "-DNETAIO_EXPECTED_PREFIX=${arg_PREFIX_PATH}")
  endif()
  add_test(NAME consumer_${name}
    COMMAND "${CMAKE_CTEST_COMMAND}"
      --build-and-test
        "${CMAKE_CURRENT_SOURCE_DIR}/cmake/${name}"
        "${NETAIO_CONSUMER_DIR}/${name}"
      ${_netaio_build_and_test_args}
      --build-options ${options}
      --test-command consumer)
  set_tests_properties(consumer_${name} PROPERTIES TIMEOUT 300 LABELS consumer)
endfunction()

if(NETAIO_INSTALL)
  add_test(NAME consumer_install
    COMMAND "${CMAKE_COMMAND}"
      "-DBUILD_DIR=${PROJECT_BINARY_DIR}"
      "-DPREFIX=${NETAIO_CONSUMER_PREFIX}"
      "-DCONFIG=$<CONFIG>"
      "-DINCLUDEDIR=${CMAKE_INSTALL_INCLUDEDIR}"
      "-DCMAKEDIR=${NETAIO_INSTALL_CMAKEDIR}"
      "-DPCDIR=${NETAIO_INSTALL_PKGCONFIGDIR}"
      -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/install_tree.cmake")
  set_tests_properties(consumer_install PROPERTIES
    FIXTURES_SETUP netaio_installed TIMEOUT 120 LABELS consumer)

  netaio_add_consumer_test(find_package PREFIX_PATH "${NETAIO_CONSUMER_PREFIX}")
  set_tests_properties(consumer_find_package PROPERTIES FIXTURES_REQUIRED netaio_installed)

  find_program(NETAIO_PKG_CONFIG_EXECUTABLE NAMES pkg-config pkgconf)
  mark_as_advanced(NETAIO_PKG_CONFIG_EXECUTABLE)
  if(NETAIO_PKG_CONFIG_EXECUTABLE AND NOT MSVC)
    add_test(NAME consumer_pkgconfig
      COMMAND "${CMAKE_COMMAND}"
        "-DPKG_CONFIG=${NETAIO_PKG_CONFIG_EXECUTABLE}"
        "-DPKG_CONFIG_DIR=${NETAIO_CONSUMER_PREFIX}/${NETAIO_INSTALL_PKGCONFIGDIR}"
        "-DCXX=${CMAKE_CXX_COMPILER}"
        "-DCXX_ID=${CMAKE_CXX_COMPILER_ID}"
        "-DSOURCE=${CMAKE_CURRENT_SOURCE_DIR}/cmake/consumer.cpp"
        "-DOUTPUT=${NETAIO_CONSUMER_DIR}/pkgconfig/consumer"
        "-DVERSION=${PROJECT_VERSION}"
        "-DASIO_INCLUDE_DIR=${Asio_INCLUDE_DIR}"
        "-DEXTRA_FLAGS=${_netaio_san}"
        -P "${CMAKE_CURRENT_SOURCE_DIR}/cmake/pkgconfig_consumer.cmake")
    set_tests_properties(consumer_pkgconfig PROPERTIES
      FIXTURES_REQUIRED netaio_installed TIMEOUT 300 LABELS consumer)
    file(MAKE_DIRECTORY "${NETAIO_CONSUMER_DIR}/pkgconfig")
  endif()
endif()

netaio_add_consumer_test(add_subdirectory)
netaio_add_consumer_test(fetchcontent)
