# FindAsio.cmake - find standalone Asio (https://think-async.com/Asio/), header only.
#
# Result variables:
#   Asio_FOUND, Asio_VERSION (e.g. 1.22.1), Asio_INCLUDE_DIRS
# Cache variables:
#   Asio_INCLUDE_DIR - directory holding asio.hpp
# Imported target:
#   asio::asio - INTERFACE IMPORTED, defines ASIO_STANDALONE and ASIO_NO_DEPRECATED.
#                With Clang and Asio < 1.26 it also defines ASIO_HAS_CO_AWAIT=1 and
#                ASIO_HAS_STD_COROUTINE=1: those versions only detect C++20
#                coroutines for GCC/MSVC (or for clang with libc++'s
#                <experimental/coroutine>), so Clang + libstdc++ would otherwise
#                have no asio::awaitable.
# Hints: Asio_ROOT / ASIO_ROOT (environment or CMake variable).
#
# An `asio::asio` or `asio` target that already exists (made by a parent project
# or another package) is reused.

include(FindPackageHandleStandardArgs)

if(TARGET asio::asio OR TARGET asio)
  if(NOT TARGET asio::asio)
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES INTERFACE_LINK_LIBRARIES asio)
  endif()
  if(NOT Asio_VERSION)
    set(Asio_VERSION "0")  # unknown: provided by someone else
  endif()
  set(Asio_FOUND TRUE)
  set(ASIO_FOUND TRUE)
  return()
endif()

find_path(Asio_INCLUDE_DIR
  NAMES asio.hpp
  HINTS ENV ASIO_ROOT ${ASIO_ROOT}
  PATH_SUFFIXES include asio/include
  DOC "Directory containing the standalone asio.hpp")
mark_as_advanced(Asio_INCLUDE_DIR)

set(_asio_version_number "")
if(Asio_INCLUDE_DIR AND EXISTS "${Asio_INCLUDE_DIR}/asio/version.hpp")
  file(STRINGS "${Asio_INCLUDE_DIR}/asio/version.hpp" _asio_version_line
    REGEX "^#[ \t]*define[ \t]+ASIO_VERSION[ \t]+[0-9]+")
  if(_asio_version_line MATCHES "ASIO_VERSION[ \t]+([0-9]+)")
    # ASIO_VERSION = major * 100000 + minor * 100 + patch
    set(_asio_version_number "${CMAKE_MATCH_1}")
    math(EXPR _asio_major "${_asio_version_number} / 100000")
    math(EXPR _asio_minor "${_asio_version_number} / 100 % 1000")
    math(EXPR _asio_patch "${_asio_version_number} % 100")
    set(Asio_VERSION "${_asio_major}.${_asio_minor}.${_asio_patch}")
    set(Asio_VERSION_MAJOR "${_asio_major}")
    set(Asio_VERSION_MINOR "${_asio_minor}")
    set(Asio_VERSION_PATCH "${_asio_patch}")
  endif()
  unset(_asio_version_line)
endif()

find_package_handle_standard_args(Asio
  REQUIRED_VARS Asio_INCLUDE_DIR
  VERSION_VAR Asio_VERSION)

if(Asio_FOUND)
  set(Asio_INCLUDE_DIRS "${Asio_INCLUDE_DIR}")
  if(NOT TARGET asio::asio)
    add_library(asio::asio INTERFACE IMPORTED)
    set_target_properties(asio::asio PROPERTIES
      INTERFACE_INCLUDE_DIRECTORIES "${Asio_INCLUDE_DIR}"
      INTERFACE_COMPILE_DEFINITIONS "ASIO_STANDALONE;ASIO_NO_DEPRECATED")
    if(_asio_version_number AND _asio_version_number LESS 102600)
      set_property(TARGET asio::asio APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS
        "$<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1>"
        "$<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_STD_COROUTINE=1>")
    endif()
    if(WIN32)
      set_property(TARGET asio::asio APPEND PROPERTY INTERFACE_LINK_LIBRARIES ws2_32 mswsock)
    endif()
    # Standalone Asio needs the platform thread library.
    if(NOT TARGET Threads::Threads)
      set(THREADS_PREFER_PTHREAD_FLAG ON)
      find_package(Threads QUIET)
    endif()
    if(TARGET Threads::Threads)
      set_property(TARGET asio::asio APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
    endif()
  endif()
endif()

unset(_asio_version_number)
unset(_asio_major)
unset(_asio_minor)
unset(_asio_patch)
