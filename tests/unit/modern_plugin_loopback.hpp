// tests/unit/modern_plugin_loopback.hpp - loopback scenarios shared by the tests of
// the modern plugins (Ed25519, XChaCha20-Poly1305, Hashcash): round trips over TCP
// (server + client) and UDP (two UDPNodes), with the plugin as the outer layer or
// as the inner (per-handler, per-request) layer under the compatible outer
// HMACAuthPlugin + Sha256StreamCipherPlugin; and hostile frames delivered with the
// injector, which must be refused, counted by reason, never reach a handler, and
// leave the node alive.
//
// Every scenario is a coroutine function taking its arguments by value (GCC 12:
// no capturing coroutine lambdas); tests call them from a captureless lambda:
//     run_loopback([](asio::io_context& io) { return tcp_outer_round_trip(io, server_layer(), client_layer()); });
#pragma once

#include "injector.hpp"
#include "loopback_support.hpp"

#include <netaio/detail/pipeline.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/udp_node.hpp>

#include <asio/ip/udp.hpp>

#include <string>
#include <vector>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // see injector.hpp
#endif

namespace netaio_test::modern {

using namespace std::chrono_literals;

/// The compatible outer layer the modern plugins are nested under: HMAC + stream
/// cipher (encrypt_uri), fields "hmac", "nonce", "ts", "iv".
inline netaio::handler_plugins compat_outer() {
    netaio::hmac_auth_options h;
    h.secret = netaio::to_bytes("modern-outer-secret-0123456789abcdef");
    netaio::sha256_stream_cipher_options c;
    c.key = netaio::to_bytes("modern-outer-cipher-key-0123456789ab");
    netaio::handler_plugins p;
    p.auth = netaio::HMACAuthPlugin(h);
    p.cipher = netaio::Sha256StreamCipherPlugin(c);
    return p;
}

/// Names of the auth fields compat_outer() adds after an inner layer has run.
inline std::vector<std::string> compat_outer_fields() { return {"hmac", "iv"}; }

inline netaio::tcp_server_options server_options(const netaio::handler_plugins& outer) {
    netaio::tcp_server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.connection.frame_timeout = 200ms;
    o.stop_timeout = 100ms;
    o.auth_plugin = outer.auth;
    o.cipher_plugin = outer.cipher;
    return o;
}

inline netaio::tcp_client_options client_options(std::uint16_t port, const netaio::handler_plugins& outer) {
    netaio::tcp_client_options o;
    o.host = "127.0.0.1";
    o.port = port;
    o.auth_plugin = outer.auth;
    o.cipher_plugin = outer.cipher;
    return o;
}

inline netaio::udp_node_options udp_options(const netaio::handler_plugins& outer) {
    netaio::udp_node_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.multicast_interface = "127.0.0.1";
    o.multicast_ttl = 1;
    o.auth_plugin = outer.auth;
    o.cipher_plugin = outer.cipher;
    return o;
}

using netaio_test::echo_reply;  // loopback_support.hpp; the tests name it modern::echo_reply

inline netaio::request_options timed(std::chrono::milliseconds t, netaio::handler_plugins inner = {}) {
    netaio::request_options ro;
    ro.timeout(t);
    ro.plugins(std::move(inner));
    return ro;
}

/// TCP, the plugin as the outer layer on both sides: three requests to "echo"
/// come back intact, nothing is refused anywhere.
inline asio::awaitable<void> tcp_outer_round_trip(asio::io_context& io, netaio::handler_plugins server_layer,
                                                  netaio::handler_plugins client_layer) {
    netaio::TCPServer server(io.get_executor(), server_options(server_layer));
    server.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply);
    server.start();
    netaio::TCPClient client(io.get_executor(), client_options(server.local_port(), client_layer));
    co_await client.connect();
    for (int i = 0; i < 3; ++i) {
        const std::string text = "outer tcp " + std::to_string(i);
        netaio::Message r = co_await client.request("echo", text, timed(2s));
        CHECK(r.type() == netaio::MessageType::RESPOND_URI);
        CHECK(text_of(r.body.uri) == "echo");
        CHECK(text_of(r.body.content) == text);
    }
    CHECK(server.stats().handler_calls == 3);
    CHECK(server.stats().total_rejected() == 0);
    CHECK(client.stats().total_rejected() == 0);
    client.close();
    co_await server.stop();
}

