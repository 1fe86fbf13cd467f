// Loopback tests of TCPClient's lifecycle and netaio-faithful client behaviour:
// automatic reconnect with jittered backoff (RELIABILITY E10, L8), timeout handlers
// (BEHAVIOUR B64, B67, B68), close() (B69), receive_once() (B52-B54, B58), reply
// matching (B59, B63, B66), limits (G5, a full write queue) and option defaults (B48).
//
// GCC 12: never co_await inside CHECK/REQUIRE, no aggregate temporaries inside
// co_await expressions, no capturing coroutine lambdas (see test_tcp_basic.cpp).
#include "injector.hpp"
#include "loopback_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/auto_reconnect_timeout_handler.hpp>
#include <netaio/detail/reconnect_backoff.hpp>
#include <netaio/detail/reconnect_rule.hpp>
#include <netaio/detail/request_timeout.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

using namespace netaio;
using netaio_test::blocked_handler;
using netaio_test::echo_reply;
using netaio_test::eventually;
using netaio_test::frame_builder;
using netaio_test::identity;
using netaio_test::ms_since;
using netaio_test::raw_socket;
using netaio_test::request_in_background;
using netaio_test::request_msg;
using netaio_test::rethrow_if;
using netaio_test::run_loopback;
using netaio_test::test_clock;
using netaio_test::text_of;

namespace {

/// netaio_test::loopback_server(port) whose stop() waits at most 50 ms for open connections.
tcp_server_options quick_stop_server(std::uint16_t port = 0) {
    tcp_server_options o = netaio_test::loopback_server(port);
    o.stop_timeout = 50ms;
    return o;
}

/// A coroutine handler answering with `name` after `delay_ms`.
asio::awaitable<std::optional<Message>> delayed_name(Message m, tcp_connection, std::string name, int delay_ms) {
    co_await netaio_test::pause(std::chrono::milliseconds(delay_ms));
    co_return make_respond_uri_msg(name, m.body.uri);
}

/// How a background request ended (request_in_background): its error (empty:
/// answered), reply content, when.
struct outcome {
    std::optional<std::error_code> error;
    std::string content;
    test_clock::time_point ended{};
};

/// The error a request raises (empty when it was answered).
asio::awaitable<std::error_code> request_error(TCPClient& client, std::string uri, std::chrono::milliseconds timeout,
                                               MessageType type = MessageType::REQUEST_URI) {
    request_options ro;
    ro.timeout(timeout);
    try {
        Message reply = co_await client.request_as(type, uri, "", ro);
        (void)reply;
    } catch (const std::system_error& e) {
        co_return e.code();
    }
    co_return std::error_code();
}

/// request_into() of "echo"; its error (empty: answered) goes to `error`.
asio::awaitable<void> request_into_in_background(TCPClient& client, std::optional<std::error_code>& error) {
    Message reply;
    try {
        co_await client.request_into(reply, "echo", "into", request_options().timeout(2s));
        error = std::error_code();
    } catch (const std::system_error& e) {
        error = e.code();
    }
}

/// receive_once() with a deadline; its error, if any, goes to `error`.
asio::awaitable<void> receive_in_background(TCPClient& client, std::optional<std::error_code>& error) {
    try {
        std::optional<Message> m = co_await client.receive_once(std::nullopt, 2s);
        (void)m;
        error = std::error_code();
    } catch (const std::system_error& e) {
        error = e.code();
    }
}

/// A log sink keeping every line as "LEVEL text".
struct captured_log {
    std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
    logger make() const {
        return logger{log_level::debug, [l = lines](log_level level, std::string_view, std::string_view text) {
                          l->push_back(std::string(to_string(level)) + " " + std::string(text));
                      }};
    }
    std::size_t count(std::string_view prefix) const {
        std::size_t n = 0;
        for (const auto& line : *lines)
            if (line.find(prefix) != std::string::npos) ++n;
        return n;
    }
};

// A callback may keep the event: its server is a copy, not a reference into the client.
static_assert(std::is_same_v<decltype(reconnect_event::server), peer_address>);

/// A reconnect event as recorded by a test, with when it was seen.
struct seen_reconnect {
    reconnect_event_kind kind;
    std::size_t attempt;
    std::chrono::milliseconds delay;
    std::error_code error;
    test_clock::time_point at;
};

reconnect_callback record_into(std::shared_ptr<std::vector<seen_reconnect>> events) {
    return [events](const reconnect_event& e) { events->push_back({e.kind, e.attempt, e.delay, e.error, test_clock::now()}); };
}

/// The `scheduled` events, in order.
std::vector<seen_reconnect> scheduled_of(const std::vector<seen_reconnect>& events) {
    std::vector<seen_reconnect> out;
    for (const auto& e : events)
        if (e.kind == reconnect_event_kind::scheduled) out.push_back(e);
    return out;
}

/// connect() to the default server beside the test body; how it ended goes to `error`
/// (empty: connected). The client is not touched once connect() has been called.
asio::awaitable<void> connect_in_background(TCPClient& client, std::optional<std::error_code>& error) {
    asio::awaitable<void> connecting = client.connect();
    try {
        co_await std::move(connecting);
        error = std::error_code();
    } catch (const std::system_error& e) {
        error = e.code();
    }
}

/// Plays a server that answers every connection with a frame of an unknown message
/// type (a fatal decode error for the client) and leaves it open: the client closes it.
/// Ends, setting `done`, once the acceptor is closed.
asio::awaitable<void> answer_with_bad_frames(asio::ip::tcp::acceptor& acceptor, std::vector<asio::ip::tcp::socket>& kept,
                                             bool& done) {
    const bytes bad = frame_builder(make_ok_msg("x", "push")).type(99).build();
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(detail::use_nothrow);
        if (ec) break;
        auto [wec, n] = co_await asio::async_write(socket, asio::buffer(bad), detail::use_nothrow);
        (void)wec;
        (void)n;
        kept.push_back(std::move(socket));
    }
    done = true;
}

std::size_t count_kind(const std::vector<seen_reconnect>& events, reconnect_event_kind kind) {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == kind ? 1 : 0;
    return n;
}

// ---- timeout handler helpers (no capturing coroutine lambdas: plain lambdas call these) --

struct timeout_handler_log {
    std::vector<std::string> steps;
    bool cancelled = false;
};

/// Waits `d`, then records "handler done"; a cancellation is recorded and rethrown.
asio::awaitable<void> slow_timeout_handler(timeout_handler_log& log, std::chrono::milliseconds d) {
    log.steps.push_back("handler started");
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    auto [ec] = co_await t.async_wait(detail::use_nothrow);
    if (ec == asio::error::operation_aborted) {
        log.cancelled = true;
        throw std::system_error(ec);
    }
    log.steps.push_back("handler done");
}

asio::awaitable<void> throwing_timeout_handler(TCPClient&, timeout_event) {
    co_await netaio_test::pause(1ms);
    throw std::runtime_error("boom");
}

/// What close_and_reconnect did.
struct reconnect_trace {
    bool closed = false;
    bool reconnected = false;
    std::optional<std::size_t> others_cancelled;
};

/// The natural netaio timeout handler: close the silent connection, connect again,
/// then cancel any other handler task, all through the handle it was given (none of
/// which may cancel or wait for the handler itself).
asio::awaitable<void> close_and_reconnect(TCPClient& client, timeout_event ev, reconnect_trace& trace) {
    client.close(ev.server);
    trace.closed = true;
    co_await client.connect(ev.server.host, ev.server.port, 2s);
    trace.reconnected = true;
    const std::size_t others = co_await client.cancel_timeout_handler_tasks();
    trace.others_cancelled = others;
}

