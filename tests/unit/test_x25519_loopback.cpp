// X25519CipherPlugin over loopback: TCP server/client and two UDP nodes with the plugin
// as the outer cipher (keys pinned in the peer tables), and as an inner per-handler
// cipher under the compatible outer HMACAuthPlugin + Sha256StreamCipherPlugin (keys
// exchanged by netaio's peer management). Hostile frames from an injector that owns
// a test key pair (RELIABILITY §3.5 D6, D7): unknown sender, tampered MAC, short box,
// replay and reflection are dropped and counted by reason, and a good exchange works
// afterwards.
//
// GCC 12: never co_await inside CHECK/REQUIRE, no aggregate or braced-list temporaries
// inside co_await expressions, no capturing coroutine lambdas.
#include "injector.hpp"
#include "loopback_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/udp_node.hpp>
#include <netaio/x25519_cipher_plugin.hpp>

#include <asio/ip/udp.hpp>

#include <memory>
#include <optional>
#include <string>

using namespace netaio;
using netaio_test::eventually;
using netaio_test::flip_bit;
using netaio_test::frame_builder;
using netaio_test::raw_socket;
using netaio_test::request_msg;
using netaio_test::run_loopback;
using netaio_test::text_of;

namespace {

bytes seed_of(std::uint8_t first) {
    bytes s(32);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(first + i);
    return s;
}

std::shared_ptr<X25519CipherPlugin> x25519(std::uint8_t seed_start, bool encrypt_uri = false) {
    x25519_cipher_options o;
    o.seed = seed_of(seed_start);
    o.encrypt_uri = encrypt_uri;
    return std::make_shared<X25519CipherPlugin>(std::move(o));
}

const DefaultPeerPlugin peer_plugin{};

/// How a hand-made peer (the injector) sees the node it talks to.
Peer peer_record(const X25519CipherPlugin& plugin, const std::string& id) { return plugin.local_peer(id); }

Message echo_reply(const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); }

Message private_reply(const Message& m) {
    return make_respond_uri_msg("private:" + text_of(m.body.content), m.body.uri);
}

tcp_server_options server_with(any_auth_plugin auth, any_cipher_plugin cipher) {
    tcp_server_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.stop_timeout = 100ms;
    o.auth_plugin = std::move(auth);
    o.cipher_plugin = std::move(cipher);
    return o;
}

tcp_client_options client_with(std::uint16_t port, any_auth_plugin auth, any_cipher_plugin cipher) {
    tcp_client_options o;
    o.port = port;
    o.auth_plugin = std::move(auth);
    o.cipher_plugin = std::move(cipher);
    return o;
}

udp_node_options udp_with(any_cipher_plugin cipher) {
    udp_node_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.multicast_interface = "127.0.0.1";
    o.multicast_ttl = 1;
    o.join_multicast = false;
    o.cipher_plugin = std::move(cipher);
    return o;
}

HMACAuthPlugin outer_hmac() {
    hmac_auth_options o;
    o.secret = to_bytes("x25519-loopback-outer-secret-0123");
    return HMACAuthPlugin(o);
}

Sha256StreamCipherPlugin outer_stream_cipher() {
    sha256_stream_cipher_options o;
    o.key = to_bytes("x25519-loopback-outer-stream-key!");
    return Sha256StreamCipherPlugin(o);
}