/// TCP, the plugin as the inner layer of the "inner" handler and of the requests,
/// under compat_outer() on both sides. A request without the inner layer never
/// reaches the handler.
inline asio::awaitable<void> tcp_inner_round_trip(asio::io_context& io, netaio::handler_plugins server_inner,
                                                  netaio::handler_plugins client_inner) {
    const netaio::handler_plugins outer = compat_outer();
    netaio::TCPServer server(io.get_executor(), server_options(outer));
    server.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply);
    int protected_calls = 0;
    server.on({netaio::MessageType::REQUEST_URI, "inner"},
              [&protected_calls](const netaio::Message& m) {
                  ++protected_calls;
                  return netaio::make_respond_uri_msg("inner:" + text_of(m.body.content), m.body.uri);
              },
              server_inner);
    server.start();
    netaio::TCPClient client(io.get_executor(), client_options(server.local_port(), outer));
    co_await client.connect();
    for (int i = 0; i < 3; ++i) {
        const std::string text = "inner tcp " + std::to_string(i);
        netaio::Message r = co_await client.request("inner", text, timed(2s, client_inner));
        CHECK(r.type() == netaio::MessageType::RESPOND_URI);
        CHECK(text_of(r.body.uri) == "inner");
        CHECK(text_of(r.body.content) == "inner:" + text);
    }
    CHECK(protected_calls == 3);
    CHECK(server.stats().total_rejected() == 0);
    CHECK(client.stats().total_rejected() == 0);

    // Outer layer only: refused by the inner layer, the handler does not run.
    netaio::request_options plain = timed(150ms);
    bool timed_out = false;
    try {
        (void)co_await client.request("inner", "no inner layer", plain);
    } catch (const netaio::error& e) {
        timed_out = e.code() == netaio::errc::timed_out;
    }
    CHECK(timed_out);
    CHECK(server.stats().total_rejected() == 1);
    CHECK(protected_calls == 3);
    co_await expect_alive_with(server.local_port(), outer.auth, outer.cipher);
    client.close();
    co_await server.stop();
}

/// UDP, the plugin as the outer layer of both nodes: b asks a three times.
inline asio::awaitable<void> udp_outer_round_trip(asio::io_context& io, netaio::handler_plugins a_layer,
                                                  netaio::handler_plugins b_layer) {
    netaio::UDPNode a(io.get_executor(), udp_options(a_layer));
    a.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply);
    a.start();
    netaio::UDPNode b(io.get_executor(), udp_options(b_layer));
    b.start();
    const netaio::peer_address to("127.0.0.1", a.local_port());
    for (int i = 0; i < 3; ++i) {
        const std::string text = "outer udp " + std::to_string(i);
        netaio::Message r = co_await b.request("echo", to, text, timed(2s));
        CHECK(r.type() == netaio::MessageType::RESPOND_URI);
        CHECK(text_of(r.body.content) == text);
    }
    CHECK(a.stats().handler_calls == 3);
    CHECK(a.stats().total_rejected() == 0);
    CHECK(b.stats().total_rejected() == 0);
    a.stop();
    b.stop();
}

/// UDP, the plugin as the inner layer (a's handler, b's requests) under compat_outer().
inline asio::awaitable<void> udp_inner_round_trip(asio::io_context& io, netaio::handler_plugins a_inner,
                                                  netaio::handler_plugins b_inner) {
    const netaio::handler_plugins outer = compat_outer();
    netaio::UDPNode a(io.get_executor(), udp_options(outer));
    int protected_calls = 0;
    a.on({netaio::MessageType::REQUEST_URI, "inner"},
         [&protected_calls](const netaio::Message& m) {
             ++protected_calls;
             return netaio::make_respond_uri_msg("inner:" + text_of(m.body.content), m.body.uri);
         },
         a_inner);
    a.start();
    netaio::UDPNode b(io.get_executor(), udp_options(outer));
    b.start();
    const netaio::peer_address to("127.0.0.1", a.local_port());
    for (int i = 0; i < 3; ++i) {
        const std::string text = "inner udp " + std::to_string(i);
        netaio::Message r = co_await b.request("inner", to, text, timed(2s, b_inner));
        CHECK(text_of(r.body.content) == "inner:" + text);
    }
    CHECK(protected_calls == 3);
    CHECK(a.stats().total_rejected() == 0);
    CHECK(b.stats().total_rejected() == 0);
    bool timed_out = false;
    try {
        (void)co_await b.request("inner", to, "no inner layer", timed(150ms));
    } catch (const netaio::error& e) {
        timed_out = e.code() == netaio::errc::timed_out;
    }
    CHECK(timed_out);
    CHECK(a.stats().total_rejected() == 1);
    CHECK(protected_calls == 3);
    a.stop();
    b.stop();
}

