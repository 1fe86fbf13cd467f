// tests/unit/test_x25519_cipher_plugin.cpp - X25519CipherPlugin against every case of
// x25519_cipher.json (keys, box, plugin_encrypt, error, decrypt_error) and the worked
// values of PROTOCOL.md §8.1, plus the rejections beyond Python (RELIABILITY §3.5
// D6-D8, §3.8 G6): short, tampered and misaddressed boxes, bad peer keys, reflected
// and replayed frames, and the bounded shared-key cache. Loopback round trips are in
// test_x25519_loopback.cpp.
#include <netaio/x25519_cipher_plugin.hpp>

#include "message_vector_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <deque>
#include <random>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

using namespace netaio;
using netaio_test::auth_fields_of;
using netaio_test::hex;
using netaio_test::json;
using netaio_test::message_of;

namespace {

const json& x25519_vectors() {
    static const json doc = netaio_test::load_vectors("x25519_cipher.json");
    return doc;
}

/// The vector's randomness with PyNaCl's nacl.utils.random read as urandom, so
/// scripted_randomness replays nonces and split points in the recorded order.
netaio_test::scripted_randomness script_of(const json& events) {
    json renamed = events;
    for (json& e : renamed)
        if (e.at("fn").get<std::string>() == "nacl.utils.random") e["fn"] = "urandom";
    return netaio_test::scripted_randomness(renamed);
}

bytes seed_of(std::uint8_t first) {
    bytes s(32);
    for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<std::uint8_t>(first + i);
    return s;
}

x25519_cipher_options options_for(bytes seed, bool encrypt_uri = false) {
    x25519_cipher_options o;
    o.seed = std::move(seed);
    o.encrypt_uri = encrypt_uri;
    return o;
}

/// A peer record whose data carries `pubkey` (or any other data).
Peer peer_with_data(bytes data, std::string id = "peer") {
    Peer p;
    p.id = to_bytes(id);
    p.data = std::move(data);
    return p;
}

Peer peer_of(const X25519CipherPlugin& plugin, std::string id = "peer") { return peer_with_data(plugin.peer_data(), std::move(id)); }

Peer peer_with_pubkey(bytes pubkey) {
    return peer_with_data(packify::pack(packify::dict{{"pubkey", std::move(pubkey)}}));
}

Peer vector_peer(const json& p) {
    Peer out;
    out.id = netaio_test::packify_value_of(p.at("id")).as<bytes>();
    out.data = netaio_test::packify_value_of(p.at("data")).as<bytes>();
    return out;
}

const DefaultPeerPlugin peer_plugin{};

plugin_context ctx_for(const Peer& peer) { return plugin_context{&peer, &peer_plugin}; }

Message request(std::string_view uri, std::string_view content) {
    return Message::prepare(Body::prepare(content, uri), MessageType::REQUEST_URI);
}

/// The errc an encrypt() throws, or an empty code when it succeeds.
std::error_code encrypt_error(const X25519CipherPlugin& plugin, Message& m, const plugin_context& ctx,
                              std::string* what = nullptr) {
    try {
        plugin.encrypt(m, ctx);
    } catch (const netaio::error& e) {
        if (what) *what = e.what();
        return e.code();
    }
    return {};
}

/// decrypt() that also checks a failure left the message untouched.
std::error_code decrypt_checked(const X25519CipherPlugin& plugin, Message& m, const plugin_context& ctx) {
    const Message before = m;
    const std::error_code ec = plugin.decrypt(m, ctx);
    if (ec) CHECK(m == before);
    return ec;
}

/// A fixed clock the test moves by hand.
struct manual_clock {
    std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(1'700'000'000);
    clock_source source() const {
        auto n = now;
        return clock_source{[n] { return *n; }};
    }
};

}  // namespace

TEST_CASE("X25519CipherPlugin: key derivation vectors (x25519_cipher.json keys, PROTOCOL.md 8.1)", "[x25519][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(x25519_vectors(), "keys")) {
        INFO("keys: " << c.at("seed_hex").get<std::string>());
        const detail::seed_keys k = detail::derive_seed_keys(hex(c.at("seed_hex")));
        CHECK(to_hex(k.ed25519_public) == c.at("vkey_hex").get<std::string>());
        CHECK(to_hex(k.x25519_secret) == c.at("x25519_private_hex").get<std::string>());
        CHECK(to_hex(k.x25519_public) == c.at("x25519_public_hex").get<std::string>());
        const X25519CipherPlugin plugin(options_for(hex(c.at("seed_hex"))));
        CHECK(to_hex(plugin.public_key()) == c.at("x25519_public_hex").get<std::string>());
        CHECK(to_hex(plugin.verify_key()) == c.at("vkey_hex").get<std::string>());
        ++checked;
    }
    std::cout << "x25519_cipher.json keys vectors checked: " << checked << "\n";
    CHECK(checked == 3);