/// An on_reconnect that takes `d` (the reconnect stays under way meanwhile), counting calls.
asio::awaitable<void> slow_on_reconnect(int& calls, std::chrono::milliseconds d) {
    ++calls;
    co_await netaio_test::pause(d);
}

}  // namespace

// ================================================================ automatic reconnect

TEST_CASE("tcp client: E10/L8 reconnect after the server stops and restarts on the same port - pending request fails "
          "within 100 ms, requests while down fail fast, later ones succeed, pending count back to 0, reconnect counted",
          "[tcp][client][reconnect]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto server = std::make_unique<TCPServer>(io.get_executor(), quick_stop_server());
        server->on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server->on({MessageType::REQUEST_URI, "block"}, blocked_handler);
        server->start();
        const std::uint16_t port = server->local_port();

        auto events = std::make_shared<std::vector<seen_reconnect>>();
        // tag::reconnect_options[]
        netaio::tcp_client_options options;
        options.port = port;
        options.reconnect.enabled = true;            // off by default
        options.reconnect.initial_delay = 20ms;      // ceilings 20, 40, 80, 100, 100... ms
        options.reconnect.max_delay = 100ms;
        options.reconnect.jitter = netaio::backoff_jitter::full;  // each delay uniform in [0, ceiling]
        // end::reconnect_options[]
        options.reconnect.on_event = record_into(events);
        TCPClient client(io.get_executor(), options);
        co_await client.connect();

        outcome blocked;
        asio::co_spawn(io, request_in_background(client, "block", "", 10s, blocked.error, blocked.ended, &blocked.content),
                       rethrow_if);
        co_await eventually([&] { return server->stats().handler_calls == 1; });
        CHECK(client.pending_requests() == 1);

        const auto closed_at = test_clock::now();
        server->close();
        co_await eventually([&] { return blocked.error.has_value(); }, 1s);
        CHECK(*blocked.error == errc::connection_lost);
        CHECK(std::chrono::duration<double, std::milli>(blocked.ended - closed_at).count() < 100);
        CHECK(client.pending_requests() == 0);

        // Down: the client is reconnecting, and a request fails at once (not at its timeout).
        co_await eventually([&] { return client.reconnecting(); }, 1s);
        const auto asked_at = test_clock::now();
        const std::error_code while_down = co_await request_error(client, "echo", 5s);
        CHECK(while_down == errc::not_connected);
        CHECK(ms_since(asked_at) < 50);
        co_await eventually([&] { return count_kind(*events, reconnect_event_kind::failed) >= 1; }, 2s);  // refused

        // Restart on the same port: the client comes back by itself.
        server.reset();
        TCPServer restarted(io.get_executor(), quick_stop_server(port));
        restarted.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        restarted.start();
        co_await eventually([&] { return client.stats().reconnects == 1; }, 3s);
        CHECK_FALSE(client.reconnecting());
        CHECK(client.servers() == std::vector<peer_address>{client.default_server()});
        CHECK(events->back().kind == reconnect_event_kind::reconnected);
        CHECK(count_kind(*events, reconnect_event_kind::scheduled) == count_kind(*events, reconnect_event_kind::failed) + 1);

        Message reply = co_await client.request("echo", "back", request_options().timeout(2s));
        CHECK(text_of(reply.body.content) == "back");
        CHECK(client.pending_requests() == 0);
        CHECK(restarted.stats().connections_accepted == 1);
        client.close();  // a closed client does not come back
        co_await restarted.stop();
        CHECK_FALSE(client.reconnecting());
    });
}

TEST_CASE("tcp client: B50 after an automatic reconnect the client advertises itself to the restarted server",
          "[tcp][client][reconnect][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = quick_stop_server();
        so.local_peer = identity("server");
        auto server = std::make_unique<TCPServer>(io.get_executor(), so);
        server->manage_peers_automatically();
        server->start();
        const std::uint16_t port = server->local_port();

        tcp_client_options co;
        co.port = port;
        co.local_peer = identity("client");
        co.reconnect.enabled = true;
        co.reconnect.initial_delay = 10ms;
        co.reconnect.max_delay = 50ms;
        TCPClient client(io.get_executor(), co);
        client.manage_peers_automatically();
        co_await client.connect();
        co_await eventually([&] { return server->peers().size() == 1; });

        server->close();
        co_await eventually([&] { return client.reconnecting(); }, 1s);
        server.reset();
        so.port = port;
        TCPServer restarted(io.get_executor(), so);
        restarted.manage_peers_automatically();
        restarted.start();
        co_await eventually([&] { return client.stats().reconnects == 1; }, 3s);
        co_await eventually([&] { return restarted.peers().by_id(to_bytes("client")) != nullptr; });
        co_await eventually([&] { return client.peers().by_id(to_bytes("server")) != nullptr; });
        client.close();
        co_await restarted.stop();
    });
}

TEST_CASE("tcp client: E10/L8 backoff delays lie within the jitter bounds and are waited; max_attempts ends with gave_up",
          "[tcp][client][reconnect]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto server = std::make_unique<TCPServer>(io.get_executor(), quick_stop_server());
        server->start();
        auto events = std::make_shared<std::vector<seen_reconnect>>();
        tcp_client_options co;
        co.port = server->local_port();
        co.reconnect.enabled = true;
        co.reconnect.initial_delay = 10ms;
        co.reconnect.max_delay = 40ms;
        co.reconnect.multiplier = 2.0;
        co.reconnect.jitter = backoff_jitter::full;
        co.reconnect.max_attempts = 6;
        co.reconnect.on_event = record_into(events);
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        server->close();  // nothing listens on the port any more: every attempt is refused
        server.reset();

        co_await eventually([&] { return !events->empty() && events->back().kind == reconnect_event_kind::gave_up; }, 3s);
        CHECK_FALSE(client.reconnecting());
        CHECK(client.stats().reconnects == 0);
        REQUIRE(events->size() == 13);  // 6 x (scheduled, failed), gave_up
        for (std::size_t n = 1; n <= 6; ++n) {
            const seen_reconnect& scheduled = (*events)[2 * (n - 1)];
            const seen_reconnect& failed = (*events)[2 * (n - 1) + 1];
            INFO("attempt " << n);
            CHECK(scheduled.kind == reconnect_event_kind::scheduled);
            CHECK(failed.kind == reconnect_event_kind::failed);
            CHECK(scheduled.attempt == n);
            CHECK(failed.attempt == n);
            const auto [low, high] = detail::backoff_bounds(co.reconnect, n);
            CHECK(low == 0ms);
            CHECK(high == std::min<std::chrono::milliseconds>(40ms, 10ms * (1 << (n - 1))));
            CHECK(scheduled.delay >= low);
            CHECK(scheduled.delay <= high);
            // The delay was waited before the attempt (a refused connect is immediate).
            CHECK(failed.at - scheduled.at >= scheduled.delay);
            CHECK(failed.error == asio::error::connection_refused);
        }
        CHECK(events->back().attempt == 6);
    });
}

