// Loopback tests of BEHAVIOUR.md items of TCPServer / TCPClient (sections A-C) that
// no other file covers: handler registration and replacement, client routing keys,
// the default reply's plugins, custom message-type enums, defaults and initial
// state, stop(), failed preparation, per-connection sends and broadcast.
// Test names cite the B-numbers they cover. Peer management: test_tcp_peers.cpp.
//
// GCC 12: never co_await inside CHECK/REQUIRE, no aggregate temporaries inside
// co_await expressions, no capturing coroutine lambdas (see test_tcp_basic.cpp).
#include "injector.hpp"
#include "loopback_support.hpp"
#include "plugin_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/ip/tcp.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using namespace netaio;
using netaio_test::echo_reply;
using netaio_test::error_of;
using netaio_test::eventually;
using netaio_test::hmac_plugin;
using netaio_test::identity;
using netaio_test::inner_layer;
using netaio_test::loopback_server;
using netaio_test::raw_socket;
using netaio_test::request_msg;
using netaio_test::run_loopback;
using netaio_test::stream_cipher_plugin;
using netaio_test::text_of;

namespace {

// A custom message-type set (B16): the defaults plus two game types.
enum class GameType : std::uint8_t { NETAIO_DEFAULT_MESSAGE_TYPES, MOVE = 40, MOVE_ACK = 41 };

}  // namespace

template <>
struct netaio::message_type_traits<GameType> {
    static constexpr auto entries =
        netaio::with_default_message_types<GameType>({{"MOVE", GameType::MOVE}, {"MOVE_ACK", GameType::MOVE_ACK}});
};
static_assert(netaio::valid_message_type_enum<GameType>());

namespace {

/// A server handler answering RESPOND_URI `label` for the request's uri.
auto answer(std::string label) {
    return [label](const Message& m) { return make_respond_uri_msg(label, m.body.uri); };
}

/// A client handler whose result (OK `label`) goes to receive_once().
auto result(std::string label) {
    return [label](const Message& m) { return make_ok_msg(label, m.body.uri); };
}

Message note(std::string_view uri, std::string_view content) { return request_msg(uri, content, MessageType::NOTIFY_URI); }

/// The content of the next message receive_once() gives for `server` (2 s deadline).
asio::awaitable<std::string> next_content(TCPClient& client, std::optional<peer_address> server = std::nullopt) {
    std::optional<Message> m = co_await client.receive_once(std::move(server), std::chrono::seconds(2));
    REQUIRE(m);
    co_return text_of(m->body.content);
}

/// The content of the reply to REQUEST_URI `uri`.
asio::awaitable<std::string> reply_content(TCPClient& client, std::string uri) {
    Message reply = co_await client.request(uri, "", request_options().timeout(std::chrono::seconds(2)));
    co_return text_of(reply.body.content);
}

/// Whether receive_once() finds nothing waiting (it then times out at once).
asio::awaitable<bool> inbox_empty(TCPClient& client) {
    try {
        (void)co_await client.receive_once(std::nullopt, std::chrono::milliseconds(1));
    } catch (const netaio::error& e) {
        if (e.code() == errc::timed_out) co_return true;
        throw;
    }
    co_return false;
}

/// A peer-specific cipher for tests: appends "@<peer id>" (or "@nobody") to the
/// content, so the receiver sees which peer the message was prepared for. It
/// refuses (throws) content "boom", and "boom:<id>" for that peer only. Decrypting
/// does nothing. `peer_specific` false makes it an ordinary (prepare-once) plugin.
struct tagging_cipher {
    bool peer_specific = true;
    int encrypt_calls = 0;

    void encrypt(Message& m, const plugin_context& ctx) {
        ++encrypt_calls;
        const std::string tag = ctx.peer && ctx.peer->id ? text_of(*ctx.peer->id) : std::string("nobody");
        const std::string content = text_of(m.body.content);
        if (content == "boom" || content == "boom:" + tag) throw std::runtime_error("tagging_cipher: refused");
        m.body = Body::prepare(content + "@" + tag, m.body.uri);
    }
    std::error_code decrypt(Message&, const plugin_context&) { return {}; }
    bool is_peer_specific() const { return peer_specific; }
};

/// An auth plugin whose make() always fails (a missing key, say).
struct failing_auth {
    void make(AuthFields&, const Body&, const plugin_context&) {
        throw netaio::error(errc::bad_plugin_config, "failing_auth: no key");
    }
    std::error_code check(const AuthFields&, const Body&, const plugin_context&) { return {}; }
    Message error() { return make_error_msg("auth failed"); }
    bool is_peer_specific() const { return false; }
};

const bytes outer_secret = to_bytes("behaviour-outer-secret-0123456789");
const bytes outer_key = to_bytes("behaviour-outer-key-0123456789abc");
const bytes inner_secret = to_bytes("behaviour-inner-secret-0123456789");
const bytes inner_key = to_bytes("behaviour-inner-key-0123456789abc");

}  // namespace

