// netaio/detail/deadline_alarm.hpp - one timer for the request deadlines of a node.
//
// A timer per request costs a schedule and a cancel (each under the reactor's
// lock) on every round trip, although almost every request is answered long before
// its deadline. Instead, a node keeps one alarm set for the earliest deadline it
// knows of. Requests tell it their deadline (ring_by: one comparison when the alarm
// is already set early enough); when it rings, the owner times out what is due and
// names the next deadline, if any. A request answered in time costs nothing here.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/version.hpp>

#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

NETAIO_BEGIN_NAMESPACE
namespace detail {

class deadline_alarm {
public:
    using clock = std::chrono::steady_clock;
    /// Called when the alarm rings: time out what is due at `now`, return the next
    /// deadline to ring for (nullopt: none).
    using ring_function = std::function<std::optional<clock::time_point>(clock::time_point now)>;

    deadline_alarm(const asio::any_io_executor& ex, ring_function on_ring)
        : state_(std::make_shared<state>(ex, std::move(on_ring))) {}
    deadline_alarm(const deadline_alarm&) = delete;
    deadline_alarm& operator=(const deadline_alarm&) = delete;
    ~deadline_alarm() { disarm(); }

    /// Ring no later than `t`.
    void ring_by(clock::time_point t) { state_->ring_by(t); }

    /// `now + timeout`, saturated: an enormous timeout means "never", not an overflow.
    static clock::time_point deadline_after(std::chrono::milliseconds timeout) {
        const auto now = clock::now();
        const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(clock::time_point::max() - now);
        return timeout >= room ? clock::time_point::max() : now + timeout;
    }

    /// Stop ringing: nothing is left to time out. A set alarm would otherwise keep
    /// io_context::run() from returning until it rings.
    void disarm() {
        if (!state_->armed) return;
        state_->armed = false;
        ++state_->generation;
        state_->timer.cancel();
    }

private:
    // Shared with the pending wait, which may complete after the alarm is gone.
    struct state : std::enable_shared_from_this<state> {
        state(const asio::any_io_executor& ex, ring_function f) : timer(ex), on_ring(std::move(f)) {}

        asio::steady_timer timer;
        ring_function on_ring;
        clock::time_point at{};
        bool armed = false;
        std::uint64_t generation = 0;  // tells the current wait from ones superseded by a re-arm

        void ring_by(clock::time_point t) {
            if (armed && at <= t) return;
            armed = true;
            at = t;
            const std::uint64_t current = ++generation;
            timer.expires_at(t);  // cancels the wait of an earlier setting (its generation is stale)
            timer.async_wait([weak = weak_from_this(), current](std::error_code) {
                const auto self = weak.lock();
                if (!self || self->generation != current) return;
                self->armed = false;
                if (const auto next = self->on_ring(clock::now())) self->ring_by(*next);
            });
        }
    };

    std::shared_ptr<state> state_;
};

}  // namespace detail
NETAIO_END_NAMESPACE
