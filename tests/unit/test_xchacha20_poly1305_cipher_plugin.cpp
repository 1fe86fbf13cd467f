// tests/unit/test_xchacha20_poly1305_cipher_plugin.cpp - XChaCha20Poly1305CipherPlugin:
// the wire format and AD exactly as documented (checked with libsodium directly),
// every rejection of RELIABILITY §3.5 D10 (tampering, wrong AD: type and direction
// swaps, wrong key, truncated tag) plus reflection, freshness and replay, the
// message left unchanged on failure, crypto_kx keys, and loopback round trips
// over TCP and UDP, alone and nested under the compatible HMAC + stream cipher.
#include "modern_plugin_loopback.hpp"

#include <netaio/xchacha20_poly1305_cipher_plugin.hpp>

#include <catch2/catch.hpp>

using namespace netaio;
using namespace std::chrono_literals;
using netaio_test::eventually;
using netaio_test::run_loopback;
using netaio_test::text_of;
namespace modern = netaio_test::modern;

namespace {

constexpr std::int64_t t0 = 1700000000;
const bytes master(32, 0x4B);
const bytes other_master(32, 0x4C);

xchacha20_poly1305_cipher_options opts(aead_role role, bool encrypt_uri = true, const bytes& key = master,
                                       std::string sender = "", std::int64_t now = t0) {
    xchacha20_poly1305_cipher_options o;
    o.master_key = key;
    o.role = role;
    o.encrypt_uri = encrypt_uri;
    o.sender_id = to_bytes(sender);
    o.clock = clock_source::fixed(now);
    return o;
}

XChaCha20Poly1305CipherPlugin client(bool encrypt_uri = true) { return XChaCha20Poly1305CipherPlugin(opts(aead_role::client, encrypt_uri)); }
XChaCha20Poly1305CipherPlugin server(bool encrypt_uri = true) { return XChaCha20Poly1305CipherPlugin(opts(aead_role::server, encrypt_uri)); }
XChaCha20Poly1305CipherPlugin peer(std::string id, bool encrypt_uri = true) {
    return XChaCha20Poly1305CipherPlugin(opts(aead_role::peer, encrypt_uri, master, std::move(id)));
}

Message encrypted_by(const XChaCha20Poly1305CipherPlugin& p, std::string_view content = "secret content",
                     std::string_view uri = "echo", MessageType type = MessageType::REQUEST_URI) {
    Message m = Message::prepare(Body::prepare(content, uri), type);
    p.encrypt(m);
    return m;
}

bytes field(const AuthFields& f, std::string_view key) {
    auto v = f.get_bytes(key);
    REQUIRE(v);
    return bytes(v->begin(), v->end());
}

/// k_c2s / k_s2c / k_peer derived independently with libsodium (subkeys 1, 2, 3).
bytes derived(std::uint64_t id, const bytes& key = master) {
    bytes out(32);
    crypto_kdf_derive_from_key(out.data(), out.size(), id, "netaioae", key.data());
    return out;
}

/// Decrypt `m` by hand from the documented format; nullopt when the tag fails.
std::optional<bytes> open_by_hand(const Message& m, const bytes& k, std::string_view direction, bool uri_in_ad) {
    bytes ad = to_bytes("netaio-aead-v1");
    ad.push_back(static_cast<std::uint8_t>(m.type()));
    ad.push_back(static_cast<std::uint8_t>(direction.size()));
    detail::append(ad, as_bytes_view(direction));
    detail::append(ad, field(m.auth_data, "ts"));
    if (uri_in_ad) {
        detail::append_u16be(ad, static_cast<std::uint16_t>(m.body.uri.size()));
        detail::append(ad, m.body.uri);
    }
    const bytes nonce = field(m.auth_data, "xn");
    bytes pt(m.body.content.size() - 16);
    unsigned long long n = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt.data(), &n, nullptr, m.body.content.data(), m.body.content.size(),
                                                   ad.data(), ad.size(), nonce.data(), k.data()) != 0)
        return std::nullopt;
    pt.resize(n);
    return pt;
}

/// Decrypt and expect failure with `reason`, the message left exactly as it was.
void expect_refused(const XChaCha20Poly1305CipherPlugin& p, const Message& m, errc reason) {
    Message copy = m;
    CHECK(p.decrypt(copy) == reason);
    CHECK(copy == m);
    CHECK(copy.header == m.header);
}

