// tests/unit/tcp_test_support.hpp - the servers, handlers, peers and background
// requests that the TCPServer / TCPClient loopback tests share: server options on
// 127.0.0.1:0 (plain, or with test-sized deadlines), the echo and slow handlers, a
// request run beside the test body, a listener that never answers, and a named peer.
//
// Handlers and background requests are coroutine functions taking their arguments by
// value or by reference to the test's locals (GCC 12: no capturing coroutine lambdas);
// spawn the background ones with netaio_test::rethrow_if as completion handler.
// Everything here is header-only and inline (several test files include it).
#pragma once

#include "loopback_support.hpp"

#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/packify.hpp>
#include <netaio/peer.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>

namespace netaio_test {

/// Server on 127.0.0.1:`port` (0: any free port) with the library's other defaults.
inline netaio::tcp_server_options loopback_server(std::uint16_t port = 0) {
    netaio::tcp_server_options o;
    o.host = "127.0.0.1";
    o.port = port;
    return o;
}

/// Server on 127.0.0.1:0 with test-sized deadlines (sweep every 50 ms).
inline netaio::tcp_server_options fast_server() {
    netaio::tcp_server_options o = loopback_server();
    o.connection.frame_timeout = 200ms;
    o.connection.idle_timeout = 5s;
    o.connection.write_timeout = 300ms;
    o.stop_timeout = 100ms;
    return o;
}

/// Route REQUEST_URI "echo" to echo_reply.
inline void add_echo(netaio::TCPServer& server) { server.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply); }

/// A coroutine handler that answers (an echo) after the number of milliseconds in its content.
inline asio::awaitable<std::optional<netaio::Message>> slow_echo(netaio::Message m, netaio::tcp_connection) {
    co_await pause(std::chrono::milliseconds(std::stoi(text_of(m.body.content))));
    co_return netaio::make_respond_uri_msg(m.body.content, m.body.uri);
}

/// A coroutine handler that never answers within a test (a latch nobody releases).
inline asio::awaitable<std::optional<netaio::Message>> blocked_handler(netaio::Message, netaio::tcp_connection) {
    co_await pause(30s);
    co_return std::nullopt;
}

/// Request `uri` with `content` and `timeout` beside the test body. How it ended is
/// recorded: `error` (an empty code when answered, set last but for `ended`), when it
/// ended, and the reply's content in `*reply_text` if given.
inline asio::awaitable<void> request_in_background(netaio::TCPClient& client, std::string uri, std::string content,
                                                   std::chrono::milliseconds timeout,
                                                   std::optional<std::error_code>& error, test_clock::time_point& ended,
                                                   std::string* reply_text = nullptr) {
    netaio::request_options ro;
    ro.timeout(timeout);
    try {
        netaio::Message reply = co_await client.request(uri, content, ro);
        if (reply_text) *reply_text = text_of(reply.body.content);
        error = std::error_code();
    } catch (const std::system_error& e) {
        error = e.code();
    }
    ended = test_clock::now();
}

/// A listener on 127.0.0.1 that stops answering connects once its accept queue is
/// full: it listens with a backlog of 0 (room for one connection), and on Linux the
/// kernel drops the SYNs that find the queue full, so a connect() then stays in
/// flight until its own timeout. Until fill(), one connection still gets through
/// (take it with accept_queued() to make room again).
struct unanswering_listener {
    explicit unanswering_listener(asio::io_context& io) : acceptor(io), filler(io) {
        acceptor.open(asio::ip::tcp::v4());
        acceptor.bind(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor.listen(0);
    }
    std::uint16_t port() const { return acceptor.local_endpoint().port(); }
    /// Take the one place in the (empty) accept queue; the handshake completes in the kernel.
    void fill() { filler.connect(acceptor.local_endpoint()); }
    /// Accept the connection waiting in the queue (there must be one: this blocks).
    asio::ip::tcp::socket accept_queued() { return acceptor.accept(); }

    asio::ip::tcp::acceptor acceptor;
    asio::ip::tcp::socket filler;
};

/// A peer with id `id` and data {"name": id}.
inline netaio::Peer identity(const std::string& id) {
    netaio::Peer p;
    p.id = netaio::to_bytes(id);
    p.data = netaio::packify::pack(netaio::packify::dict{{"name", id}});
    return p;
}

/// The netaio::errc a call throws (a default error_code when it does not throw).
template <class F>
std::error_code error_of(F&& f) {
    try {
        f();
    } catch (const netaio::error& e) {
        return e.code();
    }
    return {};
}

}  // namespace netaio_test