/// Seal `m` by hand as a node would: the inner layer (may be empty), then the outer.
inline netaio::bytes sealed_frame(netaio::Message m, const netaio::handler_plugins& inner,
                                  const netaio::handler_plugins& outer) {
    netaio::detail::seal(m, &inner, &outer, netaio::plugin_context{});
    return m.encode();
}

/// Re-frame `m` (header recomputed: the CRC matches, so only the plugin can object).
inline netaio::bytes frame_of(const netaio::Message& m) { return frame_builder(m).build(); }

/// What a hostile-frame scenario expects.
struct rejection {
    netaio::errc reason;
    std::uint64_t count = 1;        ///< how many of the frames are refused for `reason`
    std::uint64_t handler_calls = 0;  ///< how many of the frames are accepted
};

/// A TCP server with `outer` as its outer layer, an "echo" handler and an "inner"
/// handler with `inner` (may be empty). `frames` are written on one raw
/// connection; then the server must have counted `expected.count` x
/// `expected.reason` and run handlers `expected.handler_calls` times; a client
/// with `client_outer` then completes a round trip (liveness).
inline asio::awaitable<void> tcp_hostile(asio::io_context& io, netaio::handler_plugins outer, netaio::handler_plugins inner,
                                         std::vector<netaio::bytes> frames, rejection expected,
                                         netaio::handler_plugins client_outer) {
    netaio::TCPServer server(io.get_executor(), server_options(outer));
    server.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply);
    server.on({netaio::MessageType::REQUEST_URI, "inner"}, echo_reply, inner);
    server.start();
    raw_socket s(io.get_executor());
    co_await s.connect(server.local_port());
    for (const netaio::bytes& f : frames) {
        const std::error_code wec = co_await s.write(f);
        CHECK_FALSE(wec);
    }
    netaio::TCPServer* sp = &server;
    const netaio::errc reason = expected.reason;
    const std::uint64_t want = expected.count;
    co_await eventually([sp, reason, want] { return sp->stats().count(reason) >= want; });
    co_await pause(20ms);  // anything else in flight lands before the counts are read
    CHECK(server.stats().count(expected.reason) == expected.count);
    CHECK(server.stats().total_rejected() == expected.count);
    CHECK(server.stats().handler_calls == expected.handler_calls);
    co_await expect_alive_with(server.local_port(), client_outer.auth, client_outer.cipher);
    CHECK(server.stats().handler_calls == expected.handler_calls + 1);
    co_await server.stop();
}

/// The UDP counterpart: `frames` sent as datagrams from a raw socket to a node
/// with `outer` and the "inner" handler; then a node with `sender_outer` asks
/// "echo" (liveness).
inline asio::awaitable<void> udp_hostile(asio::io_context& io, netaio::handler_plugins outer, netaio::handler_plugins inner,
                                         std::vector<netaio::bytes> frames, rejection expected,
                                         netaio::handler_plugins sender_outer) {
    netaio::UDPNode node(io.get_executor(), udp_options(outer));
    node.on({netaio::MessageType::REQUEST_URI, "echo"}, echo_reply);
    node.on({netaio::MessageType::REQUEST_URI, "inner"}, echo_reply, inner);
    node.start();
    asio::ip::udp::socket raw(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const asio::ip::udp::endpoint to(asio::ip::make_address("127.0.0.1"), node.local_port());
    for (const netaio::bytes& f : frames) raw.send_to(asio::buffer(f), to);
    netaio::UDPNode* np = &node;
    const netaio::errc reason = expected.reason;
    const std::uint64_t want = expected.count;
    co_await eventually([np, reason, want] { return np->stats().count(reason) >= want; });
    co_await pause(20ms);
    CHECK(node.stats().count(expected.reason) == expected.count);
    CHECK(node.stats().total_rejected() == expected.count);
    CHECK(node.stats().handler_calls == expected.handler_calls);
    CHECK(raw.available() == 0);  // silent toward refused input (UDP default)

    netaio::UDPNode sender(io.get_executor(), udp_options(sender_outer));
    sender.start();
    netaio::Message r = co_await sender.request("echo", netaio::peer_address("127.0.0.1", node.local_port()), "alive", timed(2s));
    CHECK(text_of(r.body.content) == "alive");
    CHECK(node.stats().handler_calls == expected.handler_calls + 1);
    sender.stop();
    node.stop();
}

}  // namespace netaio_test::modern

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