// ---- A. handlers and routing -----------------------------------------------------------

TEST_CASE("tcp behaviour: on() replaces a key; add_handler / add_ephemeral_handler / remove_ephemeral_handler (B2, B3)",
          "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on(MessageType::REQUEST_URI, answer("fallback"));
        // Re-registering a key replaces its handler (B2).
        server.on({MessageType::REQUEST_URI, "a"}, answer("first"));
        server.on({MessageType::REQUEST_URI, "a"}, answer("second"));
        // add_handler is on() (B2); remove_handler of a present key removes it, of an
        // absent key returns false and changes nothing (B3).
        server.add_handler({MessageType::REQUEST_URI, "b"}, answer("added"));
        // add_ephemeral_handler is once(), replacing too: only the second is used, once.
        server.add_ephemeral_handler({MessageType::REQUEST_URI, "c"}, answer("once-1"));
        server.add_ephemeral_handler({MessageType::REQUEST_URI, "c"}, answer("once-2"));
        // remove_ephemeral_handler removes an unused ephemeral entry.
        server.add_ephemeral_handler({MessageType::REQUEST_URI, "d"}, answer("never"));
        // Each remove touches its own table only.
        server.on({MessageType::REQUEST_URI, "e"}, answer("permanent"));
        server.add_ephemeral_handler({MessageType::REQUEST_URI, "f"}, answer("ephemeral"));
        server.start();

        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        std::string got = co_await reply_content(client, "a");
        CHECK(got == "second");
        got = co_await reply_content(client, "b");
        CHECK(got == "added");
        CHECK(server.remove_handler({MessageType::REQUEST_URI, "b"}));
        CHECK_FALSE(server.remove_handler({MessageType::REQUEST_URI, "b"}));
        got = co_await reply_content(client, "b");
        CHECK(got == "fallback");

        got = co_await reply_content(client, "c");
        CHECK(got == "once-2");
        got = co_await reply_content(client, "c");
        CHECK(got == "fallback");
        CHECK_FALSE(server.remove_ephemeral_handler({MessageType::REQUEST_URI, "c"}));  // consumed

        CHECK(server.remove_ephemeral_handler({MessageType::REQUEST_URI, "d"}));
        CHECK_FALSE(server.remove_ephemeral_handler({MessageType::REQUEST_URI, "d"}));
        got = co_await reply_content(client, "d");
        CHECK(got == "fallback");

        CHECK_FALSE(server.remove_ephemeral_handler({MessageType::REQUEST_URI, "e"}));
        CHECK_FALSE(server.remove_handler({MessageType::REQUEST_URI, "f"}));
        got = co_await reply_content(client, "e");
        CHECK(got == "permanent");
        got = co_await reply_content(client, "f");
        CHECK(got == "ephemeral");

        // The same calls on a client (its handlers' results go to receive_once()).
        client.add_handler(MessageType::NOTIFY_URI, result("permanent-1"));
        client.on(MessageType::NOTIFY_URI, result("permanent-2"));  // replaces
        client.add_ephemeral_handler(MessageType::NOTIFY_URI, result("once"));
        CHECK(server.broadcast(note("news", "1")) == 1);
        CHECK(server.broadcast(note("news", "2")) == 1);
        got = co_await next_content(client);
        CHECK(got == "once");
        got = co_await next_content(client);
        CHECK(got == "permanent-2");
        CHECK_FALSE(client.remove_ephemeral_handler(MessageType::NOTIFY_URI));
        CHECK(client.remove_handler(MessageType::NOTIFY_URI));
        CHECK(server.broadcast(note("news", "3")) == 1);
        std::optional<Message> unhandled = co_await client.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(unhandled);
        CHECK(unhandled->type() == MessageType::NOTIFY_URI);  // no handler: the message itself
        CHECK(text_of(unhandled->body.content) == "3");
        co_await server.stop();
    });
}