// ---- loopback layers ----

handler_plugins layer(aead_role role, bool encrypt_uri, std::string sender = "") {
    xchacha20_poly1305_cipher_options o;
    o.master_key = master;
    o.role = role;
    o.encrypt_uri = encrypt_uri;
    o.sender_id = to_bytes(sender);
    handler_plugins p;
    p.cipher = XChaCha20Poly1305CipherPlugin(o);
    return p;
}

}  // namespace

TEST_CASE("XChaCha20Poly1305CipherPlugin: wire format and AD as documented (encrypt_uri on and off)", "[modern][xchacha]") {
    const XChaCha20Poly1305CipherPlugin c = client();
    const Message m = encrypted_by(c, "secret content", "echo");
    CHECK(m.body.uri.empty());
    CHECK(m.body.content.size() == 2 + 4 + 14 + 16);  // u16 uri_len, uri, content, tag
    CHECK(field(m.auth_data, "xn").size() == 24);
    bytes ts(4);
    detail::put_u32be(ts.data(), static_cast<std::uint32_t>(t0));
    CHECK(field(m.auth_data, "ts") == ts);
    CHECK_FALSE(m.auth_data.contains("xs"));
    CHECK(m.header.body_length == m.body.size());
    CHECK(m.header.checksum == m.body_checksum());
    auto pt = open_by_hand(m, derived(1), "c2s", false);
    REQUIRE(pt);
    bytes expected = {0, 4, 'e', 'c', 'h', 'o'};
    detail::append(expected, as_bytes_view("secret content"));
    CHECK(*pt == expected);
    CHECK_FALSE(open_by_hand(m, derived(2), "c2s", false));  // k_s2c is the other direction's key

    Message back = m;
    REQUIRE_FALSE(server().decrypt(back));
    CHECK(text_of(back.body.uri) == "echo");
    CHECK(text_of(back.body.content) == "secret content");
    CHECK(back.header.checksum == back.body_checksum());

    // The uri in clear, authenticated through the AD.
    const Message clear = encrypted_by(server(false), "reply", "route");
    CHECK(text_of(clear.body.uri) == "route");
    CHECK(clear.body.content.size() == 5 + 16);
    auto pt2 = open_by_hand(clear, derived(2), "s2c", true);
    REQUIRE(pt2);
    CHECK(text_of(*pt2) == "reply");
    Message opened = clear;
    REQUIRE_FALSE(client(false).decrypt(opened));
    CHECK(text_of(opened.body.content) == "reply");

    // Peer role: the sender id travels in xs and is the direction; k_peer = subkey 3.
    const Message from_a = encrypted_by(peer("node-a"), "hi", "u");
    CHECK(text_of(field(from_a.auth_data, "xs")) == "node-a");
    CHECK(open_by_hand(from_a, derived(3), "node-a", false));
    Message at_b = from_a;
    REQUIRE_FALSE(peer("node-b").decrypt(at_b));
    CHECK(text_of(at_b.body.content) == "hi");

    // Empty content and empty uri are fine.
    Message empty = encrypted_by(c, "", "");
    REQUIRE_FALSE(server().decrypt(empty));
    CHECK(empty.body.content.empty());
    CHECK(empty.body.uri.empty());
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: every encryption draws a fresh nonce; an existing 4-byte ts is reused", "[modern][xchacha]") {
    const XChaCha20Poly1305CipherPlugin c = client();
    const Message a = encrypted_by(c);
    const Message b = encrypted_by(c);
    CHECK(field(a.auth_data, "xn") != field(b.auth_data, "xn"));
    CHECK(a.body.content != b.body.content);

    Message m = Message::prepare(Body::prepare("x", "y"), MessageType::REQUEST_URI);
    m.auth_data.set("xn", bytes(24, 0));  // never reused
    const bytes inner_ts = {0x65, 0x53, 0xf0, 0xff};  // t0 - 1, written by an inner layer
    m.auth_data.set("ts", inner_ts);
    c.encrypt(m);
    CHECK(field(m.auth_data, "xn") != bytes(24, 0));
    CHECK(field(m.auth_data, "ts") == inner_ts);
    CHECK_FALSE(server().decrypt(m));
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: tampering, wrong AD and wrong keys fail with decrypt_failed, message unchanged (D10)",
          "[modern][xchacha]") {
    const XChaCha20Poly1305CipherPlugin s = server();
    const Message good = encrypted_by(client());

    SECTION("every ciphertext and tag byte") {
        for (std::size_t i = 0; i < good.body.content.size(); ++i) {
            INFO("byte " << i);
            Message m = good;
            m.body.content[i] ^= 0x01;
            expect_refused(s, m, errc::decrypt_failed);
        }
    }
    SECTION("truncated tag, short ciphertext, a wire uri where none belongs") {
        Message m = good;
        m.body.content.pop_back();
        expect_refused(s, m, errc::decrypt_failed);
        m.body.content.resize(15);
        expect_refused(s, m, errc::decrypt_failed);
        m.body.content.clear();
        expect_refused(s, m, errc::decrypt_failed);
        m = good;
        m.body.uri = to_bytes("x");
        expect_refused(s, m, errc::decrypt_failed);
    }
    SECTION("type swap: REQUEST_URI re-typed to DELETE_URI") {
        Message m = good;
        m.header.message_type = MessageType::DELETE_URI;
        expect_refused(s, m, errc::decrypt_failed);
    }
    SECTION("ts and xn changed (both under the tag)") {
        Message m = good;
        bytes ts = field(good.auth_data, "ts");
        ts[3] ^= 1;
        m.auth_data.set("ts", ts);
        expect_refused(s, m, errc::decrypt_failed);
        m = good;
        m.auth_data.set("xn", netaio_test::flip_bit(field(good.auth_data, "xn"), 23));
        expect_refused(s, m, errc::decrypt_failed);
    }
    SECTION("the uri in clear is under the AD") {
        const XChaCha20Poly1305CipherPlugin sc = server(false);
        Message m = encrypted_by(client(false), "c", "route");
        m.body.uri = to_bytes("rout3");
        expect_refused(sc, m, errc::decrypt_failed);
        // encrypt_uri must match on both sides
        expect_refused(s, encrypted_by(client(false)), errc::decrypt_failed);
    }
    SECTION("wrong key") {
        const XChaCha20Poly1305CipherPlugin stranger(opts(aead_role::server, true, other_master));
        expect_refused(stranger, good, errc::decrypt_failed);
    }
    SECTION("missing or wrongly sized xn and ts") {
        for (const auto& [name, size] : std::vector<std::pair<std::string, std::size_t>>{
                 {"xn", 0}, {"xn", 23}, {"xn", 25}, {"ts", 3}, {"ts", 5}}) {
            INFO(name << " of " << size);
            Message m = good;
            m.auth_data.set(name, bytes(size, 1));
            expect_refused(s, m, errc::decrypt_failed);
            m.auth_data.erase(name);
            expect_refused(s, m, errc::decrypt_failed);
        }
    }
    SECTION("peer role: another sender id, a missing or oversized one") {
        const XChaCha20Poly1305CipherPlugin b = peer("node-b");
        const Message from_a = encrypted_by(peer("node-a"));
        Message m = from_a;
        m.auth_data.set("xs", to_bytes("node-c"));
        expect_refused(b, m, errc::decrypt_failed);
        m.auth_data.erase("xs");
        expect_refused(b, m, errc::decrypt_failed);
        m.auth_data.set("xs", bytes(256, 'a'));
        expect_refused(b, m, errc::decrypt_failed);
    }
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: a frame sent back to its sender is reflected (direction swap)", "[modern][xchacha]") {
    // Client and server: the client's c2s frame delivered to the client.
    const XChaCha20Poly1305CipherPlugin c = client();
    expect_refused(c, encrypted_by(c), errc::reflected);
    const XChaCha20Poly1305CipherPlugin s = server();
    expect_refused(s, encrypted_by(s), errc::reflected);
    // Someone else's s2c under another key is not ours: plain decrypt_failed.
    expect_refused(c, encrypted_by(XChaCha20Poly1305CipherPlugin(opts(aead_role::client, true, other_master))),
                   errc::decrypt_failed);
    // Peer role: our own id in xs.
    const XChaCha20Poly1305CipherPlugin a = peer("node-a");
    expect_refused(a, encrypted_by(a), errc::reflected);
    // Relabelling our frame with another id does not get it through either.
    Message relabelled = encrypted_by(a);
    relabelled.auth_data.set("xs", to_bytes("node-z"));
    expect_refused(a, relabelled, errc::decrypt_failed);
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: freshness window and replay cache (nonces), filled only after the tag verified",
          "[modern][xchacha]") {
    const Message good = encrypted_by(client());  // ts = t0
    auto server_at = [](std::int64_t now) { return XChaCha20Poly1305CipherPlugin(opts(aead_role::server, true, master, "", now)); };
    expect_refused(server_at(t0 + 61), good, errc::stale_timestamp);
    expect_refused(server_at(t0 - 61), good, errc::future_timestamp);
    Message edge = good;
    CHECK_FALSE(server_at(t0 + 60).decrypt(edge));
    edge = good;
    CHECK_FALSE(server_at(t0 - 60).decrypt(edge));

    xchacha20_poly1305_cipher_options o = opts(aead_role::server);
    o.replay_cache_capacity = 2;
    const XChaCha20Poly1305CipherPlugin s(o);
    Message first = good;
    CHECK_FALSE(s.decrypt(first));
    expect_refused(s, good, errc::replayed);
    for (int i = 0; i < 4; ++i) {
        Message forged = encrypted_by(client());
        forged.body.content[0] ^= 1;
        expect_refused(s, forged, errc::decrypt_failed);
    }
    CHECK(s.replay()->size() == 1);
    Message second = encrypted_by(client());
    CHECK_FALSE(s.decrypt(second));
    expect_refused(s, encrypted_by(client()), errc::replay_cache_full);
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: crypto_kx session keys per direction", "[modern][xchacha]") {
    const auto [client_pk, client_sk] = xchacha20_poly1305_cipher_options::new_kx_keypair();
    const auto [server_pk, server_sk] = xchacha20_poly1305_cipher_options::new_kx_keypair();
    const auto [other_pk, other_sk] = xchacha20_poly1305_cipher_options::new_kx_keypair();
    auto make = [](aead_role role, const bytes& pk, const bytes& sk, const bytes& peer_pk) {
        xchacha20_poly1305_cipher_options o;
        o.role = role;
        o.kx_public_key = pk;
        o.kx_secret_key = sk;
        o.kx_peer_public_key = peer_pk;
        return XChaCha20Poly1305CipherPlugin(o);
    };
    const auto c = make(aead_role::client, client_pk, client_sk, server_pk);
    const auto s = make(aead_role::server, server_pk, server_sk, client_pk);
    Message up = encrypted_by(c, "up");
    REQUIRE_FALSE(s.decrypt(up));
    CHECK(text_of(up.body.content) == "up");
    Message down = encrypted_by(s, "down");
    REQUIRE_FALSE(c.decrypt(down));
    CHECK(text_of(down.body.content) == "down");
    expect_refused(c, encrypted_by(c), errc::reflected);
    // A server that believes it talks to another client cannot read this one.
    const auto confused = make(aead_role::server, server_pk, server_sk, other_pk);
    expect_refused(confused, encrypted_by(c), errc::decrypt_failed);
    CHECK(c.options().kx_secret_key.empty());  // not retained
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: size limit, configuration, handle", "[modern][xchacha]") {
    const XChaCha20Poly1305CipherPlugin c = client();
    // Exactly at the limit (2 + uri + content + 16 == max_body_payload()) and one over.
    const std::size_t room = max_body_payload() - 16 - 2;
    Message fits = Message::prepare(Body(bytes(), bytes(room, 'a')), MessageType::REQUEST_URI);
    CHECK_NOTHROW(c.encrypt(fits));
    Message over = Message::prepare(Body(bytes(), bytes(room + 1, 'a')), MessageType::REQUEST_URI);
    const Message before = over;
    CHECK_THROWS_AS(c.encrypt(over), netaio::error);
    CHECK(over == before);

    const nlohmann::json config = {{"master_key", to_hex(master)}, {"role", "peer"}, {"sender_id", "node-1"},
                                   {"nonce_field", "n24"},          {"freshness_window", 10}};
    const XChaCha20Poly1305CipherPlugin p(config);
    CHECK(p.options().role == aead_role::peer);
    CHECK(text_of(p.options().sender_id) == "node-1");
    CHECK(p.options().master_key.empty());
    Message m = encrypted_by(p);
    CHECK(m.auth_data.contains("n24"));
    Message at_other = m;
    CHECK_FALSE(XChaCha20Poly1305CipherPlugin(nlohmann::json{{"master_key", to_hex(master)}, {"sender_id", "node-2"},
                                                             {"nonce_field", "n24"}})
                    .decrypt(at_other));

    auto refused = [](const nlohmann::json& cfg) {
        try {
            XChaCha20Poly1305CipherPlugin bad(cfg);
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
        return false;
    };
    CHECK(refused({{"role", "client"}}));                                                    // no key
    CHECK(refused({{"master_key", "00ff"}, {"role", "client"}}));                            // 2 bytes
    CHECK(refused({{"master_key", to_hex(master)}}));                                        // peer without id
    CHECK(refused({{"master_key", to_hex(master)}, {"role", "sideways"}}));
    CHECK(refused({{"master_key", to_hex(master)}, {"role", "client"}, {"ts_field", "xn"}}));
    CHECK(refused({{"master_key", to_hex(master)}, {"role", "client"}, {"freshness_window", nullptr}}));
    CHECK(refused({{"master_key", to_hex(master)}, {"kx_public_key", to_hex(master)}, {"role", "client"}}));
    CHECK_FALSE(refused({{"master_key", to_hex(master)}, {"role", "server"}}));

    any_cipher_plugin handle = client();
    Message h = Message::prepare(Body::prepare("via handle", "u"), MessageType::REQUEST_URI);
    handle.encrypt(h, plugin_context{});
    any_cipher_plugin other = server();
    CHECK_FALSE(other.decrypt(h, plugin_context{}));
    CHECK(text_of(h.body.content) == "via handle");
    CHECK_FALSE(other.is_peer_specific());
}

TEST_CASE("XChaCha20Poly1305CipherPlugin: the README's configuration", "[modern][xchacha]") {
    const bytes key = xchacha20_poly1305_cipher_options::new_master_key();
    CHECK(key.size() == 32);
    tcp_server_options server_options;
    // tag::xchacha_readme[]
    netaio::xchacha20_poly1305_cipher_options o;
    o.master_key = key;                  // 32 bytes, the same on both sides
    o.role = netaio::aead_role::server;  // the client: aead_role::client
    server_options.cipher_plugin = netaio::XChaCha20Poly1305CipherPlugin(o);
    // end::xchacha_readme[]
    o.role = aead_role::client;
    const XChaCha20Poly1305CipherPlugin c(o);
    Message m = Message::prepare(Body::prepare("hi", "u"), MessageType::REQUEST_URI);
    c.encrypt(m);
    REQUIRE_FALSE(server_options.cipher_plugin.decrypt(m, plugin_context{}));
    CHECK(text_of(m.body.content) == "hi");
}

// ---- loopback ----------------------------------------------------------------------

TEST_CASE("XChaCha20Poly1305CipherPlugin over TCP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][xchacha][tcp]") {
    run_loopback([](asio::io_context& io) {
        return modern::tcp_outer_round_trip(io, layer(aead_role::server, true), layer(aead_role::client, true));
    });
    run_loopback([](asio::io_context& io) {
        return modern::tcp_inner_round_trip(io, layer(aead_role::server, false), layer(aead_role::client, false));
    });
}

TEST_CASE("XChaCha20Poly1305CipherPlugin over UDP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][xchacha][udp]") {
    run_loopback([](asio::io_context& io) {
        return modern::udp_outer_round_trip(io, layer(aead_role::peer, true, "node-a"), layer(aead_role::peer, true, "node-b"));
    });
    run_loopback([](asio::io_context& io) {
        return modern::udp_inner_round_trip(io, layer(aead_role::peer, false, "node-a"), layer(aead_role::peer, false, "node-b"));
    });
}

TEST_CASE("XChaCha20Poly1305CipherPlugin over TCP: tampered, re-typed, replayed and wrong-key frames are dropped and counted; alive after",
          "[modern][xchacha][tcp]") {
    SECTION("ciphertext bit flipped") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = layer(aead_role::client, true);
            Message m = netaio_test::request_msg("echo", "tamper me");
            c.cipher.encrypt(m, plugin_context{});
            m.body.content[3] ^= 0x10;
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::tcp_hostile(io, layer(aead_role::server, true), {}, std::move(frames), {errc::decrypt_failed}, c);
        });
    }
    SECTION("re-typed frame, wrong key, and a replay") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = layer(aead_role::client, true);
            const bytes once = modern::sealed_frame(netaio_test::request_msg("echo", "once"), {}, c);
            Message retyped = netaio_test::request_msg("echo", "typed");
            c.cipher.encrypt(retyped, plugin_context{});
            const bytes retyped_frame =
                netaio_test::frame_builder(retyped).type(static_cast<std::uint8_t>(MessageType::DELETE_URI)).build();
            handler_plugins stranger;
            stranger.cipher = XChaCha20Poly1305CipherPlugin([] {
                xchacha20_poly1305_cipher_options o;
                o.master_key = other_master;
                o.role = aead_role::client;
                return o;
            }());
            const bytes wrong_key = modern::sealed_frame(netaio_test::request_msg("echo", "who"), {}, stranger);
            std::vector<bytes> frames{retyped_frame, wrong_key, once};
            return modern::tcp_hostile(io, layer(aead_role::server, true), {}, std::move(frames), {errc::decrypt_failed, 2, 1}, c);
        });
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = layer(aead_role::client, true);
            const bytes once = modern::sealed_frame(netaio_test::request_msg("echo", "once"), {}, c);
            std::vector<bytes> frames{once, once};
            return modern::tcp_hostile(io, layer(aead_role::server, true), {}, std::move(frames), {errc::replayed, 1, 1}, c);
        });
    }
    SECTION("inner layer tampered under a valid outer HMAC + cipher") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins outer = modern::compat_outer();
            const handler_plugins inner = layer(aead_role::client, false);
            Message m = netaio_test::request_msg("inner", "inner payload");
            detail::seal_layer(m, inner, plugin_context{});
            m.body.content.back() ^= 0x80;
            detail::seal_layer(m, outer, plugin_context{});
            std::vector<bytes> frames{m.encode()};
            return modern::tcp_hostile(io, outer, layer(aead_role::server, false), std::move(frames), {errc::decrypt_failed}, outer);
        });
    }
}