    // The worked values of PROTOCOL.md section 8.1.
    const detail::seed_keys a = detail::derive_seed_keys(seed_of(0x00));
    CHECK(to_hex(a.ed25519_public) == "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8");
    CHECK(to_hex(a.x25519_secret) == "3894eea49c580aef816935762be049559d6d1440dede12e6a125f1841fff8e6f");
    CHECK(to_hex(a.x25519_public) == "4701d08488451f545a409fb58ae3e58581ca40ac3f7f114698cd71deac73ca01");
    const detail::seed_keys b = detail::derive_seed_keys(seed_of(0x20));
    CHECK(to_hex(b.x25519_public) == "5730800ab340fcb18ce5111eda9d705f91388b41e4544cbd103ba5942db2233e");
    // The public key is also the Ed25519 verify key mapped to Curve25519.
    std::array<std::uint8_t, 32> mapped{};
    REQUIRE(crypto_sign_ed25519_pk_to_curve25519(mapped.data(), a.ed25519_public.data()) == 0);
    CHECK(mapped == a.x25519_public);

    for (std::size_t n : {0u, 31u, 33u, 64u}) {
        INFO("seed length " << n);
        CHECK_THROWS_AS(detail::derive_seed_keys(bytes(n, 7)), netaio::error);
    }
}

TEST_CASE("X25519CipherPlugin: crypto_box vectors and the section 8.1 box, through the plugin", "[x25519][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(x25519_vectors(), "box")) {
        INFO("box: " << c.at("description").get<std::string>());
        const detail::seed_keys sender = detail::derive_seed_keys(hex(c.at("sender_seed_hex")));
        const detail::seed_keys receiver = detail::derive_seed_keys(hex(c.at("receiver_seed_hex")));
        std::array<std::uint8_t, 32> k1{}, k2{};
        REQUIRE(crypto_box_beforenm(k1.data(), receiver.x25519_public.data(), sender.x25519_secret.data()) == 0);
        REQUIRE(crypto_box_beforenm(k2.data(), sender.x25519_public.data(), receiver.x25519_secret.data()) == 0);
        CHECK(to_hex(k1) == c.at("shared_key_hex").get<std::string>());
        CHECK(k1 == k2);  // symmetric: the reason for the reflection guard

        // The plugin with the nonce forced gives the recorded output as the content.
        const bytes nonce = hex(c.at("nonce_hex"));
        x25519_cipher_options o = options_for(hex(c.at("sender_seed_hex")));
        o.random.fill = [nonce](std::span<std::uint8_t> out) {
            REQUIRE(out.size() == nonce.size());
            std::copy(nonce.begin(), nonce.end(), out.begin());
        };
        const X25519CipherPlugin plugin(o);
        const Peer to = peer_with_pubkey(bytes(receiver.x25519_public.begin(), receiver.x25519_public.end()));
        Message m = Message::prepare(Body{bytes{}, hex(c.at("plaintext_hex"))}, MessageType::OK);
        plugin.encrypt(m, ctx_for(to));
        CHECK(to_hex(m.body.content) == c.at("output_hex").get<std::string>());
        CHECK(m.body.content.size() == c.at("plaintext_hex").get<std::string>().size() / 2 + X25519CipherPlugin::overhead);
        CHECK(m.body.uri.empty());

        const X25519CipherPlugin opener(options_for(hex(c.at("receiver_seed_hex"))));
        const Peer from = peer_of(plugin);
        CHECK_FALSE(opener.decrypt(m, ctx_for(from)));
        CHECK(to_hex(m.body.content) == c.at("plaintext_hex").get<std::string>());
        ++checked;
    }
    std::cout << "x25519_cipher.json box vectors checked: " << checked << "\n";
    CHECK(checked == 3);

    // PROTOCOL.md 8.1: nonce 00..17, sender seed 00..1f, receiver seed 20..3f, "hello world".
    x25519_cipher_options o = options_for(seed_of(0x00));
    o.random.fill = [](std::span<std::uint8_t> out) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(i);
    };
    const X25519CipherPlugin sender(o);
    const X25519CipherPlugin receiver(options_for(seed_of(0x20)));
    Message m = request("", "hello world");
    sender.encrypt(m, ctx_for(peer_of(receiver)));
    CHECK(to_hex(m.body.content) ==
          "000102030405060708090a0b0c0d0e0f1011121314151617"
          "9d7c90aafdf2be8f178f2d37962056a4"
          "8fea6ca767b5f929ccc380");
}

