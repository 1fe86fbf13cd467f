// netaio/random.hpp - injectable randomness and wall clock.
//
// The compatible plugins draw nonces, IVs and the cipher's split point from a
// random_source and timestamps from a clock_source. Production code leaves both
// default-constructed (libsodium's CSPRNG, the system clock); tests replace the
// functions to replay the exact values recorded in the Python golden vectors
// and to move time forward deterministically (freshness windows, replay cache).
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sodium.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <stdexcept>

NETAIO_BEGIN_NAMESPACE

/// A source of random bytes and uniformly distributed integers.
///
/// Either function may be left empty; an empty function means "use libsodium"
/// (randombytes_buf / randombytes_uniform), so `random_source{}` is the secure default.
struct random_source {
    /// Fill the span with random bytes.
    std::function<void(std::span<std::uint8_t>)> fill;
    /// Return an integer uniformly distributed in [low, high] (both inclusive, low <= high).
    std::function<std::uint32_t(std::uint32_t low, std::uint32_t high)> uniform;

    /// Fill `out` using `fill`, or libsodium when `fill` is empty.
    void fill_bytes(std::span<std::uint8_t> out) const {
        if (fill) {
            fill(out);
            return;
        }
        detail::ensure_sodium();
        if (!out.empty()) randombytes_buf(out.data(), out.size());
    }

    /// `n` fresh random bytes.
    bytes random_bytes(std::size_t n) const {
        bytes out(n);
        fill_bytes(out);
        return out;
    }

    /// A uniform integer in [low, high] using `uniform`, or libsodium (unbiased) when empty.
    /// Throws std::invalid_argument when low > high.
    std::uint32_t uniform_int(std::uint32_t low, std::uint32_t high) const {
        if (low > high) throw std::invalid_argument("netaio::random_source: empty range");
        if (uniform) return uniform(low, high);
        detail::ensure_sodium();
        const std::uint32_t span = high - low;
        if (span == UINT32_MAX) {
            std::uint32_t v;
            randombytes_buf(&v, sizeof v);
            return v;
        }
        return low + randombytes_uniform(span + 1);
    }
};

/// A wall clock reporting Unix time in whole seconds.
///
/// An empty `now_seconds` means the system clock, so `clock_source{}` is the default.
struct clock_source {
    /// Current Unix time in integer seconds.
    std::function<std::int64_t()> now_seconds;

    /// The current time from `now_seconds`, or from std::chrono::system_clock when empty.
    std::int64_t now() const {
        if (now_seconds) return now_seconds();
        // Truncation toward zero, like Python's int(time.time()).
        return std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }

    /// A clock frozen at `seconds` (tests).
    static clock_source fixed(std::int64_t seconds) {
        return clock_source{[seconds] { return seconds; }};
    }
};

NETAIO_END_NAMESPACE