TEST_CASE("tcp client: reconnect backoff (E10, L8) - ceilings, jitter bounds, injected random source, option checks",
          "[tcp][client][reconnect]") {
    reconnect_options o;
    o.enabled = true;
    o.initial_delay = 100ms;
    o.max_delay = 5s;
    // Ceilings: 100 ms doubling up to 5 s.
    CHECK(detail::backoff_ceiling(o, 1) == 100ms);
    CHECK(detail::backoff_ceiling(o, 2) == 200ms);
    CHECK(detail::backoff_ceiling(o, 6) == 3200ms);
    CHECK(detail::backoff_ceiling(o, 7) == 5s);
    CHECK(detail::backoff_ceiling(o, 1000) == 5s);

    // An injected source picks the extremes exactly.
    o.random.uniform = [](std::uint32_t, std::uint32_t high) { return high; };
    CHECK(detail::backoff_delay(o, 3) == 400ms);
    o.jitter = backoff_jitter::equal;
    o.random.uniform = [](std::uint32_t low, std::uint32_t) { return low; };
    CHECK(detail::backoff_delay(o, 3) == 200ms);
    CHECK(detail::backoff_delay(o, 1) == 50ms);
    o.jitter = backoff_jitter::none;
    CHECK(detail::backoff_delay(o, 2) == 200ms);

    // The default source (libsodium) stays within the bounds and spreads over them.
    o.random = random_source{};
    for (backoff_jitter j : {backoff_jitter::full, backoff_jitter::equal}) {
        o.jitter = j;
        const auto [low, high] = detail::backoff_bounds(o, 4);  // ceiling 800 ms
        CHECK(high == 800ms);
        CHECK(low == (j == backoff_jitter::full ? 0ms : 400ms));
        bool lower_half = false, upper_half = false;
        for (int i = 0; i < 200; ++i) {
            const auto d = detail::backoff_delay(o, 4);
            REQUIRE(d >= low);
            REQUIRE(d <= high);
            (d < low + (high - low) / 2 ? lower_half : upper_half) = true;
        }
        CHECK(lower_half);
        CHECK(upper_half);
    }

    // Settings that cannot make a backoff are refused when the client is built.
    asio::io_context io;
    for (int bad = 0; bad < 5; ++bad) {
        tcp_client_options co;
        co.reconnect.enabled = true;
        if (bad == 0) co.reconnect.multiplier = 0.5;
        if (bad == 1) co.reconnect.max_delay = 10ms;  // below initial_delay
        if (bad == 2) co.reconnect.initial_delay = -1ms;
        if (bad == 3) co.reconnect.initial_delay = 0ms;  // every delay 0: attempts back to back
        if (bad == 4) co.reconnect.stable_after = -1ms;
        std::error_code ec;
        try {
            TCPClient client(io.get_executor(), co);
        } catch (const netaio::error& e) {
            ec = e.code();
        }
        CHECK(ec == errc::bad_option);
    }
}

TEST_CASE("tcp client: E10 close() and the client's destruction stop reconnecting; nothing keeps io_context::run() busy",
          "[tcp][client][reconnect]") {
    asio::io_context io;
    auto server = std::make_unique<TCPServer>(io.get_executor(), quick_stop_server());
    server->start();
    auto events = std::make_shared<std::vector<seen_reconnect>>();
    tcp_client_options co;
    co.port = server->local_port();
    co.reconnect.enabled = true;
    co.reconnect.initial_delay = 30ms;
    co.reconnect.max_delay = 30ms;
    co.reconnect.jitter = backoff_jitter::none;
    co.reconnect.on_event = record_into(events);
    TCPClient closed(io.get_executor(), co);
    auto destroyed = std::make_unique<TCPClient>(io.get_executor(), co);
    netaio_test::require_runs_out_of_work(
        io,
        [](TCPClient& c, std::unique_ptr<TCPClient>& d, std::unique_ptr<TCPServer>& s,
           std::shared_ptr<std::vector<seen_reconnect>> seen) -> asio::awaitable<void> {
            co_await c.connect();
            co_await d->connect();
            s->close();
            // Both are reconnecting, with attempts refused every 30 ms.
            co_await eventually([&] { return count_kind(*seen, reconnect_event_kind::failed) >= 4; }, 2s);
            CHECK(c.reconnecting());
            CHECK(d->reconnecting());
            c.close();  // stops at once, even during the backoff wait
            CHECK_FALSE(c.reconnecting());
            d.reset();
        }(closed, destroyed, server, events));
    // Nothing was scheduled after the run ended: io ran out of work.
    CHECK(count_kind(*events, reconnect_event_kind::reconnected) == 0);
    CHECK(count_kind(*events, reconnect_event_kind::gave_up) == 0);
}

TEST_CASE("tcp client: reconnect backoff (E10) - initial_delay 0 refused, max_delay = milliseconds::max() never "
          "overflows, each delay computed in O(1)",
          "[tcp][client][reconnect]") {
    using ms = std::chrono::milliseconds;
    reconnect_options o;
    o.enabled = true;
    o.initial_delay = 0ms;
    const std::error_code zero = netaio_test::error_of([&] { detail::validate(o); });
    CHECK(zero == errc::bad_option);

    // "No cap": the ceiling grows exactly while it fits, then is max_delay itself
    // (never a double at 2^63 converted back to an integer, which went negative).
    o.initial_delay = 100ms;
    o.max_delay = ms::max();
    CHECK_NOTHROW(detail::validate(o));
    CHECK(detail::backoff_ceiling(o, 50) == ms(100LL << 49));
    for (std::size_t attempt : {std::size_t(58), std::size_t(64), std::size_t(100), std::size_t(1) << 40,
                                std::numeric_limits<std::size_t>::max()}) {
        INFO("attempt " << attempt);
        CHECK(detail::backoff_ceiling(o, attempt) == ms::max());
    }
    o.jitter = backoff_jitter::none;
    CHECK(detail::backoff_delay(o, 100) == ms::max());
    o.jitter = backoff_jitter::equal;
    CHECK(detail::backoff_delay(o, 100) >= ms::max() - ms::max() / 2);
    o.jitter = backoff_jitter::full;
    CHECK(detail::backoff_delay(o, 100) >= 0ms);
    CHECK(detail::timer_safe(ms::max()) == std::chrono::hours(24 * 365 * 100));  // what the timer waits
    CHECK(detail::timer_safe(250ms) == 250ms);

    // O(1): with multiplier 1 the ceiling never reaches the cap; a loop over the
    // attempts would take billions of steps here.
    o.multiplier = 1.0;
    o.max_delay = 5s;
    const auto started = test_clock::now();
    CHECK(detail::backoff_ceiling(o, std::size_t(1) << 32) == 100ms);
    CHECK(detail::backoff_ceiling(o, std::numeric_limits<std::size_t>::max()) == 100ms);
    CHECK(ms_since(started) < 50);
}

TEST_CASE("tcp client: the reconnect rule by close reason - none after the client's own idle timeout, protocol errors "
          "never prove a connection, other losses reconnect",
          "[tcp][client][reconnect]") {
    using detail::after_loss;
    CHECK(detail::reconnect_rule(errc::idle_timeout) == after_loss::stay_closed);
    CHECK(detail::reconnect_rule(errc::stopped) == after_loss::stay_closed);
    for (errc e : {errc::frame_too_large, errc::body_too_large, errc::unknown_message_type, errc::malformed_body,
                   errc::malformed_auth, errc::decoder_failed, errc::packify_truncated, errc::frame_timeout}) {
        INFO(make_error_code(e).message());
        CHECK(detail::reconnect_rule(e) == after_loss::reconnect_unproven);
    }
    for (errc e : {errc::connection_lost, errc::connection_reset, errc::eof_mid_frame, errc::write_timeout}) {
        INFO(make_error_code(e).message());
        CHECK(detail::reconnect_rule(e) == after_loss::reconnect);
    }
}