TEST_CASE("tcp behaviour: a client handler keyed by (type, uri, server key) beats (type, uri) and type (B4)",
          "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer first(io.get_executor(), loopback_server());
        TCPServer second(io.get_executor(), loopback_server());
        first.start();
        second.start();
        const std::uint16_t second_port = second.local_port();
        TCPClient client(io.get_executor(), {.port = first.local_port()});
        co_await client.connect();
        co_await client.connect("localhost", second_port);
        const peer_address by_name("localhost", second_port);
        co_await eventually([&] { return first.clients().size() == 1 && second.clients().size() == 1; });

        client.on(MessageType::NOTIFY_URI, result("type"));
        client.on({MessageType::NOTIFY_URI, "t"}, result("uri"));
        client.on({MessageType::NOTIFY_URI, "t", client.default_server()}, result("first server"));
        client.on({MessageType::NOTIFY_URI, "t", by_name}, result("localhost"));
        // The key is the server key as passed to connect(), never resolved (B4):
        // this one names the same socket address but does not match.
        client.on({MessageType::NOTIFY_URI, "t", peer_address("127.0.0.1", second_port)}, result("resolved"));

        CHECK(first.broadcast(note("t", "")) == 1);
        std::string got = co_await next_content(client);
        CHECK(got == "first server");
        CHECK(second.broadcast(note("t", "")) == 1);
        got = co_await next_content(client, by_name);
        CHECK(got == "localhost");
        CHECK(client.remove_handler({MessageType::NOTIFY_URI, "t", by_name}));
        CHECK(second.broadcast(note("t", "")) == 1);
        got = co_await next_content(client, by_name);
        CHECK(got == "uri");
        CHECK(first.broadcast(note("u", "")) == 1);
        got = co_await next_content(client);
        CHECK(got == "type");
        co_await first.stop();
        co_await second.stop();
    });
}

TEST_CASE("tcp behaviour: the default NOT_FOUND reply goes through the outer plugins only (B12)", "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = loopback_server();
        so.auth_plugin = hmac_plugin(outer_secret, "hmac");
        so.cipher_plugin = stream_cipher_plugin(outer_key, true, "iv");
        TCPServer server(io.get_executor(), so);
        server.on({MessageType::REQUEST_URI, "inner"}, echo_reply, inner_layer(inner_secret, inner_key));
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.auth_plugin = hmac_plugin(outer_secret, "hmac");
        co.cipher_plugin = stream_cipher_plugin(outer_key, true, "iv");
        TCPClient client(io.get_executor(), co);
        co_await client.connect();

        // A matched handler's reply carries both layers (so the test can tell them apart) ...
        Message matched = co_await client.request("inner", "x", request_options().plugins(inner_layer(inner_secret, inner_key)));
        CHECK(matched.type() == MessageType::RESPOND_URI);
        CHECK(matched.auth_data.contains("ihmac"));
        CHECK(matched.auth_data.contains("iiv"));
        // ... the default reply (uri "", so it completes no request and goes to
        // receive_once) only the outer layer, even though a handler with an inner
        // layer exists for the same type.
        CHECK(client.send(request_msg("nowhere", "x")));
        std::optional<Message> reply = co_await client.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(reply);
        CHECK(reply->type() == MessageType::NOT_FOUND);
        CHECK(reply->body.uri.empty());
        CHECK(text_of(reply->body.content) == "not found");
        CHECK(reply->auth_data.contains("hmac"));  // verified by the client's outer layer
        CHECK(reply->auth_data.contains("iv"));
        CHECK_FALSE(reply->auth_data.contains("ihmac"));
        CHECK_FALSE(reply->auth_data.contains("iiv"));
        CHECK(client.stats().total_rejected() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp behaviour: a server and a client with a custom message-type enum; unknown type bytes are refused (B16)",
          "[tcp][behaviour][types]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        basic_tcp_server<GameType> server(io.get_executor(), loopback_server());
        server.on(GameType::MOVE, [](const Message& m) {
            return Message::prepare(Body::prepare(m.body.content, m.body.uri), GameType::MOVE_ACK);
        });
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();

        basic_tcp_client<GameType> client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        CHECK(client.send(Message::prepare(Body::prepare("e2e4", "game"), GameType::MOVE)));
        std::optional<Message> ack = co_await client.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(ack);
        CHECK(ack->type_as<GameType>() == GameType::MOVE_ACK);
        CHECK(text_of(ack->body.content) == "e2e4");
        CHECK(text_of(ack->body.uri) == "game");
        // A client handler keyed by a custom type.
        client.on(GameType::MOVE_ACK, [](const Message& m) { return make_ok_msg(m.body.content, "handled"); });
        CHECK(client.send(Message::prepare(Body::prepare("d7d5", "game"), GameType::MOVE)));
        std::optional<Message> handled = co_await client.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(handled);
        CHECK(text_of(handled->body.uri) == "handled");
        CHECK(text_of(handled->body.content) == "d7d5");

        // A type byte outside the enum ends the connection that sent it (the stream
        // cannot be re-synchronised), counted; other connections are unaffected.
        raw_socket raw(io.get_executor());
        co_await raw.connect(server.local_port());
        const std::error_code written = co_await raw.write(netaio_test::frame_builder(request_msg("game", "x")).type(50).build());
        CHECK_FALSE(written);
        netaio_test::close_outcome closed = co_await raw.wait_closed(std::chrono::seconds(2));
        CHECK(closed.closed);
        CHECK(closed.bytes == 0);
        CHECK(server.stats().count(errc::unknown_message_type) == 1);
        Message alive = co_await client.request("echo", "still here", request_options().timeout(std::chrono::seconds(2)));
        CHECK(text_of(alive.body.content) == "still here");

        // A client with the built-in set refuses the server's MOVE_ACK the same way.
        TCPClient plain(io.get_executor(), {.port = server.local_port()});
        co_await plain.connect();
        CHECK(plain.send(Message::prepare(Body::prepare("c7c5", "game"), GameType::MOVE)));
        co_await eventually([&] { return plain.stats().count(errc::unknown_message_type) == 1; });
        co_await eventually([&] { return plain.servers().empty(); });
        co_await server.stop();
    });
}