/// A raw UDP socket playing a peer (bound to 127.0.0.1, an ephemeral port).
struct udp_injector {
    asio::ip::udp::socket socket;
    explicit udp_injector(asio::io_context& io) : socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    peer_address address() const { return peer_address("127.0.0.1", socket.local_endpoint().port()); }
    void send(const bytes& data, std::uint16_t port) {
        socket.send_to(asio::buffer(data), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
    std::size_t available() const { return socket.available(); }
    bytes receive() {
        bytes buffer(65536);
        asio::ip::udp::endpoint from;
        buffer.resize(socket.receive_from(asio::buffer(buffer), from));
        return buffer;
    }
};

}  // namespace

TEST_CASE("x25519 tcp: outer X25519 on server and client, peers pinned by pubkey (P§8.1, P§9.2, P§9.4)",
          "[x25519][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto server_x = x25519(0x10);
        auto client_x = x25519(0x20);
        TCPServer server(io.get_executor(), server_with(nullptr, server_x));
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), client_with(server.local_port(), nullptr, client_x));
        co_await client.connect();

        // Keys pinned out of band: each side records the other's peer data at its address.
        // tag::x25519-pin[]
        const peer_update pinned = client.peers().add_or_update(to_bytes("server"), server_x->peer_data(),
                                                                 client.default_server());
        // end::x25519-pin[]
        CHECK(accepted(pinned));
        co_await eventually([&] { return server.clients().size() == 1; });
        CHECK(accepted(server.peers().add_or_update(to_bytes("client"), client_x->peer_data(), server.clients()[0].remote())));

        for (int i = 0; i < 3; ++i) {
            const std::string content = "sealed " + std::to_string(i);
            Message r = co_await client.request("echo", content);
            CHECK(r.type() == MessageType::RESPOND_URI);
            CHECK(text_of(r.body.content) == content);
        }
        CHECK(server.stats().total_rejected() == 0);
        CHECK(client.stats().total_rejected() == 0);
        CHECK(server_x->shared_keys()->size() == 1);  // one scalar multiplication for the whole exchange
        CHECK(server_x->shared_keys()->misses() == 1);
        co_await server.stop();
    });
}

TEST_CASE("x25519 tcp: unknown sender, tampered MAC, short box, replay and reflection are dropped and counted (D6, D7)",
          "[x25519][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto server_x = x25519(0x10);
        TCPServer server(io.get_executor(), server_with(nullptr, server_x));
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();

        // The injector owns a test key pair and knows the server's key.
        const X25519CipherPlugin raw_x(x25519_cipher_options{.seed = seed_of(0x30)});
        const Peer server_peer = peer_record(*server_x, "server");
        const plugin_context to_server{&server_peer, &peer_plugin};
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        co_await eventually([&] { return server.clients().size() == 1; });

        // 1. Not a known peer yet: the server has no key to open it with.
        Message hello = request_msg("echo", "who am I");
        raw_x.encrypt(hello, to_server);
        std::error_code wec = co_await s.write(hello.encode());
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::missing_peer_data) == 1; });

        const peer_address raw_address("127.0.0.1", s.local_port());
        CHECK(accepted(server.peers().add_or_update(to_bytes("raw"), raw_x.peer_data(), raw_address)));

        // 2. A valid CRC over a box whose MAC was flipped (body = u16 | "echo" | box).
        Message good = request_msg("echo", "genuine");
        raw_x.encrypt(good, to_server);
        const bytes tampered = frame_builder(good).body_bytes(flip_bit(good.body.encode(), 2 + 4 + 30)).build();
        wec = co_await s.write(tampered);
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::decrypt_failed) == 1; });

        // 3. A body shorter than nonce + MAC.
        wec = co_await s.write(request_msg("echo", std::string(39, 'x')).encode());
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::decrypt_failed) == 2; });

        // 4. The genuine frame is answered, boxed for us.
        wec = co_await s.write(good.encode());
        CHECK_FALSE(wec);
        std::optional<bytes> reply_frame = co_await s.read_frame_bytes();
        REQUIRE(reply_frame);
        std::error_code dec;
        Message reply = Message::decode(*reply_frame, dec);
        REQUIRE_FALSE(dec);
        CHECK(reply.body.content.size() == 7 + X25519CipherPlugin::overhead);
        CHECK_FALSE(raw_x.decrypt(reply, to_server));
        CHECK(reply.type() == MessageType::RESPOND_URI);
        CHECK(text_of(reply.body.content) == "genuine");

        // 5. The same frame again: replayed, not answered.
        wec = co_await s.write(good.encode());
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::replayed) == 1; });

        // 6. The server's own reply sent back to it opens with the same shared key -
        //    the reflection guard refuses it.
        wec = co_await s.write(*reply_frame);
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::reflected) == 1; });
        CHECK(server.stats().handler_calls == 1);

        // Liveness: a fresh genuine frame on the same connection is answered.
        Message again = request_msg("echo", "still here");
        raw_x.encrypt(again, to_server);
        wec = co_await s.write(again.encode());
        CHECK_FALSE(wec);
        std::optional<Message> second = co_await s.read_message();
        REQUIRE(second);
        Message opened = *second;
        CHECK_FALSE(raw_x.decrypt(opened, to_server));
        CHECK(text_of(opened.body.content) == "still here");
        CHECK(server.stats().count(errc::decrypt_failed) == 2);
        CHECK(server.stats().count(errc::missing_peer_data) == 1);
        CHECK(server.stats().handler_calls == 2);
        co_await server.stop();
    });
}