TEST_CASE("tcp client: E10/L8 against a server that accepts and closes at once (max_connections = 0) the backoff keeps "
          "growing across losses: few attempts, ever longer delays",
          "[tcp][client][reconnect]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = quick_stop_server();
        so.max_connections = 0;  // every connection accepted, then closed at once (over_capacity)
        TCPServer full(io.get_executor(), so);
        full.start();
        auto events = std::make_shared<std::vector<seen_reconnect>>();
        tcp_client_options co;
        co.port = full.local_port();
        co.reconnect.enabled = true;
        co.reconnect.initial_delay = 10ms;
        co.reconnect.max_delay = 10s;
        co.reconnect.jitter = backoff_jitter::none;  // delays 10, 20, 40, 80, 160 ms...
        co.reconnect.on_event = record_into(events);
        TCPClient client(io.get_executor(), co);
        const auto started = test_clock::now();
        co_await client.connect();  // the TCP handshake succeeds; the server closes at once

        co_await eventually([&] { return count_kind(*events, reconnect_event_kind::reconnected) >= 5; }, 3s);
        const std::vector<seen_reconnect> scheduled = scheduled_of(*events);
        REQUIRE(scheduled.size() >= 5);
        for (std::size_t i = 0; i < scheduled.size(); ++i) {
            INFO("scheduled #" << i);
            CHECK(scheduled[i].attempt == i + 1);  // counted on across losses, not 1 after each
            CHECK(scheduled[i].delay == 10ms * (1 << i));
            if (i > 0) CHECK(scheduled[i].at - scheduled[i - 1].at >= scheduled[i - 1].delay);
        }
        // Bounded: 10 + 20 + 40 + 80 ms of waits before the fifth attempt; attempts every
        // ~10 ms would have made dozens in the same time.
        CHECK(ms_since(started) >= 150);
        CHECK(full.stats().count(errc::over_capacity) <= scheduled.size() + 1);
        client.close();
        CHECK_FALSE(client.reconnecting());
        co_await full.stop();
    });
}

TEST_CASE("tcp client: E10 a connection closed for a protocol error is reconnected, but never counts as proven: the "
          "backoff grows even with stable_after = 0",
          "[tcp][client][reconnect]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        std::vector<asio::ip::tcp::socket> kept;
        bool serving_done = false;
        asio::co_spawn(io, answer_with_bad_frames(acceptor, kept, serving_done), rethrow_if);
        auto events = std::make_shared<std::vector<seen_reconnect>>();
        tcp_client_options co;
        co.port = acceptor.local_endpoint().port();
        co.reconnect.enabled = true;
        co.reconnect.initial_delay = 10ms;
        co.reconnect.max_delay = 10s;
        co.reconnect.jitter = backoff_jitter::none;
        co.reconnect.stable_after = 0ms;  // any connection lost for another reason would start the backoff over
        co.reconnect.on_event = record_into(events);
        TCPClient client(io.get_executor(), co);
        co_await client.connect();

        co_await eventually([&] { return count_kind(*events, reconnect_event_kind::reconnected) >= 3; }, 3s);
        const std::vector<seen_reconnect> scheduled = scheduled_of(*events);
        for (std::size_t i = 0; i < scheduled.size(); ++i) {
            INFO("scheduled #" << i);
            CHECK(scheduled[i].attempt == i + 1);
            CHECK(scheduled[i].delay == 10ms * (1 << i));
        }
        CHECK(client.stats().count(errc::unknown_message_type) >= 3);
        client.close();
        acceptor.close();
        co_await eventually([&] { return serving_done; });
    });
}

TEST_CASE("tcp client: E10 no automatic reconnect after the client closes an idle connection itself (idle_timeout)",
          "[tcp][client][reconnect]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());  // sends nothing
        server.start();
        captured_log log;
        auto events = std::make_shared<std::vector<seen_reconnect>>();
        tcp_client_options co;
        co.port = server.local_port();
        co.log = log.make();
        co.connection.idle_timeout = 100ms;
        co.reconnect.enabled = true;
        co.reconnect.initial_delay = 10ms;
        co.reconnect.max_delay = 20ms;
        co.reconnect.on_event = record_into(events);
        TCPClient client(io.get_executor(), co);
        co_await client.connect();

        co_await eventually([&] { return client.stats().connections_closed == 1; }, 2s);
        CHECK(client.stats().count(errc::idle_timeout) == 1);
        CHECK_FALSE(client.reconnecting());
        co_await netaio_test::pause(60ms);  // a reconnect would have been made by now (delays <= 20 ms)
        CHECK(events->empty());
        CHECK(client.stats().reconnects == 0);
        CHECK(server.stats().connections_accepted == 1);
        CHECK(log.count("INFO not reconnecting to 127.0.0.1:") == 1);
        const std::error_code after = co_await request_error(client, "echo", 1s);
        CHECK(after == errc::not_connected);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: close(), close_all() and the client's destruction abort a connect() in flight: it raises "
          "stopped, no connection appears, nothing keeps io_context::run() busy",
          "[tcp][client][reconnect]") {
    asio::io_context io;
    netaio_test::unanswering_listener silent(io);
    silent.fill();  // every connect() now waits for an answer that does not come
    tcp_client_options co;
    co.port = silent.port();
    co.connect_timeout = 5s;
    TCPClient closed(io.get_executor(), co);
    TCPClient closed_all(io.get_executor(), co);
    auto destroyed = std::make_unique<TCPClient>(io.get_executor(), co);
    std::vector<std::optional<std::error_code>> outcomes(3);
    netaio_test::require_runs_out_of_work(
        io,
        [](TCPClient& c, TCPClient& all, std::unique_ptr<TCPClient>& d,
           std::vector<std::optional<std::error_code>>& out) -> asio::awaitable<void> {
            const asio::any_io_executor ex = co_await asio::this_coro::executor;
            asio::co_spawn(ex, connect_in_background(c, out[0]), rethrow_if);
            asio::co_spawn(ex, connect_in_background(all, out[1]), rethrow_if);
            asio::co_spawn(ex, connect_in_background(*d, out[2]), rethrow_if);
            co_await netaio_test::pause(100ms);
            for (const auto& o : out) CHECK_FALSE(o.has_value());  // all three still in flight

            c.close();  // a server with only a connect() in flight: aborted, not not_connected
            all.close_all();
            d.reset();
            co_await eventually([&] { return out[0] && out[1] && out[2]; }, 1s);
            for (const auto& o : out) CHECK(*o == errc::stopped);
            CHECK(c.servers().empty());
            CHECK(all.servers().empty());
            const std::error_code after = co_await request_error(all, "echo", 1s);
            CHECK(after == errc::not_connected);
        }(closed, closed_all, destroyed, outcomes));
}

TEST_CASE("tcp client: close_all() aborts the connect() of an auto_reconnect_timeout_handler in flight: the handler "
          "ends, no connection appears, nothing keeps io_context::run() busy",
          "[tcp][client][timeout]") {
    asio::io_context io;
    netaio_test::unanswering_listener silent(io);
    captured_log log;
    tcp_client_options co;
    co.port = silent.port();
    co.log = log.make();
    co.timeout_error_handler = auto_reconnect_timeout_handler({.connect_timeout = 5s, .max_retries = 3, .delay = 20ms});
    TCPClient client(io.get_executor(), co);
    netaio_test::require_runs_out_of_work(
        io,
        [](TCPClient& c, netaio_test::unanswering_listener& l) -> asio::awaitable<void> {
            co_await c.connect();  // the one place in the accept queue...
            const asio::ip::tcp::socket server_side = l.accept_queued();  // ...taken: a silent server
            l.fill();              // the handler's connect() will get no answer
            const std::error_code ec = co_await request_error(c, "never", 30ms);
            CHECK(ec == errc::timed_out);
            co_await eventually([&] { return c.timeout_handler_tasks() == 1; });
            co_await netaio_test::pause(100ms);  // the handler's connect() is in flight
            CHECK(c.timeout_handler_tasks() == 1);
            c.close_all();
            co_await eventually([&] { return c.timeout_handler_tasks() == 0; }, 1s);
            CHECK(c.servers().empty());
        }(client, silent));
    CHECK(log.count("reconnected to") == 0);
}

