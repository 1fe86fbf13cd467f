// netaio/version.hpp - library version and the versioned inline namespace.
//
// Everything public lives in `netaio::v0` (an inline namespace), so two copies of
// netaio built with different versions cannot silently mix in one program (ODR),
// while users keep writing plain `netaio::Message`.
#pragma once

#define NETAIO_VERSION_MAJOR 0
#define NETAIO_VERSION_MINOR 1
#define NETAIO_VERSION_PATCH 0
#define NETAIO_VERSION (NETAIO_VERSION_MAJOR * 10000 + NETAIO_VERSION_MINOR * 100 + NETAIO_VERSION_PATCH)
#define NETAIO_VERSION_STRING "0.1.0"

#define NETAIO_BEGIN_NAMESPACE \
    namespace netaio {         \
    inline namespace v0 {
#define NETAIO_END_NAMESPACE \
    }                        \
    }

NETAIO_BEGIN_NAMESPACE

/// The version of the Python netaio release this library is wire-compatible with.
inline constexpr const char* python_netaio_compat_version = "0.0.9";

NETAIO_END_NAMESPACE