TEST_CASE("X25519CipherPlugin: plugin_encrypt vectors are byte-exact, decrypt() inverts them", "[x25519][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(x25519_vectors(), "plugin_encrypt")) {
        INFO("plugin_encrypt: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script = script_of(c.at("random"));
        x25519_cipher_options o = options_for(hex(c.at("sender_seed_hex")), c.at("encrypt_uri").get<bool>());
        o.random = script.random();
        const X25519CipherPlugin sender(o);
        const X25519CipherPlugin receiver(options_for(hex(c.at("receiver_seed_hex")), c.at("encrypt_uri").get<bool>()));
        const Peer receiver_peer = vector_peer(c.at("receiver_peer"));
        const Peer sender_peer = vector_peer(c.at("sender_peer"));

        // Our peer-data helper writes exactly what Python advertised.
        CHECK(receiver.peer_data() == *receiver_peer.data);
        packify::dict with_vkey{{"vkey", bytes(sender.verify_key().begin(), sender.verify_key().end())}};
        CHECK(sender.peer_data(with_vkey) == *sender_peer.data);

        const Message input = message_of(c.at("input"));
        CHECK(to_hex(input.encode()) == c.at("input").at("encoded_hex").get<std::string>());
        Message m = input;
        sender.encrypt(m, ctx_for(receiver_peer));
        CHECK(script.remaining_draws() == 0);

        const json& out = c.at("output");
        CHECK(to_hex(m.body.uri) == out.at("uri_hex").get<std::string>());
        CHECK(to_hex(m.body.content) == out.at("content_hex").get<std::string>());
        if (!c.at("uri_split").is_null()) CHECK(m.body.uri.size() == c.at("uri_split").get<std::size_t>());
        CHECK(m.auth_data == auth_fields_of(out.at("auth_fields")));  // no field added
        CHECK(m.type() == input.type());
        CHECK(to_hex(m.encode()) == out.at("encoded_hex").get<std::string>());

        // The receiver opens Python's frame.
        std::error_code ec;
        Message received = Message::decode(hex(out.at("encoded_hex")), ec);
        REQUIRE_FALSE(ec);
        CHECK_FALSE(receiver.decrypt(received, ctx_for(sender_peer)));
        CHECK(received.body == input.body);
        CHECK(received.header.checksum == input.header.checksum);
        ++checked;
    }
    std::cout << "x25519_cipher.json plugin_encrypt vectors checked: " << checked << "\n";
    CHECK(checked == 6);
}

TEST_CASE("X25519CipherPlugin: error and decrypt_error vectors", "[x25519][vectors]") {
    const X25519CipherPlugin plugin(options_for(seed_of(0x40)));
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(x25519_vectors(), "error")) {
        INFO("error: " << c.at("description").get<std::string>());
        const std::string message = c.at("exception_message").get<std::string>();
        REQUIRE(c.at("exception").get<std::string>() == "ValueError");
        Message m = request("uri", "content");
        const Message before = m;
        std::string what;
        if (message == "peer and peer_plugin must be provided") {
            CHECK(encrypt_error(plugin, m, {}, &what) == errc::missing_peer_data);
            const Peer p = peer_of(plugin);
            CHECK(encrypt_error(plugin, m, plugin_context{&p, nullptr}) == errc::missing_peer_data);
            CHECK(encrypt_error(plugin, m, plugin_context{nullptr, &peer_plugin}) == errc::missing_peer_data);
        } else {
            REQUIRE(message == "peer pubkey not found");
            const Peer p = peer_with_data(packify::pack(packify::dict{{"name", "no key"}}));
            CHECK(encrypt_error(plugin, m, ctx_for(p), &what) == errc::missing_peer_data);
        }
        CHECK(what.find(message) != std::string::npos);
        CHECK(m == before);
        ++checked;
    }
    for (const json& c : netaio_test::cases_of_kind(x25519_vectors(), "decrypt_error")) {
        INFO("decrypt_error: " << c.at("description").get<std::string>());
        REQUIRE(c.at("exception").get<std::string>() == "nacl.exceptions.CryptoError");
        const X25519CipherPlugin receiver(options_for(hex(c.at("receiver_seed_hex"))));
        std::error_code ec;
        Message m = Message::decode(hex(c.at("encoded_hex")), ec);
        REQUIRE_FALSE(ec);
        CHECK(decrypt_checked(receiver, m, ctx_for(vector_peer(c.at("sender_peer")))) == errc::decrypt_failed);
        ++checked;
    }
    std::cout << "x25519_cipher.json error/decrypt_error vectors checked: " << checked << "\n";
    CHECK(checked == 3);
}

TEST_CASE("X25519CipherPlugin: short and tampered boxes are refused (D6)", "[x25519]") {
    const X25519CipherPlugin alice(options_for(seed_of(0x01)));
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    const Peer alice_peer = peer_of(alice, "alice");
    const Peer bob_peer = peer_of(bob, "bob");
    Message good = request("echo", "attack at dawn");
    alice.encrypt(good, ctx_for(bob_peer));
    REQUIRE(good.body.content.size() == 14 + 40);
    CHECK(good.body.uri == to_bytes("echo"));  // encrypt_uri off: the uri stays in clear

    SECTION("shorter than nonce + MAC") {
        for (std::size_t n : {0u, 1u, 24u, 39u}) {
            INFO("box length " << n);
            Message m = good;
            m.body.content.resize(n);
            CHECK(decrypt_checked(bob, m, ctx_for(alice_peer)) == errc::decrypt_failed);
        }
        // 40 bytes is a valid empty box.
        Message empty = request("e", "");
        alice.encrypt(empty, ctx_for(bob_peer));
        REQUIRE(empty.body.content.size() == 40);
        CHECK_FALSE(bob.decrypt(empty, ctx_for(alice_peer)));
        CHECK(empty.body.content.empty());
    }
    SECTION("a flipped bit anywhere: nonce, MAC or ciphertext") {
        for (std::size_t at : {0u, 23u, 24u, 39u, 40u, 53u}) {
            INFO("flipped byte " << at);
            Message m = good;
            m.body.content[at] ^= 0x01;
            CHECK(decrypt_checked(bob, m, ctx_for(alice_peer)) == errc::decrypt_failed);
        }
        Message truncated = good;
        truncated.body.content.pop_back();
        CHECK(decrypt_checked(bob, truncated, ctx_for(alice_peer)) == errc::decrypt_failed);
        Message extended = good;
        extended.body.content.push_back(0);
        CHECK(decrypt_checked(bob, extended, ctx_for(alice_peer)) == errc::decrypt_failed);
    }
    SECTION("wrong keys: a third party, or the wrong sender key") {
        const X25519CipherPlugin carol(options_for(seed_of(0x03)));
        Message m = good;
        CHECK(decrypt_checked(carol, m, ctx_for(alice_peer)) == errc::decrypt_failed);
        CHECK(decrypt_checked(bob, m, ctx_for(peer_of(carol))) == errc::decrypt_failed);
        CHECK_FALSE(bob.decrypt(m, ctx_for(alice_peer)));  // still fine for its addressee
        CHECK(m.body == Body::prepare("attack at dawn", "echo"));
    }
    SECTION("the clear uri is not covered: routing sees it, the content stays sealed") {
        Message m = good;
        m.body.uri = to_bytes("other");
        CHECK_FALSE(bob.decrypt(m, ctx_for(alice_peer)));
        CHECK(m.body == Body::prepare("attack at dawn", "other"));
    }
}