// ============================================================================ receive_once

TEST_CASE("tcp client: B52 receive_once raises connection_lost when the server closes, waiting or afterwards",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        TCPClient client(io.get_executor(), {.port = acceptor.local_endpoint().port()});
        co_await client.connect();
        raw_socket fake(io.get_executor());
        co_await fake.accept(acceptor);

        std::optional<std::error_code> waiting;
        asio::co_spawn(io, receive_in_background(client, waiting), rethrow_if);
        co_await netaio_test::pause(20ms);  // let it start waiting
        CHECK_FALSE(waiting.has_value());
        fake.close();
        co_await eventually([&] { return waiting.has_value(); }, 1s);
        CHECK(*waiting == errc::connection_lost);

        std::optional<std::error_code> afterwards;
        co_await receive_in_background(client, afterwards);
        CHECK(afterwards == errc::connection_lost);
    });
}

TEST_CASE("tcp client: B53 a frame with a bad checksum is discarded silently by the client (counted), the next is delivered",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        TCPClient client(io.get_executor(), {.port = acceptor.local_endpoint().port()});
        co_await client.connect();
        raw_socket fake(io.get_executor());
        co_await fake.accept(acceptor);

        frame_builder corrupted(make_ok_msg("corrupted", "push"));
        corrupted.checksum(corrupted.header().checksum ^ 1);
        const bytes bad_frame = corrupted.build();
        std::error_code wec = co_await fake.write(bad_frame);
        CHECK_FALSE(wec);
        wec = co_await fake.write(make_ok_msg("fine", "push").encode());
        CHECK_FALSE(wec);

        std::optional<Message> m = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(m);
        CHECK(text_of(m->body.content) == "fine");
        CHECK(client.stats().count(errc::checksum_mismatch) == 1);
        // Silently: nothing went back to the server, and the connection lives.
        const bool got_bytes = co_await fake.read_some_for(50ms);
        CHECK_FALSE(got_bytes);
        CHECK(client.stats().frames_sent == 0);
        CHECK(client.servers().size() == 1);
    });
}

namespace {
asio::awaitable<std::optional<Message>> async_client_handler(Message m, peer_address) {
    co_await netaio_test::pause(5ms);
    co_return make_ok_msg("async handled " + text_of(m.body.content), m.body.uri);
}
}  // namespace

TEST_CASE("tcp client: B54 a client handler's Message (plain or coroutine) goes to receive_once, never to the server; "
          "a handler returning nothing consumes the message",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        TCPClient client(io.get_executor(), {.port = acceptor.local_endpoint().port()});
        int quiet_calls = 0;
        client.on({MessageType::NOTIFY_URI, "quiet"}, [&quiet_calls](const Message&) { ++quiet_calls; });
        client.on({MessageType::NOTIFY_URI, "sync"},
                  [](const Message& m) { return make_ok_msg("sync handled " + text_of(m.body.content), m.body.uri); });
        client.on({MessageType::NOTIFY_URI, "async"}, async_client_handler);
        co_await client.connect();
        raw_socket fake(io.get_executor());
        co_await fake.accept(acceptor);
        const std::vector<std::string> uris{"quiet", "sync", "async", "other"};
        for (const std::string& uri : uris) {
            const bytes frame = request_msg(uri, "x", MessageType::NOTIFY_URI).encode();
            const std::error_code wec = co_await fake.write(frame);
            CHECK_FALSE(wec);
        }
        std::optional<Message> first = co_await client.receive_once(std::nullopt, 2s);
        std::optional<Message> second = co_await client.receive_once(std::nullopt, 2s);
        std::optional<Message> third = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(first);
        REQUIRE(second);
        REQUIRE(third);
        CHECK(first->type() == MessageType::OK);
        CHECK(text_of(first->body.content) == "sync handled x");
        CHECK(text_of(second->body.content) == "async handled x");
        CHECK(third->type() == MessageType::NOTIFY_URI);  // no handler: the message itself
        CHECK(text_of(third->body.uri) == "other");
        CHECK(quiet_calls == 1);
        const bool got_bytes = co_await fake.read_some_for(50ms);
        CHECK_FALSE(got_bytes);  // B57: nothing is sent back
        CHECK(client.stats().frames_sent == 0);
    });
}

TEST_CASE("tcp client: B58 a custom auth-error handler's result reaches receive_once and nothing is sent; a reply "
          "failing the request's own plugins fails that request",
          "[tcp][client][auth]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        hmac_auth_options ho;
        ho.secret = to_bytes("client-lifecycle-secret-0123456789");
        // Outer auth on the client; the fake server sends unsigned frames.
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        tcp_client_options co;
        co.port = acceptor.local_endpoint().port();
        co.auth_plugin = HMACAuthPlugin(ho);
        std::vector<std::string> failed_uris;
        co.on_auth_error = [&failed_uris](const any_auth_plugin&, const Message& received) -> std::optional<Message> {
            failed_uris.push_back(text_of(received.body.uri));
            return make_error_msg("rejected " + text_of(received.body.uri), "local");
        };
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        raw_socket fake(io.get_executor());
        co_await fake.accept(acceptor);
        const std::error_code wec = co_await fake.write(make_ok_msg("unsigned", "push").encode());
        CHECK_FALSE(wec);
        std::optional<Message> m = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(m);
        CHECK(m->type() == MessageType::ERROR);
        CHECK(text_of(m->body.content) == "rejected push");
        CHECK(failed_uris == std::vector<std::string>{"push"});
        const bool got_bytes = co_await fake.read_some_for(50ms);
        CHECK_FALSE(got_bytes);
        CHECK(client.stats().frames_sent == 0);

        // A request's own (inner) plugins: the server's unsigned reply fails them, and the
        // request raises the auth error (netaio would hand the handler's result to
        // receive_once instead; nothing is sent either way).
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient plain(io.get_executor(), {.port = server.local_port()});
        co_await plain.connect();
        handler_plugins inner;
        inner.auth = HMACAuthPlugin(ho);
        request_options ro;
        ro.plugins(inner).timeout(2s);
        std::error_code ec;
        try {
            (void)co_await plain.request("echo", "signed", ro);
        } catch (const netaio::error& e) {
            ec = e.code();
        }
        CHECK(ec == errc::missing_auth_field);
        CHECK(plain.stats().count(errc::missing_auth_field) == 1);
        CHECK(plain.pending_requests() == 0);
        co_await eventually([&] { return plain.stats().frames_sent == 1; });  // the request only
        co_await server.stop();
    });
}

// ======================================================================= reply matching

