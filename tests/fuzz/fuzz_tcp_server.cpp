// fuzz_tcp_server.cpp - whole-server libFuzzer harness in the libzmq style
// (RELIABILITY.md "Fuzz targets" 5): bytes fed to a live TCPServer on loopback,
// then a good client must complete a round trip (liveness).
//
// Input: byte 0 selects the server's outer layer (mode % 4): none; HMACAuthPlugin
// with secret "test" (the golden vectors' frames authenticate: the clock is
// frozen at their time), xmac verified when present; HMAC "secret" + stream
// cipher "key" (the keys of the plugin_stack vectors); HMAC "test" requiring xmac.
// The rest is written on one raw connection, which then half-closes and reads
// (discarding the replies) until the server closes it, so the server has handled
// every byte before the liveness round trip starts.
// Properties: no crash or sanitizer report; the server closes the hostile
// connection after its FIN; a TCPClient with the same layer then gets its "echo"
// reply. Each input gets a fresh io_context, server and plugins (replay caches
// included), so inputs replay identically; small limits and short deadlines
// keep a run around a millisecond.
#include <netaio/detail/asio_compat.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/message.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include "fuzz_support.hpp"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <system_error>
#include <utility>

// GCC 12 at -O1 and above reports a false -Wmismatched-new-delete at the closing
// brace of coroutines using Asio's frame allocator (see tests/unit/injector.hpp).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

using namespace netaio;
using namespace std::chrono_literals;
using netaio_fuzz::fail;
constexpr const char* target = "fuzz_tcp_server";

handler_plugins layer_for(std::uint8_t mode) {
    handler_plugins layer;
    const int kind = mode % 4;
    if (kind == 0) return layer;
    hmac_auth_options h;
    h.secret = to_bytes(kind == 2 ? "secret" : "test");
    h.min_secret_length = 0;
    h.clock = clock_source::fixed(netaio_fuzz::fuzz_time);
    h.send_xmac = true;
    h.require_xmac = kind == 3;
    layer.auth = HMACAuthPlugin(h);
    if (kind == 2) {
        sha256_stream_cipher_options c;
        c.key = to_bytes("key");
        c.min_key_length = 0;
        layer.cipher = Sha256StreamCipherPlugin(c);
    }
    return layer;
}

tcp_server_options server_options(const handler_plugins& layer) {
    tcp_server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.max_connections = 8;
    o.max_consecutive_bad_frames = 4;
    o.stop_timeout = 20ms;
    o.handler_timeout = 100ms;
    o.connection.limits.max_auth_bytes = 1024;
    o.connection.limits.max_body_bytes = 4096;
    o.connection.limits.max_frame_bytes = header_size + 1024 + 4096;
    o.connection.frame_timeout = 200ms;
    o.connection.idle_timeout = 500ms;
    o.connection.write_timeout = 200ms;
    o.connection.max_queued_messages = 64;
    o.connection.max_queued_bytes = 64u << 10;
    o.auth_plugin = layer.auth;
    o.cipher_plugin = layer.cipher;
    return o;
}

Message echo(const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); }

// Read and discard until the peer closes (true) or `limit` passes (false).
asio::awaitable<bool> drain_until_closed(asio::ip::tcp::socket& socket, std::chrono::milliseconds limit) {
    asio::steady_timer timer(socket.get_executor(), limit);
    bool timed_out = false;
    timer.async_wait([&socket, &timed_out](std::error_code ec) {
        if (ec) return;
        timed_out = true;
        std::error_code ignored;
        socket.cancel(ignored);
    });
    std::array<std::uint8_t, 4096> buffer;
    for (;;) {
        auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), detail::use_nothrow);
        (void)n;
        if (ec) break;
    }
    timer.cancel();
    co_return !timed_out;
}

asio::awaitable<void> feed_then_round_trip(asio::io_context& io, std::uint8_t mode, bytes input) {
    const handler_plugins layer = layer_for(mode);
    TCPServer server(io.get_executor(), server_options(layer));
    server.on({MessageType::REQUEST_URI, "echo"}, echo);
    server.on({MessageType::PUBLISH_URI, "echo"}, echo);
    server.on({MessageType::CREATE_URI, "item"}, echo);
    server.on({MessageType::UPDATE_URI, "item"}, echo);
    server.on({MessageType::DELETE_URI, "item"}, echo);
    server.start();
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), server.local_port());

    // The hostile connection: every byte, then FIN; the server must close it.
    asio::ip::tcp::socket raw(io);
    auto [cec] = co_await raw.async_connect(endpoint, detail::use_nothrow);
    if (cec) fail(target, "cannot connect to the server");
    auto [wec, written] = co_await asio::async_write(raw, asio::buffer(input), detail::use_nothrow);
    (void)written;  // a write error means the server closed early: fine
    std::error_code ignored;
    if (!wec) raw.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
    const bool closed = co_await drain_until_closed(raw, 2s);
    if (!closed) fail(target, "the server kept a connection open after its FIN");
    raw.close(ignored);

    // Liveness: a good client completes a round trip.
    tcp_client_options co;
    co.host = "127.0.0.1";
    co.port = server.local_port();
    co.connect_timeout = 2s;
    co.auth_plugin = layer.auth;
    co.cipher_plugin = layer.cipher;
    TCPClient client(io.get_executor(), co);
    co_await client.connect();
    request_options ro;
    ro.timeout(2s);
    const Message reply = co_await client.request("echo", "alive", ro);
    if (reply.type() != MessageType::RESPOND_URI || reply.body.content != to_bytes("alive"))
        fail(target, "liveness: the round trip after the input did not echo");
    client.close();
    co_await server.stop();
}

}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    asio::io_context io;
    std::exception_ptr failure;
    bool finished = false;
    asio::co_spawn(io, feed_then_round_trip(io, data[0], bytes(data + 1, data + size)),
                   [&io, &failure, &finished](std::exception_ptr e) {
                       failure = e;
                       finished = true;
                       io.stop();  // whatever the server left behind (sweep timers) ends here
                   });
    io.run_for(5s);
    if (failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s: %s\n", target, e.what());
        } catch (...) {
        }
        fail(target, "the harness threw (liveness round trip failed?)");
    }
    if (!finished) fail(target, "liveness: the harness did not finish within 5 s");
    return 0;
}
