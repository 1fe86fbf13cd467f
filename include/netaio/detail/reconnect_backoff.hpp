// netaio/detail/reconnect_backoff.hpp - the delay before each automatic reconnect
// attempt: exponential growth up to a cap, randomised by jitter (RELIABILITY E10, L8)
// so that clients losing one server together do not all come back at the same moment.
#pragma once

#include <netaio/errors.hpp>
#include <netaio/options.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Throws errc::bad_option for settings that cannot make a backoff. A zero
/// initial_delay would make every delay zero: attempts back to back, a busy loop.
inline void validate(const reconnect_options& o) {
    if (!o.enabled) return;
    if (o.initial_delay.count() <= 0 || o.max_delay < o.initial_delay)
        throw error(errc::bad_option, "reconnect: need 0 < initial_delay <= max_delay");
    if (!(o.multiplier >= 1.0) || !std::isfinite(o.multiplier))
        throw error(errc::bad_option, "reconnect: multiplier must be a finite number >= 1");
    if (o.stable_after.count() < 0) throw error(errc::bad_option, "reconnect: stable_after must be >= 0");
}

/// The ceiling of attempt `attempt` (1 = the first): min(max_delay, initial_delay *
/// multiplier^(attempt-1)), in O(1). Once the product reaches the cap, max_delay
/// itself is returned: a double at the cap (2^63 for milliseconds::max()) is never
/// converted back to an integer.
inline std::chrono::milliseconds backoff_ceiling(const reconnect_options& o, std::size_t attempt) {
    if (attempt <= 1) return std::min(o.initial_delay, o.max_delay);
    const double cap = static_cast<double>(o.max_delay.count());
    const double d = static_cast<double>(o.initial_delay.count()) * std::pow(o.multiplier, static_cast<double>(attempt - 1));
    if (!(d < cap)) return o.max_delay;  // also inf and NaN
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(d));
}

/// The shortest and longest delay the jitter may choose for `attempt`.
inline std::pair<std::chrono::milliseconds, std::chrono::milliseconds> backoff_bounds(const reconnect_options& o,
                                                                                      std::size_t attempt) {
    const auto ceiling = backoff_ceiling(o, attempt);
    switch (o.jitter) {
        case backoff_jitter::none: return {ceiling, ceiling};
        case backoff_jitter::full: return {std::chrono::milliseconds(0), ceiling};
        case backoff_jitter::equal: return {ceiling - ceiling / 2, ceiling};
    }
    return {ceiling, ceiling};
}

/// The delay before `attempt`, drawn uniformly within backoff_bounds() from o.random.
inline std::chrono::milliseconds backoff_delay(const reconnect_options& o, std::size_t attempt) {
    const auto [low, high] = backoff_bounds(o, attempt);
    if (low == high) return low;
    // uniform_int draws 32 bits: the spread is clamped to 2^32-1 ms (about 49.7 days),
    // so a delay never exceeds low + 49.7 days even when the bounds are wider.
    constexpr auto max32 = static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max());
    const std::int64_t spread = std::min<std::int64_t>(high.count() - low.count(), max32);
    return low + std::chrono::milliseconds(o.random.uniform_int(0, static_cast<std::uint32_t>(spread)));
}

/// A delay a steady_timer can wait: converting milliseconds::max() to the clock's
/// nanoseconds would overflow, so waits are capped at 100 years.
inline std::chrono::milliseconds timer_safe(std::chrono::milliseconds d) {
    return std::min<std::chrono::milliseconds>(d, std::chrono::hours(24 * 365 * 100));
}

}  // namespace detail
NETAIO_END_NAMESPACE