TEST_CASE("tcp client: B59 AUTH_ERROR and ERROR with the request's uri complete it; NOT_FOUND completes UPDATE but not CREATE",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "guarded"},
                  [](const Message& m) { return Message::prepare(Body::prepare("denied", m.body.uri), MessageType::AUTH_ERROR); });
        server.on({MessageType::REQUEST_URI, "broken"}, [](const Message& m) { return make_error_msg("failed", m.body.uri); });
        server.on({MessageType::CREATE_URI, "thing"}, [](const Message& m) { return make_not_found_msg("nope", m.body.uri); });
        server.on({MessageType::UPDATE_URI, "thing"}, [](const Message& m) { return make_not_found_msg("nope", m.body.uri); });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();

        Message guarded = co_await client.request("guarded", "", request_options().timeout(2s));
        CHECK(guarded.type() == MessageType::AUTH_ERROR);
        CHECK(text_of(guarded.body.content) == "denied");
        Message broken = co_await client.request("broken", "", request_options().timeout(2s));
        CHECK(broken.type() == MessageType::ERROR);
        Message updated = co_await client.update("thing", "v", request_options().timeout(2s));
        CHECK(updated.type() == MessageType::NOT_FOUND);

        const std::error_code created = co_await request_error(client, "thing", 150ms, MessageType::CREATE_URI);
        CHECK(created == errc::timed_out);
        std::optional<Message> stray = co_await client.receive_once(std::nullopt, 2s);  // the unmatched NOT_FOUND
        REQUIRE(stray);
        CHECK(stray->type() == MessageType::NOT_FOUND);
        CHECK(text_of(stray->body.uri) == "thing");
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B63 NOT_PERMITTED and CONFIRM_* replies never complete a request (they reach receive_once)",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "forbidden"},
                  [](const Message& m) { return make_not_permitted_msg("no", m.body.uri); });
        server.on({MessageType::REQUEST_URI, "confirm"}, [](const Message& m) {
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_SUBSCRIBE);
        });
        server.on({MessageType::REQUEST_URI, "unconfirm"}, [](const Message& m) {
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_UNSUBSCRIBE);
        });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        const std::vector<std::pair<std::string, MessageType>> cases{{"forbidden", MessageType::NOT_PERMITTED},
                                                                     {"confirm", MessageType::CONFIRM_SUBSCRIBE},
                                                                     {"unconfirm", MessageType::CONFIRM_UNSUBSCRIBE}};
        for (const auto& [uri, type] : cases) {
            const std::error_code ec = co_await request_error(client, uri, 100ms);
            CHECK(ec == errc::timed_out);
            std::optional<Message> stray = co_await client.receive_once(std::nullopt, 2s);
            REQUIRE(stray);
            CHECK(stray->type() == type);
            CHECK(text_of(stray->body.uri) == uri);
        }
        CHECK(client.stats().count(errc::timed_out) == 3);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B66 create, update and delete_ round trips against a small key-value server", "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        std::map<std::string, std::string> store;
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on(MessageType::CREATE_URI, [&store](const Message& m) {
            store[text_of(m.body.uri)] = text_of(m.body.content);
            return make_ok_msg("created", m.body.uri);
        });
        server.on(MessageType::UPDATE_URI, [&store](const Message& m) {
            auto it = store.find(text_of(m.body.uri));
            if (it == store.end()) return make_not_found_msg("no such key", m.body.uri);
            it->second = text_of(m.body.content);
            return make_ok_msg("updated", m.body.uri);
        });
        server.on(MessageType::DELETE_URI, [&store](const Message& m) {
            if (store.erase(text_of(m.body.uri)) == 0) return make_not_found_msg("no such key", m.body.uri);
            return make_ok_msg("deleted", m.body.uri);
        });
        server.on(MessageType::REQUEST_URI, [&store](const Message& m) {
            auto it = store.find(text_of(m.body.uri));
            if (it == store.end()) return make_not_found_msg("no such key", m.body.uri);
            return make_respond_uri_msg(it->second, m.body.uri);
        });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();

        Message created = co_await client.create("color", "red");
        CHECK(created.type() == MessageType::OK);
        CHECK(text_of(created.body.content) == "created");
        Message read = co_await client.request("color");
        CHECK(text_of(read.body.content) == "red");
        Message updated = co_await client.update("color", "blue");
        CHECK(text_of(updated.body.content) == "updated");
        CHECK(store["color"] == "blue");
        Message missing = co_await client.update("size", "xl");
        CHECK(missing.type() == MessageType::NOT_FOUND);
        Message deleted = co_await client.delete_("color");
        CHECK(deleted.type() == MessageType::OK);
        CHECK(store.empty());
        Message gone = co_await client.delete_("color");
        CHECK(gone.type() == MessageType::NOT_FOUND);
        Message unread = co_await client.request("color");
        CHECK(unread.type() == MessageType::NOT_FOUND);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: the same uri requested concurrently on two servers is matched per server (B59, B63)",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        // Server A answers after 80 ms, B after 10 ms: B's reply arrives first.
        TCPServer a(io.get_executor(), quick_stop_server());
        a.on({MessageType::REQUEST_URI, "who"},
             [](Message m, tcp_connection c) { return delayed_name(std::move(m), std::move(c), "A", 80); });
        a.start();
        TCPServer b(io.get_executor(), quick_stop_server());
        b.on({MessageType::REQUEST_URI, "who"},
             [](Message m, tcp_connection c) { return delayed_name(std::move(m), std::move(c), "B", 10); });
        b.start();
        TCPClient client(io.get_executor(), {.port = a.local_port()});
        co_await client.connect();
        co_await client.connect("127.0.0.1", b.local_port());
        const peer_address to_b("127.0.0.1", b.local_port());

        outcome from_a, from_b;
        asio::co_spawn(io, request_in_background(client, "who", "", 2s, from_a.error, from_a.ended, &from_a.content),
                       rethrow_if);
        asio::co_spawn(
            io,
            [](TCPClient& c, peer_address server, outcome& out) -> asio::awaitable<void> {
                Message reply = co_await c.request("who", "", request_options().to(server).timeout(2s));
                out.content = text_of(reply.body.content);
                out.error = std::error_code();
                out.ended = test_clock::now();
            }(client, to_b, from_b),
            rethrow_if);
        co_await eventually([&] { return client.pending_requests() == 1 && client.pending_requests(to_b) == 1; });
        co_await eventually([&] { return from_a.error.has_value() && from_b.error.has_value(); });
        CHECK(from_a.content == "A");
        CHECK(from_b.content == "B");
        CHECK(from_b.ended < from_a.ended);
        co_await a.stop();
        co_await b.stop();
    });
}

// ====================================================================== timeout handlers

