// TCPServer / TCPClient with auth and cipher plugins: the outer layer (node plugins),
// the inner layer (per handler, per request), auth-failure and checksum-failure
// replies, use_auth / use_cipher switches and swapping plugins at run time.
// Test names cite BEHAVIOUR.md items (Bnn) and PROTOCOL.md sections (P§n).
//
// GCC 12: never co_await inside CHECK/REQUIRE, no aggregate or braced-list temporaries
// inside co_await expressions, no capturing coroutine lambdas (see test_tcp_basic.cpp).
#include "injector.hpp"
#include "loopback_support.hpp"
#include "node_probe_plugin.hpp"
#include "plugin_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <algorithm>
#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

using namespace netaio;
using netaio_test::add_echo;
using netaio_test::auth_error_frame;
using netaio_test::echo_reply;
using netaio_test::eventually;
using netaio_test::expect_alive;
using netaio_test::expect_alive_with;
using netaio_test::frame_builder;
using netaio_test::hmac_plugin;
using netaio_test::inner_layer;
using netaio_test::invalid_message_frame;
using netaio_test::log_lines;
using netaio_test::node_probe_plugin;
using netaio_test::raw_socket;
using netaio_test::request_msg;
using netaio_test::run_loopback;
using netaio_test::stream_cipher_plugin;
using netaio_test::text_of;

namespace {

const bytes secret_a = to_bytes("plugins-secret-A-0123456789abcdef");
const bytes secret_b = to_bytes("plugins-secret-B-0123456789abcdef");
const bytes inner_secret = to_bytes("plugins-inner-secret-0123456789ab");
const bytes cipher_key = to_bytes("plugins-cipher-key-0123456789abcd");
const bytes inner_key = to_bytes("plugins-inner-key-0123456789abcde");

tcp_server_options plugin_server(any_auth_plugin auth, any_cipher_plugin cph) {
    tcp_server_options o = netaio_test::loopback_server();
    o.connection.frame_timeout = 200ms;
    o.stop_timeout = 100ms;
    o.auth_plugin = std::move(auth);
    o.cipher_plugin = std::move(cph);
    return o;
}

tcp_client_options plugin_client(std::uint16_t port, any_auth_plugin auth, any_cipher_plugin cph) {
    tcp_client_options o;
    o.port = port;
    o.auth_plugin = std::move(auth);
    o.cipher_plugin = std::move(cph);
    return o;
}

/// The outer send pipeline done by hand (cipher, then auth), as a peer would.
Message seal_outer(Message m, const Sha256StreamCipherPlugin& c, const HMACAuthPlugin& h) {
    c.encrypt(m);
    h.make(m.auth_data, m.body);
    return m;
}

/// The outer receive pipeline done by hand; the error of the first failing step.
std::error_code open_outer(Message& m, const Sha256StreamCipherPlugin& c, const HMACAuthPlugin& h) {
    if (std::error_code ec = h.check(m.auth_data, m.body)) return ec;
    return c.decrypt(m);
}

/// The outcome of a request: the reply, or the error it failed with.
struct request_outcome {
    std::optional<Message> reply;
    std::error_code error;
};

asio::awaitable<request_outcome> try_request(TCPClient& client, std::string uri, std::string content, request_options ro) {
    request_outcome out;
    try {
        Message r = co_await client.request(uri, content, ro);
        out.reply = std::move(r);
    } catch (const netaio::error& e) {
        out.error = e.code();
    }
    co_return out;
}

request_options with_timeout(std::chrono::milliseconds t) {
    request_options ro;
    ro.timeout(t);
    return ro;
}

bool has_bytes(const AuthFields& f, std::string_view key, std::size_t size) {
    auto v = f.get_bytes(key);
    return v && v->size() == size;
}

}  // namespace