TEST_CASE("X25519CipherPlugin: bad peer keys are refused without a crash (D8)", "[x25519]") {
    const X25519CipherPlugin alice(options_for(seed_of(0x01)));
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    Message sealed = request("echo", "hi");
    alice.encrypt(sealed, ctx_for(peer_of(bob)));

    std::vector<std::pair<std::string, bytes>> bad_keys;
    const bytes bob_pk(bob.public_key().begin(), bob.public_key().end());
    bad_keys.emplace_back("31 bytes", bytes(bob_pk.begin(), bob_pk.end() - 1));
    bytes longer = bob_pk;
    longer.push_back(0);
    bad_keys.emplace_back("33 bytes", longer);
    bad_keys.emplace_back("empty", bytes{});
    bad_keys.emplace_back("all zero (low order)", bytes(32, 0));
    bytes one(32, 0);
    one[0] = 1;
    bad_keys.emplace_back("u = 1 (low order)", one);
    bad_keys.emplace_back("u = p - 1 (low order)", from_hex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"));
    bad_keys.emplace_back("order 8 point", from_hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"));

    for (const auto& [name, key] : bad_keys) {
        INFO(name);
        const Peer p = peer_with_pubkey(key);
        Message m = request("echo", "hi");
        const Message before = m;
        CHECK(encrypt_error(alice, m, ctx_for(p)) == errc::encrypt_failed);
        CHECK(m == before);
        Message s = sealed;
        CHECK(decrypt_checked(bob, s, ctx_for(p)) == errc::decrypt_failed);
    }
    CHECK(alice.shared_keys()->size() == 1);  // failures are not cached

    SECTION("a pubkey that is not bytes") {
        const Peer p = peer_with_data(packify::pack(packify::dict{{"pubkey", std::string(32, 'k')}}));
        Message m = request("echo", "hi");
        CHECK(encrypt_error(alice, m, ctx_for(p)) == errc::encrypt_failed);
        Message s = sealed;
        CHECK(decrypt_checked(bob, s, ctx_for(p)) == errc::decrypt_failed);
    }
}

TEST_CASE("X25519CipherPlugin: no peer, no peer data, no pubkey: missing_peer_data", "[x25519]") {
    const X25519CipherPlugin alice(options_for(seed_of(0x01)));
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    Message sealed = request("echo", "hi");
    alice.encrypt(sealed, ctx_for(peer_of(bob)));

    Peer no_data;
    no_data.id = to_bytes("x");
    const Peer not_packify = peer_with_data(bytes{0xff, 0xff});
    const Peer not_a_dict = peer_with_data(packify::pack(packify::list{bytes(32, 1)}));
    const Peer no_pubkey = peer_with_data(packify::pack(packify::dict{{"vkey", bytes(32, 1)}}));
    const Peer a = peer_of(alice);
    for (const plugin_context& ctx : {plugin_context{}, plugin_context{&a, nullptr}, plugin_context{nullptr, &peer_plugin},
                                      ctx_for(no_data), ctx_for(not_packify), ctx_for(not_a_dict), ctx_for(no_pubkey)}) {
        Message m = request("echo", "hi");
        CHECK(encrypt_error(alice, m, ctx) == errc::missing_peer_data);
        Message s = sealed;
        CHECK(decrypt_checked(bob, s, ctx) == errc::missing_peer_data);
    }
    // Length comes first: a short body is decrypt_failed even with no peer.
    Message short_body = request("echo", "x");
    CHECK(decrypt_checked(bob, short_body, {}) == errc::decrypt_failed);
}

TEST_CASE("X25519CipherPlugin: encrypt_uri layout, split and tiny ciphertexts", "[x25519]") {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
    x25519_cipher_options o = options_for(seed_of(0x01), true);
    o.random.uniform = [&ranges](std::uint32_t low, std::uint32_t high) {
        ranges.emplace_back(low, high);
        return random_source{}.uniform_int(low, high);
    };
    const X25519CipherPlugin alice(o);
    const X25519CipherPlugin bob(options_for(seed_of(0x02), true));
    const Peer alice_peer = peer_of(alice);
    const Peer bob_peer = peer_of(bob);

    for (std::size_t uri_len : {0u, 1u, 4u, 300u}) {
        for (std::size_t content_len : {0u, 1u, 33u, 1000u}) {
            INFO("uri " << uri_len << " content " << content_len);
            const Message original = Message::prepare(Body{bytes(uri_len, 'u'), bytes(content_len, 'c')}, MessageType::OK);
            Message m = original;
            ranges.clear();
            alice.encrypt(m, ctx_for(bob_peer));
            const std::size_t box = 2 + uri_len + content_len + 40;
            REQUIRE(ranges.size() == 1);
            CHECK(ranges[0] == std::make_pair(std::uint32_t{1}, static_cast<std::uint32_t>(box - 1)));
            CHECK(m.body.uri.size() + m.body.content.size() == box);
            CHECK_FALSE(m.body.uri.empty());
            CHECK_FALSE(m.body.content.empty());
            CHECK(m.header.body_length == m.body.size());
            CHECK(m.header.checksum == m.body_checksum());
            std::error_code ec;
            Message received = Message::decode(m.encode(), ec);
            REQUIRE_FALSE(ec);
            CHECK_FALSE(bob.decrypt(received, ctx_for(alice_peer)));
            CHECK(received.body == original.body);
        }
    }

    SECTION("ciphertext of 0, 1 or 39 bytes") {
        for (std::size_t n : {0u, 1u, 39u}) {
            INFO("ciphertext length " << n);
            Message m = Message::prepare(Body{bytes(n / 2, 1), bytes(n - n / 2, 2)}, MessageType::OK);
            CHECK(decrypt_checked(bob, m, ctx_for(alice_peer)) == errc::decrypt_failed);
        }
    }
    SECTION("an authentic box whose plaintext is too short for the uri prefix, or whose uri length runs past it") {
        const X25519CipherPlugin clear_uri_alice(options_for(seed_of(0x01), false));
        for (const char* content : {"", "x"}) {
            Message m = request("", content);
            clear_uri_alice.encrypt(m, ctx_for(bob_peer));  // plaintext without the u16 prefix
            m.body.uri.assign(m.body.content.begin(), m.body.content.begin() + 1);
            m.body.content.erase(m.body.content.begin());
            CHECK(decrypt_checked(bob, m, ctx_for(alice_peer)) == errc::decrypt_failed);
        }
        Message lying = request("", std::string("\x00\x09", 2) + "abc");  // claims a 9-byte uri, has 3
        clear_uri_alice.encrypt(lying, ctx_for(bob_peer));
        CHECK(decrypt_checked(bob, lying, ctx_for(alice_peer)) == errc::decrypt_failed);
        Message exact = request("", std::string("\x00\x03", 2) + "abc");  // boundary: all uri, no content
        clear_uri_alice.encrypt(exact, ctx_for(bob_peer));
        CHECK_FALSE(bob.decrypt(exact, ctx_for(alice_peer)));
        CHECK(exact.body == Body(to_bytes("abc"), bytes{}));
    }
}

TEST_CASE("X25519CipherPlugin: size limit checked before any randomness", "[x25519]") {
    std::size_t draws = 0;
    for (bool encrypt_uri : {false, true}) {
        INFO("encrypt_uri " << encrypt_uri);
        x25519_cipher_options o = options_for(seed_of(0x01), encrypt_uri);
        o.random.fill = [&draws](std::span<std::uint8_t> out) {
            ++draws;
            random_source{}.fill_bytes(out);
        };
        const X25519CipherPlugin alice(o);
        const X25519CipherPlugin bob(options_for(seed_of(0x02), encrypt_uri));
        const std::size_t prefix = encrypt_uri ? 2 : 0;
        const std::size_t fits = max_body_payload() - 40 - prefix - 4;

        Message ok = Message::prepare(Body{to_bytes("echo"), bytes(fits, 'c')}, MessageType::OK);
        alice.encrypt(ok, ctx_for(peer_of(bob)));
        CHECK(ok.body.uri.size() + ok.body.content.size() == max_body_payload());
        CHECK(ok.encode().size() > 0);
        CHECK_FALSE(bob.decrypt(ok, ctx_for(peer_of(alice))));
        CHECK(ok.body.content.size() == fits);

        draws = 0;
        Message too_long = Message::prepare(Body{to_bytes("echo"), bytes(fits + 1, 'c')}, MessageType::OK);
        const Message before = too_long;
        CHECK(encrypt_error(alice, too_long, ctx_for(peer_of(bob))) == errc::content_too_long);
        CHECK(too_long == before);
        CHECK(draws == 0);
        // No peer: nothing drawn either.
        Message m = request("echo", "x");
        CHECK(encrypt_error(alice, m, {}) == errc::missing_peer_data);
        CHECK(draws == 0);
    }
}

TEST_CASE("X25519CipherPlugin: a frame we sent, coming back, is refused as reflected (D7)", "[x25519]") {
    manual_clock clock;
    x25519_cipher_options ao = options_for(seed_of(0x01));
    ao.clock = clock.source();
    ao.sent_nonce_retention = std::chrono::seconds{300};
    const X25519CipherPlugin alice(ao);
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    const Peer bob_peer = peer_of(bob);

    Message to_bob = request("echo", "for bob");
    alice.encrypt(to_bob, ctx_for(bob_peer));
    CHECK(alice.sent_nonces()->size() == 1);

    // Sent back to Alice as if from Bob: the shared key is the same, so the box opens -
    // unless the guard stops it.
    Message reflected = to_bob;
    CHECK(decrypt_checked(alice, reflected, ctx_for(bob_peer)) == errc::reflected);

    x25519_cipher_options unguarded = options_for(seed_of(0x01));
    unguarded.reflection_guard = false;
    Message opened = to_bob;
    CHECK_FALSE(X25519CipherPlugin(unguarded).decrypt(opened, ctx_for(bob_peer)));
    CHECK(opened.body == Body::prepare("for bob", "echo"));

    // The intended receiver is unaffected.
    Message at_bob = to_bob;
    CHECK_FALSE(bob.decrypt(at_bob, ctx_for(peer_of(alice))));

    // Bounded in time: past the retention the nonce is forgotten (documented limit).
    *clock.now += 300;
    Message still = to_bob;
    CHECK(decrypt_checked(alice, still, ctx_for(bob_peer)) == errc::reflected);
    *clock.now += 1;
    Message later = to_bob;
    CHECK_FALSE(alice.decrypt(later, ctx_for(bob_peer)));

    // Bounded in size: the oldest nonce goes first.
    x25519_cipher_options small = options_for(seed_of(0x01));
    small.sent_nonce_capacity = 2;
    const X25519CipherPlugin tiny(small);
    std::vector<Message> sent(3, request("echo", "x"));
    for (Message& m : sent) tiny.encrypt(m, ctx_for(bob_peer));
    CHECK(tiny.sent_nonces()->size() == 2);
    Message oldest = sent[0];
    CHECK_FALSE(tiny.decrypt(oldest, ctx_for(bob_peer)));
    for (std::size_t i = 1; i < 3; ++i) {
        Message m = sent[i];
        CHECK(tiny.decrypt(m, ctx_for(bob_peer)) == errc::reflected);
    }
}

TEST_CASE("sent_nonce_history: matches a simple model through wrap-around, deletions and repeats", "[x25519]") {
    // Small capacities exercise the ring wrap and the backward-shift deletion of the
    // index on almost every insert; few distinct first bytes force long clusters.
    std::mt19937 rng(12345);
    for (std::size_t capacity : {1u, 2u, 3u, 5u, 8u, 17u, 64u}) {
        INFO("capacity " << capacity);
        detail::sent_nonce_history h(capacity, 10);
        std::deque<std::pair<detail::nonce24, std::int64_t>> model;  // newest at the back
        std::int64_t now = 1000;
        auto make = [&rng] {
            detail::nonce24 n{};
            n[0] = static_cast<std::uint8_t>(rng() % 4);  // collide on purpose (same home slot)
            n[23] = static_cast<std::uint8_t>(rng() % 40);
            return n;
        };
        auto model_contains = [&](const detail::nonce24& n) {
            for (const auto& [m, expires] : model)
                if (m == n && expires >= now) return true;
            return false;
        };
        std::size_t mismatches = 0;
        for (int step = 0; step < 3000; ++step) {
            if (rng() % 7 == 0) ++now;
            const detail::nonce24 n = make();
            h.insert(n, now);
            model.emplace_back(n, now + 10);
            if (model.size() > capacity) model.pop_front();
            for (int probe = 0; probe < 4; ++probe) {
                const detail::nonce24 q = make();
                if (h.contains(q, now) != model_contains(q)) ++mismatches;
            }
        }
        CHECK(mismatches == 0);
        CHECK(h.size() == std::min<std::size_t>(capacity, 3000));
        h.clear();
        CHECK(h.size() == 0);
        CHECK_FALSE(h.contains(model.back().first, now));
    }
}

TEST_CASE("X25519CipherPlugin: replayed frames are refused; only authentic frames are remembered", "[x25519]") {
    manual_clock clock;
    x25519_cipher_options bo = options_for(seed_of(0x02));
    bo.clock = clock.source();
    bo.replay_window = std::chrono::seconds{60};
    const X25519CipherPlugin alice(options_for(seed_of(0x01)));
    const X25519CipherPlugin bob(bo);
    const Peer alice_peer = peer_of(alice);

    Message frame = request("echo", "once");
    alice.encrypt(frame, ctx_for(peer_of(bob)));

    // A forgery reusing the nonce does not poison the cache.
    Message forged = frame;
    forged.body.content.back() ^= 1;
    CHECK(decrypt_checked(bob, forged, ctx_for(alice_peer)) == errc::decrypt_failed);
    CHECK(bob.replay()->size() == 0);

    Message first = frame;
    CHECK_FALSE(bob.decrypt(first, ctx_for(alice_peer)));
    Message again = frame;
    CHECK(decrypt_checked(bob, again, ctx_for(alice_peer)) == errc::replayed);
    *clock.now += 60;
    Message within = frame;
    CHECK(decrypt_checked(bob, within, ctx_for(alice_peer)) == errc::replayed);
    // Without a timestamp in the frame the guard is time-limited (documented limit).
    *clock.now += 1;
    Message after_window = frame;
    CHECK_FALSE(bob.decrypt(after_window, ctx_for(alice_peer)));

    SECTION("fail closed when the cache is full") {
        x25519_cipher_options full = options_for(seed_of(0x02));
        full.replay_cache_capacity = 1;
        const X25519CipherPlugin small(full);
        Message a = request("echo", "a");
        Message b = request("echo", "b");
        alice.encrypt(a, ctx_for(peer_of(small)));
        alice.encrypt(b, ctx_for(peer_of(small)));
        CHECK_FALSE(small.decrypt(a, ctx_for(alice_peer)));
        CHECK(decrypt_checked(small, b, ctx_for(alice_peer)) == errc::replay_cache_full);
    }
    SECTION("python_semantics: both guards off, replays and reflections open as in Python") {
        const X25519CipherPlugin lenient(options_for(seed_of(0x02)).python_semantics());
        CHECK_FALSE(lenient.replay());
        CHECK_FALSE(lenient.sent_nonces());
        for (int i = 0; i < 2; ++i) {
            Message m = frame;
            CHECK_FALSE(lenient.decrypt(m, ctx_for(alice_peer)));
        }
    }
    SECTION("a shared replay cache") {
        auto cache = std::make_shared<replay_cache>(16);
        x25519_cipher_options s = options_for(seed_of(0x02));
        s.shared_replay_cache = cache;
        const X25519CipherPlugin one(s);
        const X25519CipherPlugin two(s);
        Message m1 = frame;
        CHECK_FALSE(one.decrypt(m1, ctx_for(alice_peer)));
        Message m2 = frame;
        CHECK(two.decrypt(m2, ctx_for(alice_peer)) == errc::replayed);
        CHECK(cache->size() == 1);
    }
}

TEST_CASE("X25519CipherPlugin: the shared-key cache is bounded LRU and never changes results (G6)", "[x25519]") {
    x25519_cipher_options o = options_for(seed_of(0x01));
    o.python_semantics();  // 1,100 frames from distinct peers; guards are tested elsewhere
    const X25519CipherPlugin hub(o);
    REQUIRE(hub.shared_keys()->capacity() == 1024);

    std::vector<Peer> peers;
    std::vector<Message> frames;  // one frame from each peer to the hub
    for (int i = 0; i < 1100; ++i) {
        std::array<std::uint8_t, 32> pk{}, sk{};
        crypto_box_keypair(pk.data(), sk.data());
        Peer p = peer_with_pubkey(bytes(pk.begin(), pk.end()));
        Message m = request("n", std::to_string(i));
        hub.encrypt(m, ctx_for(p));  // the hub boxes for the peer ...
        peers.push_back(std::move(p));
        frames.push_back(std::move(m));
    }
    CHECK(hub.shared_keys()->size() == 1024);
    CHECK(hub.shared_keys()->evictions() == 1100 - 1024);
    CHECK(hub.shared_keys()->misses() == 1100);

    // ... and with the guard off opens its own frames again (same key both ways), most
    // recent first: the 1,024 cached peers are hits, the 76 evicted ones are
    // recomputed; every result is right.
    CHECK(hub.shared_keys()->hits() == 0);
    for (std::size_t i = frames.size(); i-- > 0;) {
        Message m = frames[i];
        REQUIRE_FALSE(hub.decrypt(m, ctx_for(peers[i])));
        REQUIRE(m.body.content == to_bytes(std::to_string(i)));
    }
    CHECK(hub.shared_keys()->size() == 1024);
    CHECK(hub.shared_keys()->hits() == 1024);
    CHECK(hub.shared_keys()->misses() == 1100 + 76);

    // Disabled cache: same results.
    x25519_cipher_options uncached = o;
    uncached.seed = seed_of(0x01);
    uncached.shared_key_cache_capacity = 0;
    const X25519CipherPlugin plain(uncached);
    CHECK_FALSE(plain.shared_keys());
    Message m = frames[0];
    CHECK_FALSE(plain.decrypt(m, ctx_for(peers[0])));
    CHECK(m.body.content == to_bytes("0"));
}

TEST_CASE("X25519CipherPlugin: concurrent encrypt/decrypt share the caches safely", "[x25519]") {
    const X25519CipherPlugin alice(options_for(seed_of(0x01)));
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    const Peer alice_peer = peer_of(alice);
    const Peer bob_peer = peer_of(bob);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                const std::string text = std::to_string(t) + ":" + std::to_string(i);
                Message m = request("echo", text);
                alice.encrypt(m, ctx_for(bob_peer));
                if (bob.decrypt(m, ctx_for(alice_peer)) || m.body.content != to_bytes(text)) ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
    CHECK(bob.replay()->size() == 800);
    CHECK(alice.sent_nonces()->size() == 800);
}

TEST_CASE("X25519CipherPlugin: configuration", "[x25519]") {
    auto config_error = [](const json& config) -> std::error_code {
        try {
            X25519CipherPlugin p(config);
        } catch (const netaio::error& e) {
            return e.code();
        }
        return {};
    };
    const bytes seed = seed_of(0x00);
    CHECK(config_error(json::object()) == errc::bad_plugin_config);  // seed required
    CHECK(config_error(json::array()) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", bytes(31, 1)}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", bytes(33, 1)}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", "too short"}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", nullptr}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", seed}, {"encrypt_uri", "yes"}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", seed}, {"sent_nonce_capacity", 0}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", seed}, {"sent_nonce_retention", 0}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", seed}, {"replay_window", 0}}) == errc::bad_plugin_config);
    CHECK(config_error({{"seed", seed}, {"replay_cache_capacity", -1}}) == errc::bad_plugin_config);
    // A disabled guard needs none of its settings.
    CHECK_FALSE(config_error({{"seed", seed}, {"reflection_guard", false}, {"sent_nonce_capacity", 0}}));
    CHECK_FALSE(config_error({{"seed", seed}, {"replay_cache_capacity", 0}, {"replay_window", 0}}));

    const X25519CipherPlugin from_array(json{{"seed", seed}});
    const X25519CipherPlugin from_binary(json{{"seed", json::binary(seed)}});
    const X25519CipherPlugin from_text(json{{"seed", std::string(seed.begin(), seed.end())}});
    CHECK(to_hex(from_array.public_key()) == "4701d08488451f545a409fb58ae3e58581ca40ac3f7f114698cd71deac73ca01");
    CHECK(from_binary.public_key() == from_array.public_key());
    CHECK(from_text.public_key() == from_array.public_key());
    CHECK(from_array.options().seed.empty());  // only the derived keys are kept

    // Defaults (documented in x25519_cipher_options).
    const x25519_cipher_options& d = from_array.options();
    CHECK_FALSE(d.encrypt_uri);
    CHECK(d.shared_key_cache_capacity == 1024);
    CHECK(d.reflection_guard);
    CHECK(d.sent_nonce_capacity == 65536);
    CHECK(d.sent_nonce_retention == std::chrono::seconds{300});
    CHECK(d.replay_cache_capacity == replay_cache::default_capacity);
    CHECK(d.replay_window == std::chrono::seconds{60});
    CHECK(from_array.replay());
    CHECK(from_array.sent_nonces());
    CHECK(from_array.is_peer_specific());

    const X25519CipherPlugin tuned(json{{"seed", seed},
                                        {"encrypt_uri", true},
                                        {"shared_key_cache_capacity", 8},
                                        {"sent_nonce_capacity", 10},
                                        {"sent_nonce_retention", 5},
                                        {"replay_cache_capacity", 20},
                                        {"replay_window", 7}});
    CHECK(tuned.options().encrypt_uri);
    CHECK(tuned.shared_keys()->capacity() == 8);
    CHECK(tuned.sent_nonces()->capacity() == 10);
    CHECK(tuned.sent_nonces()->retention_seconds() == 5);
    CHECK(tuned.replay()->capacity() == 20);
    CHECK(tuned.options().replay_window == std::chrono::seconds{7});

    const X25519CipherPlugin python(json{{"seed", seed}, {"python_semantics", true}});
    CHECK_FALSE(python.replay());
    CHECK_FALSE(python.sent_nonces());
    CHECK(python.shared_keys());
}