TEST_CASE("tcp client: B64 the timeout event carries type, server, error, Python's text (non-UTF-8 uri) and context; "
          "a plain handler runs before the request raises",
          "[tcp][client][timeout]") {
    // Python formats the seconds as a float: 0.2 -> "0.2", 10.0 -> "10.0".
    CHECK(detail::python_float_seconds(200ms) == "0.2");
    CHECK(detail::python_float_seconds(10s) == "10.0");
    CHECK(detail::python_float_seconds(1500ms) == "1.5");
    CHECK(detail::python_float_seconds(1ms) == "0.001");
    CHECK(detail::python_float_seconds(0ms) == "0.0");
    CHECK(detail::request_timeout_text(to_bytes("x"), 10s) == "Request for URI x timed out after 10.0s");
    // errors='replace': one U+FFFD per invalid byte or cut-short sequence.
    CHECK(detail::utf8_replacing_invalid(from_hex("e282")) == "\xEF\xBF\xBD");
    CHECK(detail::utf8_replacing_invalid(from_hex("e28241")) == "\xEF\xBF\xBD" "A");
    CHECK(detail::utf8_replacing_invalid(from_hex("e080")) == "\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(detail::utf8_replacing_invalid(from_hex("f09f9880")) == "\xF0\x9F\x98\x80");

    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());  // unknown uris: NOT_FOUND "" (never matches)
        server.start();
        std::vector<timeout_event> seen;
        bool client_form_ok = false;
        tcp_client_options co;
        co.port = server.local_port();
        co.timeout_error_handler = [&seen](const timeout_event& e) { seen.push_back(e); };
        TCPClient client(io.get_executor(), co);
        co_await client.connect();

        const bytes uri = from_hex("636166c3a9ff");  // "café" then an invalid byte
        const std::string expected = "Request for URI caf\xC3\xA9\xEF\xBF\xBD timed out after 0.2s";
        std::string what;
        std::size_t seen_when_raised = 0;
        try {
            (void)co_await client.request(uri, "", request_options().timeout(200ms));
        } catch (const netaio::error& e) {
            CHECK(e.code() == errc::timed_out);
            what = e.what();
            seen_when_raised = seen.size();
        }
        CHECK(seen_when_raised == 1);  // the handler ran first
        CHECK(what.find(expected) != std::string::npos);
        REQUIRE(seen.size() == 1);
        const timeout_event& e = seen.front();
        CHECK(e.timeout_type == "request_timeout");
        CHECK(e.server == client.default_server());
        CHECK(e.error == errc::timed_out);
        CHECK(e.message == expected);
        CHECK(e.context.uri == uri);
        CHECK(e.context.timeout == 200ms);
        CHECK(e.context.server == client.default_server());
        CHECK(e.context.response_types ==
              std::vector<MessageType>{MessageType::AUTH_ERROR, MessageType::ERROR, MessageType::RESPOND_URI, MessageType::NOT_FOUND});

        // The form taking the client: a handle to the same client.
        client.set_timeout_handler([&client_form_ok](TCPClient& c, const timeout_event& ev) {
            client_form_ok = ev.context.response_types ==
                                 std::vector<MessageType>{MessageType::AUTH_ERROR, MessageType::ERROR, MessageType::OK} &&
                             c.default_server() == ev.server && c.pending_requests() == 0;
        });
        const std::error_code ec = co_await request_error(client, "x", 50ms, MessageType::CREATE_URI);
        CHECK(ec == errc::timed_out);
        CHECK(client_form_ok);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B67 a coroutine timeout handler runs in the background (the request raises first); "
          "cancel_timeout_handler_tasks() cancels and awaits; its exceptions are logged",
          "[tcp][client][timeout]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.start();
        captured_log log;
        tcp_client_options co;
        co.port = server.local_port();
        co.log = log.make();
        TCPClient client(io.get_executor(), co);
        co_await client.connect();

        // tag::coroutine_timeout_handler[]
        timeout_handler_log record;
        client.set_timeout_handler([&record](netaio::TCPClient&, netaio::timeout_event) {
            return slow_timeout_handler(record, 100ms);  // a coroutine: started in the background
        });
        // end::coroutine_timeout_handler[]
        const auto started = test_clock::now();
        const std::error_code ec = co_await request_error(client, "never", 50ms);
        CHECK(ec == errc::timed_out);
        CHECK(ms_since(started) < 140);  // raised at its timeout, not after the handler
        record.steps.push_back("raised");
        CHECK(client.timeout_handler_tasks() == 1);
        co_await eventually([&] { return client.timeout_handler_tasks() == 0; });
        CHECK(record.steps == std::vector<std::string>{"raised", "handler started", "handler done"});

        // Cancelled while waiting: the handler sees the cancellation, and the call waits for it.
        timeout_handler_log forever;
        client.set_timeout_handler([&forever](TCPClient&, timeout_event) { return slow_timeout_handler(forever, 1h); });
        const std::error_code again = co_await request_error(client, "never", 20ms);
        CHECK(again == errc::timed_out);
        co_await eventually([&] { return !forever.steps.empty(); });
        const std::size_t cancelled = co_await client.cancel_timeout_handler_tasks();
        CHECK(cancelled == 1);
        CHECK(client.timeout_handler_tasks() == 0);
        CHECK(forever.cancelled);
        CHECK(log.count("INFO timeout handler cancelled") == 1);

        // A handler that throws: logged as an ERROR, never lost.
        client.set_timeout_handler(throwing_timeout_handler);
        const std::error_code third = co_await request_error(client, "never", 20ms);
        CHECK(third == errc::timed_out);
        co_await eventually([&] { return log.count("ERROR timeout handler failed: boom") == 1 && client.timeout_handler_tasks() == 0; });
        const std::size_t none = co_await client.cancel_timeout_handler_tasks();
        CHECK(none == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B68 auto_reconnect_timeout_handler reconnects after a request timeout and calls on_reconnect; "
          "out of attempts it logs an ERROR and raises nothing",
          "[tcp][client][timeout]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        std::vector<std::pair<peer_address, std::size_t>> reconnects;
        // tag::auto_reconnect_timeout_handler[]
        client.set_timeout_handler(netaio::auto_reconnect_timeout_handler(
            {.connect_timeout = 1s, .max_retries = 3, .delay = 20ms},
            [&reconnects](netaio::TCPClient&, const netaio::peer_address& server, std::size_t attempt) {
                reconnects.emplace_back(server, attempt);
            }));
        // end::auto_reconnect_timeout_handler[]
        co_await client.connect();
        const std::error_code ec = co_await request_error(client, "never", 50ms);
        CHECK(ec == errc::timed_out);
        co_await eventually([&] { return !reconnects.empty(); });
        CHECK(reconnects.front().first == client.default_server());
        CHECK(reconnects.front().second == 1);
        co_await eventually([&] { return server.stats().connections_accepted == 2; });  // a new connection replaced the silent one
        Message reply = co_await client.request("echo", "after", request_options().timeout(2s));
        CHECK(text_of(reply.body.content) == "after");

        // A server that accepts once, then stops listening: every attempt is refused.
        captured_log log;
        asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        tcp_client_options co;
        co.port = acceptor.local_endpoint().port();
        co.log = log.make();
        co.timeout_error_handler = auto_reconnect_timeout_handler({.connect_timeout = 1s, .max_retries = 3, .delay = 20ms});
        TCPClient lonely(io.get_executor(), co);
        co_await lonely.connect();
        raw_socket fake(io.get_executor());
        co_await fake.accept(acceptor);
        acceptor.close();
        const std::error_code lost = co_await request_error(lonely, "never", 30ms);
        CHECK(lost == errc::timed_out);
        co_await eventually([&] { return lonely.timeout_handler_tasks() == 0; }, 2s);
        CHECK(log.count("WARNING reconnect attempt") == 3);
        CHECK(log.count("ERROR giving up reconnecting to 127.0.0.1:") == 1);
        CHECK(log.count("timeout handler failed") == 0);  // nothing raised
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B68 a coroutine timeout handler may close(server), connect() again and cancel the other tasks "
          "through its own handle: none of it cancels or waits for the handler itself",
          "[tcp][client][timeout]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        captured_log log;
        tcp_client_options co;
        co.port = server.local_port();
        co.log = log.make();
        TCPClient client(io.get_executor(), co);
        reconnect_trace trace;
        client.set_timeout_handler(
            [&trace](TCPClient& c, timeout_event ev) { return close_and_reconnect(c, std::move(ev), trace); });
        co_await client.connect();
        const std::error_code ec = co_await request_error(client, "never", 50ms);
        CHECK(ec == errc::timed_out);
        co_await eventually([&] { return trace.others_cancelled.has_value() && client.timeout_handler_tasks() == 0; });
        CHECK(trace.closed);
        CHECK(trace.reconnected);
        CHECK(*trace.others_cancelled == 0);
        CHECK(log.count("timeout handler cancelled") == 0);
        CHECK(log.count("timeout handler failed") == 0);
        CHECK(server.stats().connections_accepted == 2);
        Message reply = co_await client.request("echo", "again", request_options().timeout(2s));
        CHECK(text_of(reply.body.content) == "again");
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B68 several requests timing out together make auto_reconnect_timeout_handler reconnect once "
          "(on_reconnect called once)",
          "[tcp][client][timeout]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        int calls = 0;
        client.set_timeout_handler(auto_reconnect_timeout_handler(
            {.connect_timeout = 1s, .max_retries = 3, .delay = 20ms},
            [&calls](TCPClient&, const peer_address&, std::size_t) { return slow_on_reconnect(calls, 100ms); }));
        co_await client.connect();
        std::vector<outcome> waiting(4);
        for (auto& w : waiting)
            asio::co_spawn(io, request_in_background(client, "never", "", 50ms, w.error, w.ended, &w.content), rethrow_if);
        co_await eventually([&] {
            for (const auto& w : waiting)
                if (!w.error) return false;
            return true;
        });
        for (const auto& w : waiting) CHECK(*w.error == errc::timed_out);
        co_await eventually([&] { return calls >= 1 && client.timeout_handler_tasks() == 0; }, 2s);
        CHECK(calls == 1);
        CHECK(server.stats().connections_accepted == 2);  // the first connection and one reconnect
        CHECK(client.servers().size() == 1);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B67 a plain timeout handler may remove itself (set_timeout_handler from inside it)",
          "[tcp][client][timeout]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        auto calls = std::make_shared<int>(0);
        const std::string label = "a one-shot handler with a heap-allocated capture";
        std::string seen_label;
        client.set_timeout_handler([&client, calls, label, &seen_label](const timeout_event&) {
            client.set_timeout_handler(nullptr);  // one-shot: removes itself while running
            ++*calls;                             // then still uses its own captures
            seen_label = label;
        });
        co_await client.connect();
        const std::error_code first = co_await request_error(client, "never", 30ms);
        CHECK(first == errc::timed_out);
        CHECK(*calls == 1);
        CHECK(seen_label == label);
        const std::error_code second = co_await request_error(client, "never", 30ms);
        CHECK(second == errc::timed_out);
        CHECK(*calls == 1);  // removed
        co_await server.stop();
    });
}

