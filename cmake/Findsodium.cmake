# Findsodium.cmake - find libsodium (https://libsodium.org).
#
# Looks with pkg-config (module `libsodium`) first and uses its answer as hints
# for find_path/find_library, which also work without pkg-config.
#
# Result variables:
#   sodium_FOUND, sodium_VERSION (e.g. 1.0.18), sodium_INCLUDE_DIRS, sodium_LIBRARIES
# Cache variables:
#   sodium_INCLUDE_DIR, sodium_LIBRARY
# Input variables:
#   sodium_USE_STATIC_LIBS - prefer the static library (defines SODIUM_STATIC)
#   sodium_ROOT / SODIUM_ROOT (environment or CMake variable) - search hint
# Imported target:
#   sodium::sodium
#
# An existing `sodium::sodium`, `sodium`, `libsodium::libsodium` or
# `unofficial-sodium::sodium` (vcpkg) target is reused.

include(FindPackageHandleStandardArgs)

if(NOT TARGET sodium::sodium)
  foreach(_sodium_candidate sodium libsodium::libsodium libsodium unofficial-sodium::sodium)
    if(TARGET ${_sodium_candidate})
      add_library(sodium::sodium INTERFACE IMPORTED)
      set_target_properties(sodium::sodium PROPERTIES
        INTERFACE_LINK_LIBRARIES ${_sodium_candidate})
      break()
    endif()
  endforeach()
  unset(_sodium_candidate)
endif()
if(TARGET sodium::sodium)
  if(NOT sodium_VERSION)
    set(sodium_VERSION "0")  # unknown: provided by someone else
  endif()
  set(sodium_FOUND TRUE)
  set(SODIUM_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(PC_sodium QUIET libsodium)
endif()

find_path(sodium_INCLUDE_DIR
  NAMES sodium.h
  HINTS ${PC_sodium_INCLUDEDIR} ${PC_sodium_INCLUDE_DIRS} ENV SODIUM_ROOT ${SODIUM_ROOT}
  PATH_SUFFIXES include
  DOC "Directory containing sodium.h")

if(sodium_USE_STATIC_LIBS)
  set(_sodium_names libsodium.a sodium libsodium)
else()
  set(_sodium_names sodium libsodium)
endif()
find_library(sodium_LIBRARY
  NAMES ${_sodium_names}
  HINTS ${PC_sodium_LIBDIR} ${PC_sodium_LIBRARY_DIRS} ENV SODIUM_ROOT ${SODIUM_ROOT}
  PATH_SUFFIXES lib lib64
  DOC "The libsodium library")
unset(_sodium_names)
mark_as_advanced(sodium_INCLUDE_DIR sodium_LIBRARY)

if(PC_sodium_VERSION)
  set(sodium_VERSION "${PC_sodium_VERSION}")
elseif(sodium_INCLUDE_DIR AND EXISTS "${sodium_INCLUDE_DIR}/sodium/version.h")
  file(STRINGS "${sodium_INCLUDE_DIR}/sodium/version.h" _sodium_version_line
    REGEX "^#[ \t]*define[ \t]+SODIUM_VERSION_STRING[ \t]+\"[^\"]*\"")
  if(_sodium_version_line MATCHES "\"([^\"]*)\"")
    set(sodium_VERSION "${CMAKE_MATCH_1}")
  endif()
  unset(_sodium_version_line)
endif()

find_package_handle_standard_args(sodium
  REQUIRED_VARS sodium_LIBRARY sodium_INCLUDE_DIR
  VERSION_VAR sodium_VERSION)

if(sodium_FOUND)
  set(sodium_INCLUDE_DIRS "${sodium_INCLUDE_DIR}")
  set(sodium_LIBRARIES "${sodium_LIBRARY}")
  add_library(sodium::sodium UNKNOWN IMPORTED)
  set_target_properties(sodium::sodium PROPERTIES
    IMPORTED_LOCATION "${sodium_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${sodium_INCLUDE_DIR}")
  if(sodium_USE_STATIC_LIBS)
    set_property(TARGET sodium::sodium APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS SODIUM_STATIC)
  endif()
endif()
