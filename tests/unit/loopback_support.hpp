// tests/unit/loopback_support.hpp - running coroutine tests over real loopback sockets.
//
// Every test body is a coroutine run on its own io_context with a hard deadline.
// Its completion handler rethrows on the test thread, so a failing REQUIRE inside
// the coroutine fails the test (never `detached`), and a hang fails it too.
// Also the small pieces every loopback test uses: test_clock / ms_since, text_of,
// rethrow_if for helpers spawned beside a test body, and the echo and stuck handlers.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/message.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <optional>
#include <string>

namespace netaio_test {

using namespace std::chrono_literals;

using test_clock = std::chrono::steady_clock;

/// Milliseconds elapsed since `t`.
inline double ms_since(test_clock::time_point t) {
    return std::chrono::duration<double, std::milli>(test_clock::now() - t).count();
}

inline std::string text_of(const netaio::bytes& b) { return std::string(b.begin(), b.end()); }

/// Run `body(io)` (a captureless coroutine lambda or function) to completion within `deadline`.
template <class Body>
void run_loopback(Body body, std::chrono::milliseconds deadline = 10s) {
    asio::io_context io;
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(io, body(io), [&](std::exception_ptr e) {
        failure = e;
        finished = true;
        io.stop();  // stop background loops (servers, sweeps) with the test body
    });
    io.run_for(deadline);
    if (failure) std::rethrow_exception(failure);
    if (!finished) FAIL("test coroutine did not finish within " << deadline.count() << " ms");
}

/// Run `body` on `io` (the test's own io_context, not stopped when `body` ends) and
/// check that run_for() then returns because no work is left, well before `limit`:
/// nothing the body leaves behind (a timer, an alarm) keeps the io_context busy.
template <class Awaitable>
void require_runs_out_of_work(asio::io_context& io, Awaitable body, std::chrono::milliseconds limit = 10s) {
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
        failure = e;
        finished = true;
    });
    const auto started = std::chrono::steady_clock::now();
    io.run_for(limit);
    if (failure) std::rethrow_exception(failure);
    REQUIRE(finished);
    CHECK(io.stopped());  // run_for() returned because no work was left, not at its limit
    CHECK(std::chrono::steady_clock::now() - started < limit / 2);
}

/// Suspend the calling coroutine for `d` (for pacing only; tests wait on events, not sleeps).
inline asio::awaitable<void> pause(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Wait until `condition()` holds, polling every millisecond; fails after `limit`.
template <class Condition>
asio::awaitable<void> eventually(Condition condition, std::chrono::milliseconds limit = 2s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() > until) FAIL("condition not reached within " << limit.count() << " ms");
        co_await pause(1ms);
    }
}

/// Completion handler for a helper coroutine co_spawned beside a test body: its
/// failure (a failed REQUIRE, say) leaves io.run() and so fails the test.
inline void rethrow_if(std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
}

/// A handler answering RESPOND_URI with the request's content and uri.
inline netaio::Message echo_reply(const netaio::Message& m) {
    return netaio::make_respond_uri_msg(m.body.content, m.body.uri);
}

/// How often the cancellation sent at a handler deadline reached stuck_handler.
inline int stuck_handler_cancellations = 0;

/// A coroutine handler that would wait an hour. Cancelled, it counts the
/// cancellation and still returns OK "too late": a reply that must never be sent.
template <class Context>
asio::awaitable<std::optional<netaio::Message>> stuck_handler(netaio::Message, Context) {
    asio::steady_timer wait(co_await asio::this_coro::executor, std::chrono::hours(1));
    auto [ec] = co_await wait.async_wait(netaio::detail::use_nothrow);
    if (ec == asio::error::operation_aborted) ++stuck_handler_cancellations;
    co_return netaio::make_ok_msg("too late");
}

}  // namespace netaio_test