namespace {

/// A TCP client whose request comes straight back from a raw "server": refused as
/// reflected; a proper server frame on the same connection is then received.
asio::awaitable<void> tcp_client_reflection(asio::io_context& io) {
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    const handler_plugins c = layer(aead_role::client, true);
    TCPClient client(io.get_executor(), modern::client_options(acceptor.local_endpoint().port(), c));
    co_await client.connect();
    netaio_test::raw_socket raw(io.get_executor());
    co_await raw.accept(acceptor);
    REQUIRE(client.send(netaio_test::request_msg("echo", "mirror")));
    std::optional<bytes> frame = co_await raw.read_frame_bytes();
    REQUIRE(frame);
    std::error_code wec = co_await raw.write(*frame);  // straight back
    CHECK_FALSE(wec);
    TCPClient* cp = &client;
    co_await eventually([cp] { return cp->stats().count(errc::reflected) == 1; });

    const handler_plugins s = layer(aead_role::server, true);
    const bytes pushed = modern::sealed_frame(make_ok_msg("pushed", "push"), {}, s);
    wec = co_await raw.write(pushed);
    CHECK_FALSE(wec);
    std::optional<Message> got = co_await client.receive_once(std::nullopt, 2s);
    REQUIRE(got);
    CHECK(text_of(got->body.content) == "pushed");
    CHECK(client.stats().total_rejected() == 1);
    client.close();
}

}  // namespace