// ============================================================================ close, limits

TEST_CASE("tcp client: B69 close() of a never-connected server raises not_connected; close() fails pending requests at "
          "once (after the DISCONNECT under peer management)",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = quick_stop_server();
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.manage_peers_automatically();
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("client");
        TCPClient client(io.get_executor(), co);

        std::error_code never;
        try {
            client.close();  // netaio raises here too (KeyError)
        } catch (const netaio::error& e) {
            never = e.code();
        }
        CHECK(never == errc::not_connected);

        client.manage_peers_automatically();
        co_await client.connect();
        co_await eventually([&] { return server.peers().size() == 1; });
        outcome pending;
        asio::co_spawn(io, request_in_background(client, "never", "", 10s, pending.error, pending.ended, &pending.content),
                       rethrow_if);
        co_await eventually([&] { return server.stats().handler_calls >= 1 && client.pending_requests() == 1; });
        const auto closed_at = test_clock::now();
        client.close();
        co_await eventually([&] { return pending.error.has_value(); }, 1s);
        CHECK(*pending.error == errc::connection_lost);
        CHECK(std::chrono::duration<double, std::milli>(pending.ended - closed_at).count() < 100);
        CHECK(client.pending_requests() == 0);
        co_await eventually([&] { return server.peers().empty(); });  // the DISCONNECT went first
        client.close();  // already closed: nothing to do
        const std::error_code after = co_await request_error(client, "never", 1s);
        CHECK(after == errc::not_connected);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: G5 request number max_pending_requests + 1 fails fast with too_many_pending", "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.max_pending_requests = 3;
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        std::vector<outcome> waiting(3);
        for (auto& w : waiting) asio::co_spawn(io, request_in_background(client, "never", "", 10s, w.error, w.ended, &w.content),
                                               rethrow_if);
        co_await eventually([&] { return client.pending_requests() == 3; });
        const auto asked_at = test_clock::now();
        const std::error_code ec = co_await request_error(client, "never", 10s);
        CHECK(ec == errc::too_many_pending);
        CHECK(ms_since(asked_at) < 50);
        CHECK(client.stats().count(errc::too_many_pending) == 1);
        CHECK(client.pending_requests() == 3);
        client.close();
        co_await eventually([&] { return client.pending_requests() == 0 && waiting[2].error.has_value(); });
        for (const auto& w : waiting) CHECK(w.error == errc::connection_lost);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: a request meeting a full outbound queue raises queue_full (not encrypt_failed), request_into too",
          "[tcp][client]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.connection.max_queued_messages = 2;
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        // Issued in one turn: the first is written at once, the next two wait in the
        // queue (its cap), the fourth finds it full.
        std::vector<outcome> results(4);
        for (auto& r : results) asio::co_spawn(io, request_in_background(client, "echo", "", 2s, r.error, r.ended, &r.content),
                                               rethrow_if);
        co_await eventually([&] {
            for (const auto& r : results)
                if (!r.error) return false;
            return true;
        });
        CHECK(results[0].error == std::error_code());
        CHECK(results[1].error == std::error_code());
        CHECK(results[2].error == std::error_code());
        CHECK(results[3].error == errc::queue_full);
        CHECK(client.stats().count(errc::queue_full) == 1);
        CHECK(client.stats().count(errc::encrypt_failed) == 0);

        // request_into() meets the same check.
        std::vector<outcome> more(3);
        for (auto& r : more) asio::co_spawn(io, request_in_background(client, "echo", "", 2s, r.error, r.ended, &r.content),
                                            rethrow_if);
        std::optional<std::error_code> into_error;
        asio::co_spawn(io, request_into_in_background(client, into_error), rethrow_if);
        co_await eventually([&] { return more[2].error.has_value() && into_error.has_value(); });
        CHECK(*into_error == errc::queue_full);
        CHECK(client.pending_requests() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp client: B48 option defaults (127.0.0.1:8888, request timeout 10 s, reconnect off); B49 falsy host/port "
          "mean the defaults",
          "[tcp][client]") {
    tcp_client_options o;
    CHECK(o.host == "127.0.0.1");
    CHECK(o.port == 8888);
    CHECK(o.request_timeout == 10s);
    CHECK(o.connect_timeout == 10s);
    CHECK(o.max_pending_requests == 1024);
    CHECK(o.logger_name == "netaio.client");
    CHECK_FALSE(o.timeout_error_handler);
    CHECK_FALSE(o.reconnect.enabled);
    CHECK(o.reconnect.initial_delay == 100ms);
    CHECK(o.reconnect.max_delay == 5s);
    CHECK(o.reconnect.multiplier == 2.0);
    CHECK(o.reconnect.jitter == backoff_jitter::full);
    CHECK(o.reconnect.max_attempts == 0);
    auto_reconnect_options a;
    CHECK(a.connect_timeout == 5s);
    CHECK(a.max_retries == 3);
    CHECK(a.delay == 1s);

    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPClient defaults(io.get_executor());
        CHECK(defaults.default_server() == peer_address("127.0.0.1", 8888));
        CHECK(defaults.pending_requests() == 0);
        CHECK_FALSE(defaults.reconnecting());

        TCPServer server(io.get_executor(), quick_stop_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect("", 0);
        CHECK(client.servers() == std::vector<peer_address>{client.default_server()});
        Message reply = co_await client.request("echo", "defaults");
        CHECK(text_of(reply.body.content) == "defaults");
        co_await server.stop();
    });
}