// ---- B. TCPServer ------------------------------------------------------------------------

TEST_CASE("tcp behaviour: server and client defaults; a new server has only the default handler, no clients, "
          "no subscriptions, no peers (B20, B21, B48)",
          "[tcp][behaviour]") {
    const tcp_server_options s;
    CHECK(s.host == "0.0.0.0");
    CHECK(s.port == 8888);
    CHECK(s.logger_name == "netaio.server");
    CHECK(s.use_auth);
    CHECK(s.use_cipher);
    CHECK_FALSE(s.auth_plugin);
    CHECK_FALSE(s.cipher_plugin);
    CHECK_FALSE(s.local_peer);
    CHECK_FALSE(s.on_auth_error);  // default_auth_error_reply (B14)
    // The limits Python lacks, at RELIABILITY §5's recommended defaults.
    CHECK(s.connection.limits.max_auth_bytes == 8192);
    CHECK(s.connection.limits.max_frame_bytes == 131079);
    CHECK(s.connection.frame_timeout == std::chrono::seconds(10));
    CHECK(s.connection.idle_timeout == std::chrono::seconds(300));
    CHECK(s.connection.write_timeout == std::chrono::seconds(30));
    CHECK(s.connection.max_queued_messages == 1000);
    CHECK(s.connection.max_queued_bytes == 4u << 20);
    CHECK(s.max_connections == 10000);
    CHECK(s.max_connections_per_ip == 256);
    CHECK(s.max_consecutive_bad_frames == 8);
    CHECK(s.peers.max_peers == 1024);
    CHECK(s.peers.max_addresses_per_peer == 4);
    CHECK(s.peers.max_adverts_per_ip_per_second == 20);

    const tcp_client_options c;
    CHECK(c.host == "127.0.0.1");
    CHECK(c.port == 8888);
    CHECK(c.logger_name == "netaio.client");
    CHECK(c.request_timeout == std::chrono::seconds(10));
    CHECK(c.connect_timeout == std::chrono::seconds(10));
    CHECK(c.connection.idle_timeout.count() == 0);  // a client keeps quiet connections
    CHECK_FALSE(c.local_peer);

    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        // Only the port differs from the defaults: the server listens on 0.0.0.0,
        // which loopback reaches.
        tcp_server_options o;
        o.port = 0;
        TCPServer server(io.get_executor(), o);
        TCPClient unconnected(io.get_executor());
        CHECK(unconnected.default_server() == peer_address("127.0.0.1", 8888));
        CHECK(unconnected.servers().empty());
        CHECK(server.local_port() == 0);  // not listening before listen()/start()
        CHECK(server.clients().empty());
        CHECK(server.peers().empty());
        CHECK(server.stats().frames_received == 0);
        server.start();
        CHECK(server.local_port() != 0);
        CHECK(server.clients().empty());

        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        co_await eventually([&] { return server.clients().size() == 1; });
        // No handler but the default one: no peer management, no pub/sub handlers.
        const std::vector<Message> probes = {
            request_msg("anything", ""),
            request_msg("topic", "", MessageType::SUBSCRIBE_URI),
            make_peer_message(MessageType::ADVERTISE_PEER, "netaio", identity("client")),
            make_peer_message(MessageType::PEER_DISCOVERED, "netaio", identity("client")),
            make_peer_message(MessageType::DISCONNECT, "netaio", identity("client")),
        };
        for (const Message& m : probes) CHECK(client.send(m));
        for (std::size_t i = 0; i < probes.size(); ++i) {
            std::optional<Message> reply = co_await client.receive_once(std::nullopt, std::chrono::seconds(2));
            REQUIRE(reply);
            CHECK(reply->type() == MessageType::NOT_FOUND);
            CHECK(reply->body.uri.empty());
        }
        CHECK(server.subscribers("topic").empty());
        CHECK(server.peers().empty());
        co_await server.stop();
    });
}

