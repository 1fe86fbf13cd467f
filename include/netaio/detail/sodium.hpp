// netaio/detail/sodium.hpp - one-time libsodium initialisation.
#pragma once

#include <netaio/version.hpp>

#include <sodium.h>

#include <stdexcept>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Initialise libsodium once per process (thread-safe: a function-local static).
///
/// sodium_init() picks the fastest implementations and seeds the system RNG;
/// calling it more than once is harmless but each call costs a check, so the
/// result is cached. Throws std::runtime_error when libsodium cannot start
/// (e.g. no entropy source), because nothing cryptographic is safe after that.
inline void ensure_sodium() {
    static const bool ready = sodium_init() >= 0;
    if (!ready) throw std::runtime_error("netaio: libsodium initialisation failed");
}

}  // namespace detail
NETAIO_END_NAMESPACE