TEST_CASE("tcp plugins: outer HMAC on both sides: round trip, replies signed, handler sees the auth fields (B8, B15, P§9.2, P§9.4)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), nullptr));
        std::optional<AuthFields> seen;
        server.on({MessageType::REQUEST_URI, "echo"}, [&seen](const Message& m) {
            seen = m.auth_data;
            return echo_reply(m);
        });
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), nullptr));
        co_await client.connect();
        Message r = co_await client.request("echo", "signed");
        CHECK(r.type() == MessageType::RESPOND_URI);
        CHECK(text_of(r.body.content) == "signed");
        CHECK(has_bytes(r.auth_data, "hmac", 32));
        CHECK(has_bytes(r.auth_data, "nonce", 16));
        CHECK(has_bytes(r.auth_data, "ts", 4));
        REQUIRE(seen);
        CHECK(has_bytes(*seen, "hmac", 32));
        CHECK(server.stats().total_rejected() == 0);
        CHECK(client.stats().total_rejected() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: outer HMAC + Sha256 cipher (encrypt_uri): round trip; on the wire uri and content are ciphertext (P§7, P§9.1)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        co_await client.connect();
        Message r = co_await client.request("echo", "secret-content");
        CHECK(r.type() == MessageType::RESPOND_URI);
        CHECK(text_of(r.body.uri) == "echo");
        CHECK(text_of(r.body.content) == "secret-content");
        CHECK(has_bytes(r.auth_data, "iv", 16));

        // The same exchange seen on the wire by a peer doing the pipeline by hand.
        const auto c = stream_cipher_plugin(cipher_key);
        const auto h = hmac_plugin(secret_a);
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        const bytes frame = seal_outer(request_msg("echo", "secret-content"), c, h).encode();
        const std::error_code wec = co_await s.write(frame);
        CHECK_FALSE(wec);
        std::optional<Message> wire = co_await s.read_message();
        REQUIRE(wire);
        CHECK(text_of(wire->body.uri) != "echo");
        CHECK(text_of(wire->body.content).find("secret-content") == std::string::npos);
        Message opened = *wire;
        CHECK_FALSE(open_outer(opened, c, h));
        CHECK(opened.type() == MessageType::RESPOND_URI);
        CHECK(text_of(opened.body.uri) == "echo");
        CHECK(text_of(opened.body.content) == "secret-content");
        CHECK(server.stats().total_rejected() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: per-handler inner plugins with per-request plugins, applied exactly once each way (B61 fixed, B7, B30, P§9.1)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        std::optional<std::string> seen_content;
        server.on({MessageType::REQUEST_URI, "inner"},
                  [&seen_content](const Message& m) {
                      seen_content = text_of(m.body.content);
                      return make_respond_uri_msg("reply:" + text_of(m.body.content), m.body.uri);
                  },
                  inner_layer(inner_secret, inner_key));
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        co_await client.connect();
        request_options ro;
        ro.plugins(inner_layer(inner_secret, inner_key));  // client-side instances of the same inner layer
        for (int i = 0; i < 3; ++i) {
            Message r = co_await client.request("inner", "payload", ro);
            CHECK(r.type() == MessageType::RESPOND_URI);
            CHECK(text_of(r.body.content) == "reply:payload");  // decrypted once: not ciphertext, not garbage
            CHECK(has_bytes(r.auth_data, "ihmac", 32));
            CHECK(has_bytes(r.auth_data, "iiv", 16));
            CHECK(has_bytes(r.auth_data, "hmac", 32));
            CHECK(has_bytes(r.auth_data, "iv", 16));
        }
        REQUIRE(seen_content);
        CHECK(*seen_content == "payload");
        CHECK(server.stats().handler_calls == 3);
        CHECK(server.stats().total_rejected() == 0);
        CHECK(client.stats().total_rejected() == 0);

        // Without the request's inner layer the handler is protected: the request times out
        // (the plaintext AUTH_ERROR has uri "ERROR" and fails the client's outer check, B63).
        request_outcome plain = co_await try_request(client, "inner", "payload", with_timeout(150ms));
        CHECK(plain.error == errc::timed_out);
        CHECK(server.stats().count(errc::missing_auth_field) == 1);
        CHECK(server.stats().handler_calls == 3);

        // Inner layer only, no outer plugins on either side.
        TCPServer bare(io.get_executor(), plugin_server(nullptr, nullptr));
        add_echo(bare);
        bare.on({MessageType::REQUEST_URI, "inner"}, echo_reply, inner_layer(inner_secret, inner_key));
        bare.start();
        TCPClient bare_client(io.get_executor(), plugin_client(bare.local_port(), nullptr, nullptr));
        co_await bare_client.connect();
        Message r = co_await bare_client.request("inner", "only inner", ro);
        CHECK(text_of(r.body.content) == "only inner");
        CHECK(bare.stats().total_rejected() == 0);
        co_await expect_alive(bare.local_port());
        co_await bare.stop();
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: auth failures (outer, inner) are answered with the plaintext AUTH_ERROR, even with an outer cipher; handler not called (B33)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        int protected_calls = 0;
        server.on({MessageType::REQUEST_URI, "inner"},
                  [&protected_calls](const Message& m) {
                      ++protected_calls;
                      return echo_reply(m);
                  },
                  inner_layer(inner_secret, inner_key));
        server.start();
        const auto c = stream_cipher_plugin(cipher_key);
        const auto h = hmac_plugin(secret_a);
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        {
            const bytes unsigned_frame = frame_builder(request_msg("echo", "x")).build();  // outer auth fails
            const std::error_code wec = co_await s.write(unsigned_frame);
            CHECK_FALSE(wec);
            std::optional<bytes> r = co_await s.read_frame_bytes();
            REQUIRE(r);
            CHECK(*r == auth_error_frame);
        }
        {
            Message encrypted_only = request_msg("echo", "x");
            c.encrypt(encrypted_only);
            const bytes frame = encrypted_only.encode();
            const std::error_code wec = co_await s.write(frame);
            CHECK_FALSE(wec);
            std::optional<bytes> r = co_await s.read_frame_bytes();
            REQUIRE(r);
            CHECK(*r == auth_error_frame);
        }
        {
            // Outer layer fine, inner layer missing: still a plaintext reply (no plugins at all).
            const bytes frame = seal_outer(request_msg("inner", "x"), c, h).encode();
            const std::error_code wec = co_await s.write(frame);
            CHECK_FALSE(wec);
            std::optional<bytes> r = co_await s.read_frame_bytes();
            REQUIRE(r);
            CHECK(*r == auth_error_frame);
        }
        CHECK(server.stats().count(errc::missing_auth_field) == 3);
        CHECK(server.stats().handler_calls == 0);
        CHECK(protected_calls == 0);
        co_await expect_alive_with(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key));
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: checksum failure is answered ERROR \"invalid message\" through the outer cipher and auth (B27, P§9.2 step 1)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        server.start();
        const auto c = stream_cipher_plugin(cipher_key);
        const auto h = hmac_plugin(secret_a);
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        const bytes good = seal_outer(request_msg("echo", "x"), c, h).encode();
        const bytes bad = netaio_test::flip_bit(good, 8);  // a bit of the checksum
        const std::error_code wec = co_await s.write(bad);
        CHECK_FALSE(wec);
        std::optional<Message> r = co_await s.read_message();
        REQUIRE(r);
        CHECK(r->encode() != invalid_message_frame);  // not plaintext
        CHECK(has_bytes(r->auth_data, "iv", 16));
        CHECK(has_bytes(r->auth_data, "hmac", 32));
        Message opened = *r;
        CHECK_FALSE(open_outer(opened, c, h));
        CHECK(opened.type() == MessageType::ERROR);
        CHECK(text_of(opened.body.uri) == "ERROR");
        CHECK(text_of(opened.body.content) == "invalid message");
        CHECK(server.stats().count(errc::checksum_mismatch) == 1);
        CHECK(server.stats().handler_calls == 0);
        CHECK_FALSE(s.peer_closed());
        co_await expect_alive_with(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key));
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: outer decryption failure (no iv, 15-byte iv) is dropped silently, connection kept (B28)", "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        server.start();
        const auto c = stream_cipher_plugin(cipher_key);
        const auto h = hmac_plugin(secret_a);
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        Message no_iv = request_msg("echo", "no iv");
        h.make(no_iv.auth_data, no_iv.body);  // authentic, but not encrypted
        Message short_iv = request_msg("echo", "short iv");
        short_iv.auth_data.set("iv", bytes(15, 0x11));
        h.make(short_iv.auth_data, short_iv.body);
        const bytes good = seal_outer(request_msg("echo", "good"), c, h).encode();
        bytes all = no_iv.encode();
        detail::append(all, short_iv.encode());
        detail::append(all, good);
        const std::error_code wec = co_await s.write(all);
        CHECK_FALSE(wec);
        std::optional<Message> r = co_await s.read_message();  // the first reply is the good frame's
        REQUIRE(r);
        Message opened = *r;
        CHECK_FALSE(open_outer(opened, c, h));
        CHECK(text_of(opened.body.content) == "good");
        CHECK(server.stats().count(errc::decrypt_failed) == 2);
        CHECK(server.stats().handler_calls == 1);
        CHECK_FALSE(s.peer_closed());
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: inner decryption failure is dropped silently, no reply, connection kept (B29)", "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(nullptr, nullptr));
        add_echo(server);
        handler_plugins inner;
        inner.cipher = stream_cipher_plugin(inner_key, false, "iiv");
        int calls = 0;
        server.on({MessageType::REQUEST_URI, "ic"},
                  [&calls](const Message& m) {
                      ++calls;
                      return echo_reply(m);
                  },
                  inner);
        server.start();
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        bytes both = frame_builder(request_msg("ic", "no iv")).build();
        detail::append(both, frame_builder(request_msg("echo", "after")).build());
        const std::error_code wec = co_await s.write(both);
        CHECK_FALSE(wec);
        std::optional<Message> r = co_await s.read_message();
        REQUIRE(r);
        CHECK(text_of(r->body.content) == "after");
        CHECK(calls == 0);
        CHECK(server.stats().count(errc::decrypt_failed) == 1);
        co_await expect_alive(server.local_port());
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: an echo handler returning the received message keeps its nonce and ts; the cipher's iv is new (B11, P§6)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        std::optional<AuthFields> request_fields;
        server.on({MessageType::REQUEST_URI, "self"}, [&request_fields](const Message& m) {
            request_fields = m.auth_data;
            return m;  // the received message itself
        });
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        co_await client.connect();
        REQUIRE(client.send(request_msg("self", "same")));
        std::optional<Message> reply = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(reply);
        REQUIRE(request_fields);
        CHECK(reply->type() == MessageType::REQUEST_URI);
        CHECK(text_of(reply->body.uri) == "self");
        CHECK(text_of(reply->body.content) == "same");
        REQUIRE(reply->auth_data.get_bytes("nonce"));
        REQUIRE(request_fields->get_bytes("nonce"));
        const bytes reply_nonce(reply->auth_data.get_bytes("nonce")->begin(), reply->auth_data.get_bytes("nonce")->end());
        const bytes request_nonce(request_fields->get_bytes("nonce")->begin(), request_fields->get_bytes("nonce")->end());
        CHECK(reply_nonce == request_nonce);
        const bytes reply_ts(reply->auth_data.get_bytes("ts")->begin(), reply->auth_data.get_bytes("ts")->end());
        const bytes request_ts(request_fields->get_bytes("ts")->begin(), request_fields->get_bytes("ts")->end());
        CHECK(reply_ts == request_ts);
        const bytes reply_iv(reply->auth_data.get_bytes("iv")->begin(), reply->auth_data.get_bytes("iv")->end());
        const bytes request_iv(request_fields->get_bytes("iv")->begin(), request_fields->get_bytes("iv")->end());
        CHECK(reply_iv != request_iv);
        CHECK(client.stats().total_rejected() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: wrong secret on the client: the AUTH_ERROR reply (uri ERROR) never completes the request, which times out; no ping-pong (B63, B14, B57)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), nullptr));
        add_echo(server);
        server.start();
        TCPClient wrong(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_b), nullptr));
        co_await wrong.connect();
        request_outcome o = co_await try_request(wrong, "echo", "x", with_timeout(200ms));
        CHECK(o.error == errc::timed_out);
        CHECK(server.stats().count(errc::auth_failed) == 1);
        CHECK(server.stats().handler_calls == 0);
        // The plaintext AUTH_ERROR failed the client's own outer check and was dropped there.
        CHECK(wrong.stats().count(errc::missing_auth_field) == 1);
        CHECK(wrong.stats().frames_sent == 1);
        CHECK(server.stats().frames_received == 1);

        // A client without auth gets the AUTH_ERROR itself, but it still cannot complete the request.
        TCPClient none(io.get_executor(), plugin_client(server.local_port(), nullptr, nullptr));
        co_await none.connect();
        request_outcome o2 = co_await try_request(none, "echo", "x", with_timeout(200ms));
        CHECK(o2.error == errc::timed_out);
        std::optional<Message> got = co_await none.receive_once(std::nullopt, 1s);
        REQUIRE(got);
        CHECK(got->type() == MessageType::AUTH_ERROR);
        CHECK(text_of(got->body.uri) == "ERROR");
        CHECK(text_of(got->body.content) == "HMAC auth failed");
        CHECK(none.stats().frames_sent == 1);

        co_await expect_alive_with(server.local_port(), hmac_plugin(secret_a), nullptr);
        CHECK(server.stats().frames_received == 3);  // 2 refused requests + the liveness request, nothing else
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: use_auth / use_cipher switches on the server and per request (B15, B22, B59)", "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        // Server-wide: plugins set but switched off.
        tcp_server_options off = plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key));
        off.use_auth = false;
        off.use_cipher = false;
        TCPServer plain(io.get_executor(), off);
        add_echo(plain);
        plain.start();
        TCPClient plain_client(io.get_executor(), plugin_client(plain.local_port(), nullptr, nullptr));
        co_await plain_client.connect();
        {
            Message r = co_await plain_client.request("echo", "plain");
            CHECK(text_of(r.body.content) == "plain");
            CHECK(r.auth_data.empty());
        }

        // Per request, against a server that applies both.
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        co_await client.connect();
        request_options no_auth = with_timeout(150ms);
        no_auth.use_auth(false);
        request_outcome a = co_await try_request(client, "echo", "x", no_auth);
        CHECK(a.error == errc::timed_out);
        CHECK(server.stats().count(errc::missing_auth_field) == 1);
        request_options no_cipher = with_timeout(150ms);
        no_cipher.use_cipher(false);
        request_outcome b = co_await try_request(client, "echo", "x", no_cipher);
        CHECK(b.error == errc::timed_out);  // authentic but not encrypted: dropped silently (B28)
        CHECK(server.stats().count(errc::decrypt_failed) == 1);
        CHECK(server.stats().handler_calls == 0);
        Message r = co_await client.request("echo", "both");
        CHECK(text_of(r.body.content) == "both");

        // send() with use_auth = false from the server: the client's outer check refuses it
        // and hands back its own AUTH_ERROR, sending nothing (B58, B57).
        co_await eventually([&] { return server.clients().size() == 1; });
        send_options unsigned_send;
        unsigned_send.use_auth = false;
        const std::uint64_t sent_before = client.stats().frames_sent;
        const std::uint64_t refused_before = client.stats().count(errc::missing_auth_field);  // the AUTH_ERROR reply above
        REQUIRE(server.send(server.clients().front(), make_ok_msg("pushed", "push"), unsigned_send));
        std::optional<Message> local = co_await client.receive_once(std::nullopt, 1s);
        REQUIRE(local);
        CHECK(local->type() == MessageType::AUTH_ERROR);
        CHECK(text_of(local->body.content) == "HMAC auth failed");
        CHECK(client.stats().count(errc::missing_auth_field) == refused_before + 1);
        CHECK(client.stats().frames_sent == sent_before);
        co_await plain.stop();
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: swapping outer plugins at run time on server and client (B15)", "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), nullptr));
        add_echo(server);
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), nullptr));
        co_await client.connect();
        {
            Message r = co_await client.request("echo", "a");
            CHECK(text_of(r.body.content) == "a");
        }
        server.set_auth_plugin(hmac_plugin(secret_b));
        request_outcome stale = co_await try_request(client, "echo", "x", with_timeout(150ms));
        CHECK(stale.error == errc::timed_out);
        CHECK(server.stats().count(errc::auth_failed) == 1);
        client.set_auth_plugin(hmac_plugin(secret_b));
        {
            Message r = co_await client.request("echo", "b");
            CHECK(text_of(r.body.content) == "b");
        }
        server.set_cipher_plugin(stream_cipher_plugin(cipher_key));
        client.set_cipher_plugin(stream_cipher_plugin(cipher_key));
        {
            Message r = co_await client.request("echo", "b+cipher");
            CHECK(text_of(r.body.content) == "b+cipher");
            CHECK(has_bytes(r.auth_data, "iv", 16));
        }
        server.set_auth_plugin(nullptr);
        server.set_cipher_plugin(nullptr);
        client.set_auth_plugin(nullptr);
        client.set_cipher_plugin(nullptr);
        {
            Message r = co_await client.request("echo", "plain");
            CHECK(text_of(r.body.content) == "plain");
            CHECK(r.auth_data.empty());
        }
        CHECK(server.stats().handler_calls == 4);  // a, b, b+cipher, plain
        co_await expect_alive(server.local_port());
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: an ephemeral handler is consumed even when its inner auth fails; the next message falls through (B6)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(nullptr, nullptr));
        add_echo(server);
        int once_calls = 0;
        server.on({MessageType::REQUEST_URI, "e"}, [](const Message& m) { return make_respond_uri_msg("permanent", m.body.uri); });
        server.once({MessageType::REQUEST_URI, "e"},
                    [&once_calls](const Message& m) {
                        ++once_calls;
                        return make_respond_uri_msg("once", m.body.uri);
                    },
                    inner_layer(inner_secret, inner_key));
        server.start();
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        const bytes frame = frame_builder(request_msg("e", "")).build();
        std::error_code wec = co_await s.write(frame);
        CHECK_FALSE(wec);
        std::optional<bytes> first = co_await s.read_frame_bytes();
        REQUIRE(first);
        CHECK(*first == auth_error_frame);
        wec = co_await s.write(frame);
        CHECK_FALSE(wec);
        std::optional<Message> second = co_await s.read_message();
        REQUIRE(second);
        CHECK(text_of(second->body.content) == "permanent");
        CHECK(once_calls == 0);
        co_await expect_alive(server.local_port());
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: broadcast through the outer layer is prepared once: every client gets the same nonce, ts and iv (B36, P§9.7)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), plugin_server(hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        add_echo(server);
        server.start();
        TCPClient one(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        TCPClient two(io.get_executor(), plugin_client(server.local_port(), hmac_plugin(secret_a), stream_cipher_plugin(cipher_key)));
        co_await one.connect();
        co_await two.connect();
        co_await eventually([&] { return server.clients().size() == 2; });
        CHECK(server.broadcast(make_ok_msg("to all", "bc")) == 2);
        std::optional<Message> a = co_await one.receive_once(std::nullopt, 2s);
        std::optional<Message> b = co_await two.receive_once(std::nullopt, 2s);
        REQUIRE(a);
        REQUIRE(b);
        CHECK(text_of(a->body.content) == "to all");
        CHECK(text_of(b->body.content) == "to all");
        const std::array<const char*, 4> fields{"nonce", "ts", "iv", "hmac"};
        for (const char* field : fields) {
            INFO(field);
            REQUIRE(a->auth_data.get_bytes(field));
            REQUIRE(b->auth_data.get_bytes(field));
            CHECK(bytes(a->auth_data.get_bytes(field)->begin(), a->auth_data.get_bytes(field)->end()) ==
                  bytes(b->auth_data.get_bytes(field)->begin(), b->auth_data.get_bytes(field)->end()));
        }
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: python_semantics HMAC with a short secret on both sides (P§6 'test' secret) interoperates", "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        hmac_auth_options py;
        py.secret = to_bytes("test");
        py.python_semantics();
        TCPServer server(io.get_executor(), plugin_server(HMACAuthPlugin(py), nullptr));
        add_echo(server);
        server.start();
        TCPClient client(io.get_executor(), plugin_client(server.local_port(), HMACAuthPlugin(py), nullptr));
        co_await client.connect();
        Message r = co_await client.request("echo", "python");
        CHECK(text_of(r.body.content) == "python");
        // Python semantics has no replay cache: the same captured frame is accepted twice.
        HMACAuthPlugin signer(py);
        Message m = request_msg("echo", "again");
        signer.make(m.auth_data, m.body);
        const bytes captured = m.encode();
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        for (int i = 0; i < 2; ++i) {
            const std::error_code wec = co_await s.write(captured);
            CHECK_FALSE(wec);
            std::optional<Message> reply = co_await s.read_message();
            REQUIRE(reply);
            CHECK(reply->type() == MessageType::RESPOND_URI);
        }
        CHECK(server.stats().total_rejected() == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp plugins: plugins are called with the node applying them: its kind, its local peer, its logger (P§9, netaio passes node)",
          "[tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        node_probe_plugin server_probe;
        node_probe_plugin client_probe;
        auto server_log = std::make_shared<log_lines>();
        auto client_log = std::make_shared<log_lines>();

        tcp_server_options so = plugin_server(server_probe, nullptr);
        so.local_peer = netaio_test::local_peer_named("the-server");
        so.log = netaio_test::recording_logger(server_log);
        TCPServer server(io.get_executor(), so);
        add_echo(server);
        server.start();

        tcp_client_options co = plugin_client(server.local_port(), client_probe, nullptr);
        co.log = netaio_test::recording_logger(client_log);  // no local peer: the view says so
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        Message r = co_await client.request("echo", "hi");
        CHECK(text_of(r.body.content) == "hi");

        // The server checked the request and made the reply; the client made the
        // request and checked the reply. Each saw its own node.
        REQUIRE(server_probe.calls->size() == 2);
        CHECK(server_probe.calls->at(0).call == "check");
        CHECK(server_probe.calls->at(1).call == "make");
        for (const auto& s : *server_probe.calls) {
            CHECK(s.has_node);
            CHECK(s.kind == node_kind::tcp_server);
            CHECK(s.local_id == "the-server");
        }
        REQUIRE(client_probe.calls->size() == 2);
        CHECK(client_probe.calls->at(0).call == "make");
        CHECK(client_probe.calls->at(1).call == "check");
        for (const auto& s : *client_probe.calls) {
            CHECK(s.has_node);
            CHECK(s.kind == node_kind::tcp_client);
            CHECK(s.local_id.empty());
        }
        // A plugin's log lines go to its node's sink, under the node's logger name.
        CHECK(netaio_test::contains(*server_log, "netaio.server: probe check"));
        CHECK(netaio_test::contains(*server_log, "netaio.server: probe make"));
        CHECK(netaio_test::contains(*client_log, "netaio.client: probe make"));
        CHECK(netaio_test::contains(*client_log, "netaio.client: probe check"));
        CHECK_FALSE(netaio_test::contains(*client_log, "netaio.server: probe check"));

        // set_logger() later: the plugin follows the node's new sink.
        auto replaced = std::make_shared<log_lines>();
        server.set_logger(netaio_test::recording_logger(replaced));
        Message again = co_await client.request("echo", "again");
        CHECK(text_of(again.body.content) == "again");
        CHECK(netaio_test::contains(*replaced, "netaio.server: probe check"));

        client.close_all();
        co_await server.stop();
    });
}