TEST_CASE("tcp behaviour: after stop() the listener is closed and new connections are refused (B23)", "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        const std::uint16_t port = server.local_port();
        TCPClient client(io.get_executor(), {.port = port});
        co_await client.connect();
        std::string got = co_await reply_content(client, "echo");
        CHECK(got.empty());
        co_await server.stop();
        CHECK(server.local_port() == 0);
        // Unlike netaio (which leaves them open), stop() also closes the connections.
        co_await eventually([&] { return client.servers().empty(); });
        asio::ip::tcp::socket late(io.get_executor());
        const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
        auto [ec] = co_await late.async_connect(endpoint, detail::use_nothrow);
        CHECK(ec == asio::error::connection_refused);
    });
}

TEST_CASE("tcp behaviour: a reply or send whose preparation fails is dropped and counted, the connection lives; "
          "sending to a never-connected server throws (B30, B35, B51, B69)",
          "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = loopback_server();
        so.cipher_plugin = stream_cipher_plugin(outer_key, true, "iv");
        TCPServer server(io.get_executor(), so);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        // uri + content at Body::prepare's limit (65,422) fit a plain body, but not
        // the cipher's output (2 more bytes with encrypt_uri): encrypt throws
        // errc::content_too_long while the reply is prepared.
        server.on({MessageType::REQUEST_URI, "big"},
                  [](const Message& m) { return make_respond_uri_msg(std::string(max_body_payload() - 3, 'x'), m.body.uri); });
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.cipher_plugin = stream_cipher_plugin(outer_key, true, "iv");

        // B51: a key never connected (the default one included) throws not_connected.
        TCPClient client(io.get_executor(), co);
        CHECK(error_of([&] { client.send(request_msg("echo", "")); }) == errc::not_connected);
        co_await client.connect();
        const peer_address nowhere("127.0.0.1", 1);
        CHECK(error_of([&] { client.send(request_msg("echo", ""), nowhere); }) == errc::not_connected);
        std::error_code request_error;
        try {
            (void)co_await client.request("echo", "", request_options().to(nowhere));
        } catch (const netaio::error& e) {
            request_error = e.code();
        }
        CHECK(request_error == errc::not_connected);
        // B69: closing a never-connected server raises, as netaio does.
        CHECK(error_of([&] { client.close(nowhere); }) == errc::not_connected);

        // B30: the reply cannot be prepared: dropped and counted, the connection lives
        // (netaio closes it). The echo asked after it is answered; nothing came before.
        CHECK(client.send(request_msg("big", "")));
        std::string got = co_await reply_content(client, "echo");
        CHECK(got.empty());
        CHECK(server.stats().count(errc::content_too_long) == 1);
        const bool nothing_else = co_await inbox_empty(client);
        CHECK(nothing_else);
        CHECK(server.clients().size() == 1);

        // B35: server.send() whose plugin throws sends nothing and returns false.
        auto refusing = std::make_shared<tagging_cipher>();
        send_options refuse;
        refuse.plugins.cipher = refusing;
        const tcp_connection conn = server.clients().at(0);
        CHECK_FALSE(server.send(conn, note("news", "boom"), refuse));
        CHECK(server.stats().count(errc::encrypt_failed) == 1);
        CHECK(server.send(conn, note("news", "fine")));
        got = co_await next_content(client);
        CHECK(got == "fine");

        // B51: the client's own send: a cipher failure and an auth-make failure both
        // make send() return false, counted (netaio raises the latter); request()
        // throws encrypt_failed; the connection lives.
        CHECK_FALSE(client.send(request_msg("echo", std::string(max_body_payload() - 4, 'y'))));
        CHECK(client.stats().count(errc::content_too_long) == 1);
        send_options bad_auth;
        bad_auth.plugins.auth = failing_auth{};
        CHECK_FALSE(client.send(request_msg("echo", "z"), std::nullopt, bad_auth));
        CHECK(client.stats().count(errc::bad_plugin_config) == 1);
        handler_plugins failing;
        failing.auth = failing_auth{};
        try {
            (void)co_await client.request("echo", "z", request_options().plugins(failing));
        } catch (const netaio::error& e) {
            request_error = e.code();
        }
        CHECK(request_error == errc::encrypt_failed);
        got = co_await reply_content(client, "echo");
        CHECK(got.empty());
        CHECK(client.servers().size() == 1);
        CHECK(server.stats().count(errc::decrypt_failed) == 0);  // nothing half-prepared left the client
        co_await server.stop();
    });
}