TEST_CASE("x25519 udp: two nodes with outer X25519; reflected and tampered datagrams are dropped and counted (D6, D7)",
          "[x25519][udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto a_x = x25519(0x40, /*encrypt_uri=*/true);
        auto b_x = x25519(0x50, /*encrypt_uri=*/true);
        UDPNode a(io.get_executor(), udp_with(a_x));
        UDPNode b(io.get_executor(), udp_with(b_x));
        a.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        b.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        a.start();
        b.start();
        const peer_address a_address("127.0.0.1", a.local_port());
        const peer_address b_address("127.0.0.1", b.local_port());
        CHECK(accepted(a.peers().add_or_update(to_bytes("b"), b_x->peer_data(), b_address)));
        CHECK(accepted(b.peers().add_or_update(to_bytes("a"), a_x->peer_data(), a_address)));

        Message r = co_await a.request("echo", b_address, "over udp");
        CHECK(text_of(r.body.content) == "over udp");
        Message back = co_await b.request("echo", a_address, "and back");
        CHECK(text_of(back.body.content) == "and back");

        // An injector with its own key pair, pinned at A (encrypt_uri like the nodes).
        x25519_cipher_options io_options;
        io_options.seed = seed_of(0x60);
        io_options.encrypt_uri = true;
        const X25519CipherPlugin inj_x(io_options);
        udp_injector inj(io);
        CHECK(accepted(a.peers().add_or_update(to_bytes("inj"), inj_x.peer_data(), inj.address())));
        const Peer a_peer = peer_record(*a_x, "a");
        const plugin_context to_a{&a_peer, &peer_plugin};

        // D7: capture A's outbound frame to the injector and deliver it back to A.
        CHECK(a.send(request_msg("echo", "for inj"), inj.address()));
        co_await eventually([&] { return inj.available() > 0; });
        const bytes captured = inj.receive();
        Message check = Message::decode(captured);
        CHECK_FALSE(inj_x.decrypt(check, to_a));  // it is a genuine frame for the injector ...
        CHECK(text_of(check.body.content) == "for inj");
        inj.send(captured, a.local_port());       // ... and A refuses it coming back
        co_await eventually([&] { return a.stats().count(errc::reflected) == 1; });

        // D6: a tampered box (checksum recomputed) and a short one.
        Message good = request_msg("echo", "from inj");
        inj_x.encrypt(good, to_a);
        bytes body = good.body.encode();
        body.back() ^= 0x80;
        inj.send(frame_builder(good).body_bytes(body).build(), a.local_port());
        co_await eventually([&] { return a.stats().count(errc::decrypt_failed) == 1; });
        inj.send(request_msg("x", "short").encode(), a.local_port());
        co_await eventually([&] { return a.stats().count(errc::decrypt_failed) == 2; });

        // The genuine datagram is answered, then refused as a replay.
        inj.send(good.encode(), a.local_port());
        co_await eventually([&] { return inj.available() > 0; });
        Message reply = Message::decode(inj.receive());
        CHECK_FALSE(inj_x.decrypt(reply, to_a));
        CHECK(text_of(reply.body.content) == "from inj");
        inj.send(good.encode(), a.local_port());
        co_await eventually([&] { return a.stats().count(errc::replayed) == 1; });
        CHECK(inj.available() == 0);

        // Liveness between the two nodes.
        Message after = co_await a.request("echo", b_address, "still fine");
        CHECK(text_of(after.body.content) == "still fine");
        CHECK(b.stats().total_rejected() == 0);
        a.stop();
        b.stop();
    });
}