TEST_CASE("X25519CipherPlugin: peer data helpers and the type-erased handle", "[x25519][plugin]") {
    const X25519CipherPlugin plugin(options_for(seed_of(0x00)));
    // PROTOCOL.md 4.3: {"pubkey": pk} -> 4d 40 01 2f 4c 40 02 08 22 43 06 "pubkey" 41 20 <pk>.
    CHECK(to_hex(plugin.peer_data()) ==
          "4d40012f4c4002082243067075626b65794120" + to_hex(plugin.public_key()));
    const Peer self = plugin.local_peer("node-1", packify::dict{{"name", "node-1"}});
    CHECK(self.id == to_bytes("node-1"));
    const packify::value data = peer_plugin.parse_data(self);
    CHECK(data[packify::value("pubkey")] == packify::value(bytes(plugin.public_key().begin(), plugin.public_key().end())));
    CHECK(data[packify::value("name")] == packify::value("node-1"));
    // An existing "pubkey" in extra is replaced by ours.
    const packify::dict replaced = plugin.peer_data_dict(packify::dict{{"pubkey", bytes(32, 9)}});
    CHECK(replaced.items.size() == 1);

    auto alice = std::make_shared<X25519CipherPlugin>(options_for(seed_of(0x01)));
    const any_cipher_plugin handle = alice;
    const X25519CipherPlugin bob(options_for(seed_of(0x02)));
    CHECK(handle.is_peer_specific());
    Message m = request("echo", "via handle");
    handle.encrypt(m, ctx_for(peer_of(bob)));
    CHECK(alice->sent_nonces()->size() == 1);  // the handle shares the plugin's state
    CHECK_FALSE(bob.decrypt(m, ctx_for(peer_of(*alice))));
    CHECK(m.body == Body::prepare("via handle", "echo"));
    CHECK(handle.decrypt(m, {}) == errc::decrypt_failed);  // plaintext now: too short to be a box
}