TEST_CASE("tcp behaviour: send() prepares with the connection's peer; broadcast is 0 without clients and prepares "
          "per client for a peer-specific plugin (B35, B36)",
          "[tcp][behaviour]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = loopback_server();
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        server.manage_peers_automatically();
        server.start();
        auto tagger = std::make_shared<tagging_cipher>();
        send_options tagged;
        tagged.plugins.cipher = tagger;

        CHECK(server.broadcast(note("news", "nobody listens"), tagged) == 0);  // B36: no clients
        CHECK(tagger->encrypt_calls == 0);

        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("alice");
        TCPClient alice(io.get_executor(), co);
        co.local_peer = identity("bob");
        TCPClient bob(io.get_executor(), co);
        co.local_peer.reset();
        TCPClient anonymous(io.get_executor(), co);
        alice.manage_peers_automatically();
        bob.manage_peers_automatically();
        co_await alice.connect();
        co_await bob.connect();
        co_await anonymous.connect();
        co_await eventually([&] {
            return server.peers().size() == 2 && alice.peers().size() == 1 && bob.peers().size() == 1 &&
                   server.clients().size() == 3;
        });

        // B35: each connection's own peer (none for the anonymous one).
        for (const tcp_connection& c : server.clients()) CHECK(server.send(c, note("news", "direct"), tagged));
        CHECK(tagger->encrypt_calls == 3);
        std::string got = co_await next_content(alice);
        CHECK(got == "direct@alice");
        got = co_await next_content(bob);
        CHECK(got == "direct@bob");
        got = co_await next_content(anonymous);
        CHECK(got == "direct@nobody");

        // B36: prepared per client; one client's failure does not stop the others.
        CHECK(server.broadcast(note("news", "boom:bob"), tagged) == 2);
        CHECK(tagger->encrypt_calls == 6);
        CHECK(server.stats().count(errc::encrypt_failed) == 1);
        got = co_await next_content(alice);
        CHECK(got == "boom:bob@alice");
        got = co_await next_content(anonymous);
        CHECK(got == "boom:bob@nobody");
        // A plugin that is not peer-specific is applied once, with no peer (PROTOCOL §9.7).
        auto once = std::make_shared<tagging_cipher>();
        once->peer_specific = false;
        send_options shared;
        shared.plugins.cipher = once;
        CHECK(server.broadcast(note("news", "all"), shared) == 3);
        CHECK(once->encrypt_calls == 1);
        got = co_await next_content(alice);
        CHECK(got == "all@nobody");
        got = co_await next_content(bob);  // bob missed "boom:bob": this is his next one
        CHECK(got == "all@nobody");
        got = co_await next_content(anonymous);
        CHECK(got == "all@nobody");
        co_await server.stop();
    });
}
