// netaio/detail/asio_compat.hpp - the one place that knows which Asio we build against.
//
// Debian bookworm ships standalone Asio 1.22.1: C++20 coroutines work, but
// `as_tuple` still lives in asio::experimental (it moved to asio:: in 1.24, and the
// experimental name was removed in 1.33) and there is no `cancel_after`. Clang
// with libstdc++ needs ASIO_HAS_CO_AWAIT / ASIO_HAS_STD_COROUTINE before Asio 1.26
// (our CMake target sets them; this is the fallback for other build systems).
#pragma once

#include <netaio/version.hpp>

#include <asio/version.hpp>

#if defined(__clang__) && ASIO_VERSION < 102600 && __cplusplus >= 202002L
#ifndef ASIO_HAS_CO_AWAIT
#define ASIO_HAS_CO_AWAIT 1
#endif
#ifndef ASIO_HAS_STD_COROUTINE
#define ASIO_HAS_STD_COROUTINE 1
#endif
#endif

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#if ASIO_VERSION >= 102400
#include <asio/as_tuple.hpp>
#else
#include <asio/experimental/as_tuple.hpp>
#endif

#include <chrono>
#include <exception>
#include <functional>

NETAIO_BEGIN_NAMESPACE
namespace detail {

#if ASIO_VERSION >= 102400
using asio::as_tuple;
#else
using asio::experimental::as_tuple;
#endif

/// `co_await op(args, use_nothrow)` yields a tuple (error_code, results...) instead of throwing.
inline constexpr auto use_nothrow = as_tuple(asio::use_awaitable);

/// Completion handler for internal co_spawn: exceptions are reported to `on_error`
/// (never swallowed silently, never allowed to unwind io_context::run()).
struct report_exceptions {
    std::function<void(std::exception_ptr)> on_error;
    void operator()(std::exception_ptr e) const {
        if (e && on_error) on_error(e);
    }
};

/// A manual-reset "condition variable" for coroutines on one executor: waiters
/// park on a timer that never expires and notify_all() cancels it.
class async_signal {
public:
    explicit async_signal(const asio::any_io_executor& ex) : timer_(ex, std::chrono::steady_clock::time_point::max()) {}

    /// Wait until notify_all() (or cancellation of the waiter's operation).
    asio::awaitable<void> wait() {
        auto [ec] = co_await timer_.async_wait(use_nothrow);
        (void)ec;  // operation_aborted is the normal wake-up
    }
    void notify_all() { timer_.cancel(); }

private:
    asio::steady_timer timer_;
};

}  // namespace detail
NETAIO_END_NAMESPACE