TEST_CASE("XChaCha20Poly1305CipherPlugin over TCP: the client's own frame reflected back to it is refused (D7/D10)",
          "[modern][xchacha][tcp]") {
    run_loopback([](asio::io_context& io) { return tcp_client_reflection(io); });
}

TEST_CASE("XChaCha20Poly1305CipherPlugin over UDP: tampered and reflected datagrams are dropped silently and counted",
          "[modern][xchacha][udp]") {
    SECTION("tag bit flipped") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins b = layer(aead_role::peer, true, "node-b");
            Message m = netaio_test::request_msg("echo", "tamper me");
            b.cipher.encrypt(m, plugin_context{});
            m.body.content.back() ^= 1;
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::udp_hostile(io, layer(aead_role::peer, true, "node-a"), {}, std::move(frames), {errc::decrypt_failed}, b);
        });
    }
    SECTION("a frame carrying the node's own sender id") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins a_again = layer(aead_role::peer, true, "node-a");
            const bytes frame = modern::sealed_frame(netaio_test::request_msg("echo", "mirror"), {}, a_again);
            std::vector<bytes> frames{frame};
            return modern::udp_hostile(io, layer(aead_role::peer, true, "node-a"), {}, std::move(frames), {errc::reflected},
                                       layer(aead_role::peer, true, "node-b"));
        });
    }
}
