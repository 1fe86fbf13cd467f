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

/// Throws errc::bad_option for settings that cannot make a backoff.
inline void validate(const reconnect_options& o) {
    if (!o.enabled) return;
    if (o.initial_delay.count() < 0 || o.max_delay < o.initial_delay)
        throw error(errc::bad_option, "reconnect: need 0 <= initial_delay <= max_delay");
    if (!(o.multiplier >= 1.0) || !std::isfinite(o.multiplier))
        throw error(errc::bad_option, "reconnect: multiplier must be a finite number >= 1");
}

/// The ceiling of attempt `attempt` (1 = the first after the loss):
/// min(max_delay, initial_delay * multiplier^(attempt-1)).
inline std::chrono::milliseconds backoff_ceiling(const reconnect_options& o, std::size_t attempt) {
    const double cap = static_cast<double>(o.max_delay.count());
    double d = static_cast<double>(o.initial_delay.count());
    for (std::size_t i = 1; i < attempt && d < cap; ++i) d *= o.multiplier;
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::min(d, cap)));
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
    // uniform_int draws 32 bits: a spread above ~49 days is drawn at that resolution.
    constexpr auto max32 = static_cast<std::int64_t>(std::numeric_limits<std::uint32_t>::max());
    const std::int64_t spread = std::min<std::int64_t>(high.count() - low.count(), max32);
    return low + std::chrono::milliseconds(o.random.uniform_int(0, static_cast<std::uint32_t>(spread)));
}

}  // namespace detail
NETAIO_END_NAMESPACE