TEST_CASE("x25519 tcp: inner per-handler X25519 under outer HMAC + Sha256 cipher; keys from peer management",
          "[x25519][tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const bytes server_seed = seed_of(0x10);
        const bytes client_seed = seed_of(0x20);
        // tag::x25519-inner[]
        // Each node derives its key pairs from a secret 32-byte seed and advertises
        // {"pubkey": ...} as its peer data. Peer management (here under an outer HMAC +
        // stream-cipher layer) delivers the keys; the handler's inner X25519 layer then
        // boxes the request and the reply for that one peer.
        x25519_cipher_options server_keys;
        server_keys.seed = server_seed;
        auto server_x = std::make_shared<X25519CipherPlugin>(server_keys);
        tcp_server_options so = server_with(outer_hmac(), outer_stream_cipher());
        so.local_peer = server_x->local_peer("server");
        TCPServer server(io.get_executor(), so);
        handler_plugins inner;
        inner.cipher = server_x;
        server.on({MessageType::REQUEST_URI, "private"}, private_reply, inner);
        server.manage_peers_automatically();
        server.start();

        x25519_cipher_options client_keys;
        client_keys.seed = client_seed;
        auto client_x = std::make_shared<X25519CipherPlugin>(client_keys);
        tcp_client_options co = client_with(server.local_port(), outer_hmac(), outer_stream_cipher());
        co.local_peer = client_x->local_peer("client");
        TCPClient client(io.get_executor(), co);
        client.manage_peers_automatically();
        co_await client.connect();
        co_await eventually([&] { return server.peers().size() == 1 && client.peers().size() == 1; });

        handler_plugins client_inner;
        client_inner.cipher = client_x;
        Message r = co_await client.request("private", "payload", request_options().plugins(client_inner));
        // end::x25519-inner[]
        CHECK(r.type() == MessageType::RESPOND_URI);
        CHECK(text_of(r.body.content) == "private:payload");  // the handler saw the plaintext
        CHECK(server_x->shared_keys()->size() == 1);
        CHECK(server.stats().total_rejected() == 0);
        CHECK(client.stats().total_rejected() == 0);

        // Without the inner layer the handler's decrypt refuses the plaintext (too short to be a box).
        request_options plain;
        plain.timeout(150ms);
        bool timed_out = false;
        try {
            (void)co_await client.request("private", "no box", plain);
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        CHECK(server.stats().count(errc::decrypt_failed) == 1);

        // An injector that knows the outer secrets but tampers with the inner box: the
        // outer layer verifies, the inner decrypt fails and is counted.
        const X25519CipherPlugin raw_x(x25519_cipher_options{.seed = seed_of(0x30)});
        const Peer server_peer = peer_record(*server_x, "server");
        const plugin_context to_server{&server_peer, &peer_plugin};
        const auto outer_c = outer_stream_cipher();
        const auto outer_h = outer_hmac();
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        co_await eventually([&] { return server.clients().size() == 2; });
        CHECK(accepted(server.peers().add_or_update(to_bytes("raw"), raw_x.peer_data(),
                                                    peer_address("127.0.0.1", s.local_port()))));
        Message forged = request_msg("private", "forged");
        raw_x.encrypt(forged, to_server);
        forged.body.content[30] ^= 0x01;  // inside the MAC
        outer_c.encrypt(forged);
        outer_h.make(forged.auth_data, forged.body);
        std::error_code wec = co_await s.write(forged.encode());
        CHECK_FALSE(wec);
        co_await eventually([&] { return server.stats().count(errc::decrypt_failed) == 2; });
        CHECK(server.stats().count(errc::auth_failed) == 0);

        // The same injector, honest this time, gets a reply sealed in both layers.
        Message honest = request_msg("private", "honest");
        raw_x.encrypt(honest, to_server);
        outer_c.encrypt(honest);
        outer_h.make(honest.auth_data, honest.body);
        wec = co_await s.write(honest.encode());
        CHECK_FALSE(wec);
        std::optional<Message> wire = co_await s.read_message();
        REQUIRE(wire);
        Message opened = *wire;
        CHECK_FALSE(outer_h.check(opened.auth_data, opened.body));
        CHECK_FALSE(outer_c.decrypt(opened));
        CHECK(text_of(opened.body.uri) == "private");  // inner X25519 leaves the uri for routing
        CHECK_FALSE(raw_x.decrypt(opened, to_server));
        CHECK(text_of(opened.body.content) == "private:honest");
        co_await server.stop();
    });
}
