// tests/unit/test_sha256_stream_cipher_plugin.cpp - Sha256StreamCipherPlugin against
// every sans-I/O case of sha256_stream_cipher.json (plugin_encrypt, size_limit,
// decrypt_error, and plugin_stack: the exact frames netaio's client writes with one
// and two plugin layers), plus the strict decryption rules beyond Python.
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>

#include "message_vector_support.hpp"
#include "random_support.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <string>

using namespace netaio;
using netaio_test::auth_fields_of;
using netaio_test::hex;
using netaio_test::json;
using netaio_test::message_of;

namespace {

const json& cipher_vectors() {
    static const json doc = netaio_test::load_vectors("sha256_stream_cipher.json");
    return doc;
}

sha256_stream_cipher_options cipher_options(json config, bool key_is_bytes, const random_source& rng = {}) {
    if (key_is_bytes) config["key"] = json::binary(hex(config.at("key")));
    config["python_semantics"] = true;  // the vectors use short keys such as "test"
    sha256_stream_cipher_options o = sha256_stream_cipher_options::from_json(config);
    o.random = rng;
    return o;
}

sha256_stream_cipher_options test_key_options(bool encrypt_uri = true) {
    sha256_stream_cipher_options o;
    o.key = to_bytes("a test key that is 32 bytes long");
    o.encrypt_uri = encrypt_uri;
    return o;
}

Message decode_wire(const json& hex_text) {
    std::error_code ec;
    Message m = Message::decode(hex(hex_text), ec);
    REQUIRE_FALSE(ec);
    return m;
}

}  // namespace

TEST_CASE("Sha256StreamCipherPlugin: encrypt() vectors are byte-exact, decrypt() inverts them",
          "[cipher][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(cipher_vectors(), "plugin_encrypt")) {
        INFO("plugin_encrypt: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        const Sha256StreamCipherPlugin plugin(
            cipher_options(c.at("config"), c.at("key_is_bytes").get<bool>(), script.random()));
        CHECK(to_hex(plugin.plugin_key()) == c.at("plugin_key_hex").get<std::string>());
        CHECK(plugin.options().encrypt_uri == c.at("encrypt_uri").get<bool>());
        CHECK(plugin.options().iv_field == c.at("iv_field").get<std::string>());

        const Message input = message_of(c.at("input"));
        CHECK(to_hex(input.encode()) == c.at("input").at("encoded_hex").get<std::string>());
        Message m = input;
        plugin.encrypt(m, {});
        CHECK(script.remaining_draws() == 0);

        const json& out = c.at("output");
        CHECK(to_hex(m.body.uri) == out.at("uri_hex").get<std::string>());
        CHECK(to_hex(m.body.content) == out.at("content_hex").get<std::string>());
        if (!c.at("uri_split").is_null()) CHECK(m.body.uri.size() == c.at("uri_split").get<std::size_t>());
        CHECK(m.auth_data == auth_fields_of(out.at("auth_fields")));
        CHECK(m.type() == input.type());
        CHECK(to_hex(m.encode()) == out.at("encoded_hex").get<std::string>());

        // Receiving the Python frame gives back the original body; the iv field stays.
        Message received = decode_wire(out.at("encoded_hex"));
        CHECK_FALSE(plugin.decrypt(received, {}));
        CHECK(received.body == input.body);
        CHECK(received.auth_data.get_bytes(plugin.options().iv_field).has_value());
        CHECK(to_hex(*received.auth_data.get_bytes(plugin.options().iv_field)) == c.at("iv_hex").get<std::string>());
        ++checked;
    }
    std::cout << "sha256_stream_cipher.json plugin_encrypt vectors checked: " << checked << "\n";
    CHECK(checked == 17);
}

TEST_CASE("Sha256StreamCipherPlugin: size limit of the encrypted body", "[cipher][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(cipher_vectors(), "size_limit")) {
        INFO("size_limit: " << c.at("description").get<std::string>());
        sha256_stream_cipher_options o = test_key_options(c.at("encrypt_uri").get<bool>());
        const Sha256StreamCipherPlugin plugin(o);
        Message m = Message::prepare(Body{bytes(c.at("uri_len").get<std::size_t>(), 'u'),
                                          bytes(c.at("content_len").get<std::size_t>(), 'c')},
                                     MessageType::PUBLISH_URI);
        const Message before = m;
        if (c.at("error").get<bool>()) {
            REQUIRE(c.at("exception_message").get<std::string>() == "Content + uri is too long for encapsulation");
            try {
                plugin.encrypt(m, {});
                FAIL("encrypt() accepted an oversized body");
            } catch (const netaio::error& e) {
                CHECK(e.code() == errc::content_too_long);
            }
            CHECK(m == before);  // unchanged on failure
        } else {
            plugin.encrypt(m, {});
            CHECK(m.body.size() == c.at("output_body_length").get<std::size_t>());
            CHECK(m.encode().size() > m.body.size());  // still a valid frame
            CHECK_FALSE(plugin.decrypt(m, {}));
            CHECK(m.body == before.body);
        }
        ++checked;
    }
    std::cout << "sha256_stream_cipher.json size_limit vectors checked: " << checked << "\n";
    CHECK(checked == 3);
}

TEST_CASE("Sha256StreamCipherPlugin: decrypt() without the iv field fails", "[cipher][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(cipher_vectors(), "decrypt_error")) {
        INFO("decrypt_error: " << c.at("description").get<std::string>());
        REQUIRE(c.at("exception").get<std::string>() == "KeyError");
        const Sha256StreamCipherPlugin plugin(cipher_options(json{{"key", "test"}}, false));
        Message m = decode_wire(c.at("input").at("encoded_hex"));
        const Message before = m;
        CHECK(plugin.decrypt(m, {}) == errc::decrypt_failed);
        CHECK(m == before);
        ++checked;
    }
    std::cout << "sha256_stream_cipher.json decrypt_error vectors checked: " << checked << "\n";
    CHECK(checked == 1);
}

namespace {

// The plugins one layer of a plugin_stack case names, with the case's scripted randomness.
struct layer_plugins {
    std::optional<HMACAuthPlugin> auth;
    std::optional<Sha256StreamCipherPlugin> cipher;
};

layer_plugins layer_of(const json& layers, const std::string& side, const netaio_test::scripted_randomness& script) {
    layer_plugins out;
    if (layers.contains(side + "_auth")) {
        const json& l = layers.at(side + "_auth");
        REQUIRE(l.at("plugin").get<std::string>() == "HMACAuthPlugin");
        hmac_auth_options o = hmac_auth_options::from_json(l.at("config"));
        o.python_semantics();
        o.random = script.random();
        o.clock = script.clock();
        out.auth.emplace(o);
    }
    if (layers.contains(side + "_cipher")) {
        const json& l = layers.at(side + "_cipher");
        REQUIRE(l.at("plugin").get<std::string>() == "Sha256StreamCipherPlugin");
        out.cipher.emplace(cipher_options(l.at("config"), false, script.random()));
    }
    return out;
}

}  // namespace

TEST_CASE("Sha256StreamCipherPlugin + HMACAuthPlugin: plugin_stack frames", "[cipher][hmac][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(cipher_vectors(), "plugin_stack")) {
        INFO("plugin_stack: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        const json& layers = c.at("layers");
        layer_plugins inner = layer_of(layers, "inner", script);
        layer_plugins outer = layer_of(layers, "outer", script);
        const plugin_context ctx{};

        // Send: inner cipher, inner auth, outer cipher, outer auth (PROTOCOL.md §9.1).
        const Message input = message_of(c.at("input"));
        Message m = input;
        if (inner.cipher) inner.cipher->encrypt(m, ctx);
        if (inner.auth) inner.auth->make(m.auth_data, m.body, ctx);
        if (outer.cipher) outer.cipher->encrypt(m, ctx);
        if (outer.auth) outer.auth->make(m.auth_data, m.body, ctx);
        CHECK(script.remaining_draws() == 0);
        CHECK(to_hex(m.encode()) == c.at("encoded_hex").get<std::string>());

        // Receive: outer auth check, outer decrypt, inner auth check, inner decrypt.
        Message received = decode_wire(c.at("encoded_hex"));
        const json& decoded = c.at("decoded_outer");
        CHECK(received.auth_data == auth_fields_of(decoded.at("auth_fields")));
        CHECK(to_hex(received.body.uri) == decoded.at("uri_hex").get<std::string>());
        CHECK(to_hex(received.body.content) == decoded.at("content_hex").get<std::string>());

        if (outer.auth) CHECK_FALSE(outer.auth->check(received.auth_data, received.body, ctx));
        if (outer.cipher) CHECK_FALSE(outer.cipher->decrypt(received, ctx));
        if (inner.auth) {
            const bool expected = c.value("inner_auth_check", true);
            const std::error_code inner_result = inner.auth->check(received.auth_data, received.body, ctx);
            CHECK(!inner_result == expected);
            if (!expected) CHECK(inner_result == errc::auth_failed);
        }
        if (inner.cipher) CHECK_FALSE(inner.cipher->decrypt(received, ctx));
        CHECK(received.body == input.body);
        CHECK(received.type() == input.type());
        ++checked;
    }
    std::cout << "sha256_stream_cipher.json plugin_stack vectors checked: " << checked << "\n";
    CHECK(checked == 6);
}

TEST_CASE("Sha256StreamCipherPlugin: the spec's worked frames (PROTOCOL.md section 7)", "[cipher]") {
    // iv forced to 10 11 ... 1f, split point forced to 3.
    random_source forced;
    forced.fill = [](std::span<std::uint8_t> out) {
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(0x10 + i);
    };
    forced.uniform = [](std::uint32_t, std::uint32_t) -> std::uint32_t { return 3; };

    sha256_stream_cipher_options with_uri = cipher_options(json{{"key", "test"}}, false, forced);
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    Sha256StreamCipherPlugin(with_uri).encrypt(m, {});
    CHECK(to_hex(m.encode()) ==
          "07001f000dd798bc33"
          "4d40011b4c40020412430269764110101112131415161718191a1b1c1d1e1f"
          "0003cc700fb2f9e1b354b75442");

    sha256_stream_cipher_options clear_uri =
        cipher_options(json{{"key", "test"}, {"encrypt_uri", false}, {"iv_field", "iv2"}}, false, forced);
    Message n = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    Sha256StreamCipherPlugin(clear_uri).encrypt(n, {});
    CHECK(to_hex(n.encode()) ==
          "070020000b09e6b7d8"
          "4d40011c4c4002051243036976324110101112131415161718191a1b1c1d1e1f"
          "00046563686fa41106bdfe");
}

TEST_CASE("Sha256StreamCipherPlugin: strict decryption failures", "[cipher]") {
    const Sha256StreamCipherPlugin plugin(test_key_options());
    Message good = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    plugin.encrypt(good, {});

    auto decrypt_result = [&](Message m) {
        const Message before = m;
        const std::error_code ec = plugin.decrypt(m, {});
        if (ec) CHECK(m == before);  // failures leave the message untouched
        return ec;
    };

    SECTION("iv missing, of the wrong length or not bytes") {
        for (std::size_t n : {0u, 15u, 17u, 24u}) {
            INFO("iv length " << n);
            Message m = good;
            m.auth_data.set("iv", bytes(n, 1));
            CHECK(decrypt_result(m) == errc::decrypt_failed);
        }
        Message m = good;
        m.auth_data.erase("iv");
        CHECK(decrypt_result(m) == errc::decrypt_failed);
        m.auth_data.set("iv", packify::value("0123456789abcdef"));
        CHECK(decrypt_result(m) == errc::decrypt_failed);
    }
    SECTION("ciphertext too short for the uri length") {
        for (std::size_t n : {0u, 1u}) {
            INFO("ciphertext length " << n);
            Message m = good;
            m.body.uri.clear();
            m.body.content.assign(n, 0x42);
            CHECK(decrypt_result(m) == errc::decrypt_failed);
        }
    }
    SECTION("decrypted uri length running past the plaintext") {
        // Flipping a bit of the first ciphertext byte flips the same bit of the
        // uri length (the cipher is malleable): 0x0004 becomes 0x8004.
        Message m = good;
        m.body.uri[0] ^= 0x80;
        CHECK(decrypt_result(m) == errc::decrypt_failed);
        // The boundary: uri length equal to the rest (empty content) is fine.
        Message whole_uri = Message::prepare(Body::prepare("", "echo"), MessageType::REQUEST_URI);
        plugin.encrypt(whole_uri, {});
        CHECK_FALSE(plugin.decrypt(whole_uri, {}));
        CHECK(whole_uri.body == Body::prepare("", "echo"));
    }
    SECTION("no integrity: a flipped content bit flips the plaintext (pinned malleability)") {
        Message m = good;
        m.body.content.back() ^= 0x01;
        CHECK_FALSE(plugin.decrypt(m, {}));
        CHECK(m.body.uri == to_bytes("echo"));
        CHECK(m.body.content == to_bytes("helln"));  // 'o' ^ 1
    }
    SECTION("a wrong key decrypts to garbage or fails, never to the plaintext") {
        sha256_stream_cipher_options other = test_key_options();
        other.key = to_bytes("another key, also 32 bytes long!");
        Message m = good;
        const std::error_code ec = Sha256StreamCipherPlugin(other).decrypt(m, {});
        if (!ec) CHECK_FALSE(m.body == Body::prepare("hello", "echo"));
    }
}

TEST_CASE("Sha256StreamCipherPlugin: round trips, split points and header upkeep", "[cipher]") {
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
    sha256_stream_cipher_options o = test_key_options();
    o.random.uniform = [&ranges](std::uint32_t low, std::uint32_t high) {
        ranges.emplace_back(low, high);
        return random_source{}.uniform_int(low, high);
    };
    const Sha256StreamCipherPlugin with_uri(o);
    const Sha256StreamCipherPlugin clear_uri(test_key_options(false));

    for (std::size_t uri_len : {0u, 1u, 4u, 40u}) {
        for (std::size_t content_len : {0u, 1u, 31u, 32u, 33u, 1000u}) {
            INFO("uri " << uri_len << " content " << content_len);
            Message original = Message::prepare(Body{bytes(uri_len, 'u'), bytes(content_len, 'c')}, MessageType::OK);
            original.auth_data.set("other", bytes{1, 2, 3});

            Message m = original;
            ranges.clear();
            with_uri.encrypt(m, {});
            REQUIRE(ranges.size() == 1);
            CHECK(ranges[0] == std::make_pair(std::uint32_t{1}, static_cast<std::uint32_t>(2 + uri_len + content_len - 1)));
            CHECK(m.body.uri.size() >= 1);
            CHECK(m.body.content.size() >= 1);
            CHECK(m.body.uri.size() + m.body.content.size() == 2 + uri_len + content_len);
            CHECK(m.header.body_length == m.body.size());
            CHECK(m.header.checksum == m.body_checksum());
            CHECK(m.auth_data.get_bytes("other").has_value());
            // Through the wire and back.
            std::error_code ec;
            Message received = Message::decode(m.encode(), ec);
            REQUIRE_FALSE(ec);
            CHECK_FALSE(with_uri.decrypt(received, {}));
            CHECK(received.body == original.body);
            CHECK(received.header.checksum == original.header.checksum);

            Message n = original;
            clear_uri.encrypt(n, {});
            CHECK(n.body.uri == original.body.uri);
            CHECK(n.body.content.size() == content_len);
            CHECK_FALSE(clear_uri.decrypt(n, {}));
            CHECK(n.body == original.body);
        }
    }

    // Fresh IVs every time.
    Message a = Message::prepare(Body::prepare("x", "y"), MessageType::OK);
    Message b = a;
    with_uri.encrypt(a, {});
    with_uri.encrypt(b, {});
    CHECK(to_hex(*a.auth_data.get_bytes("iv")) != to_hex(*b.auth_data.get_bytes("iv")));
}

TEST_CASE("Sha256StreamCipherPlugin: in-place encryption matches a reference computation, buffers reused",
          "[cipher]") {
    // The plugin encrypts and decrypts inside the message's own buffers. Compare it
    // with the plain definition (PROTOCOL.md section 7) for random bodies, reusing one
    // message and one received message throughout, so that buffers left over from
    // larger or smaller earlier messages are exercised too.
    std::mt19937 rng(7);
    std::optional<std::uint32_t> last_split;
    sha256_stream_cipher_options o = test_key_options();
    o.random.fill = [&rng](std::span<std::uint8_t> out) {
        for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    };
    o.random.uniform = [&rng, &last_split](std::uint32_t low, std::uint32_t high) {
        last_split = std::uniform_int_distribution<std::uint32_t>(low, high)(rng);
        return *last_split;
    };
    sha256_stream_cipher_options clear_options = o;
    clear_options.encrypt_uri = false;
    const Sha256StreamCipherPlugin with_uri(o);
    const Sha256StreamCipherPlugin clear_uri(clear_options);

    Message m;
    Message received;
    for (int i = 0; i < 300; ++i) {
        const bool encrypt_uri = i % 3 != 0;
        const Body original{netaio_test::random_bytes(rng, i % 2 ? 40 : 300), netaio_test::random_bytes(rng, i % 5 ? 100 : 5000)};
        INFO("case " << i << " uri " << original.uri.size() << " content " << original.content.size());
        m.body.uri.assign(original.uri.begin(), original.uri.end());
        m.body.content.assign(original.content.begin(), original.content.end());
        m.auth_data.clear();
        last_split.reset();
        (encrypt_uri ? with_uri : clear_uri).encrypt(m, {});

        const bytes iv(m.auth_data.get_bytes("iv").value().begin(), m.auth_data.get_bytes("iv").value().end());
        REQUIRE(iv.size() == crypto::iv_size);
        bytes plaintext;
        if (encrypt_uri)
            detail::append_uri_plaintext(plaintext, original);  // u16be(len(uri)) || uri || content
        else
            detail::append(plaintext, original.content);
        const bytes ct = crypto::symcrypt(with_uri.plugin_key(), iv, plaintext);
        if (encrypt_uri) {
            REQUIRE(last_split.has_value());
            const auto split = static_cast<std::ptrdiff_t>(*last_split);
            CHECK(m.body.uri == bytes(ct.begin(), ct.begin() + split));
            CHECK(m.body.content == bytes(ct.begin() + split, ct.end()));
        } else {
            CHECK_FALSE(last_split.has_value());
            CHECK(m.body.uri == original.uri);
            CHECK(m.body.content == ct);
        }
        CHECK(m.header.body_length == m.body.size());
        CHECK(m.header.checksum == m.body_checksum());

        received.body.uri.assign(m.body.uri.begin(), m.body.uri.end());
        received.body.content.assign(m.body.content.begin(), m.body.content.end());
        received.auth_data = m.auth_data;
        CHECK_FALSE((encrypt_uri ? with_uri : clear_uri).decrypt(received, {}));
        CHECK(received.body == original);
    }
}

TEST_CASE("Sha256StreamCipherPlugin: a throwing random source leaves the message unchanged", "[cipher]") {
    sha256_stream_cipher_options o = test_key_options();
    o.random.uniform = [](std::uint32_t, std::uint32_t) -> std::uint32_t { throw std::runtime_error("no entropy"); };
    const Sha256StreamCipherPlugin plugin(o);
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    const Message before = m;
    CHECK_THROWS_AS(plugin.encrypt(m, {}), std::runtime_error);
    CHECK(m == before);
}

TEST_CASE("Sha256StreamCipherPlugin: configuration", "[cipher]") {
    auto config_error = [](const json& config) -> std::error_code {
        try {
            Sha256StreamCipherPlugin p(config);
        } catch (const netaio::error& e) {
            return e.code();
        }
        return {};
    };
    CHECK(config_error(json::object()) == errc::bad_plugin_config);          // key required
    CHECK(config_error({{"key", "short"}}) == errc::bad_plugin_config);      // below 16 bytes
    CHECK_FALSE(config_error({{"key", "short"}, {"python_semantics", true}}));
    CHECK_FALSE(config_error({{"key", "short"}, {"min_key_length", 0}}));
    CHECK(config_error({{"key", "0123456789abcdef"}, {"iv_field", ""}}) == errc::bad_plugin_config);
    CHECK(config_error({{"key", "0123456789abcdef"}, {"encrypt_uri", "yes"}}) == errc::bad_plugin_config);
    CHECK(config_error({{"key", nullptr}}) == errc::bad_plugin_config);

    const bytes raw(32, 0x01);
    const Sha256StreamCipherPlugin from_array(json{{"key", raw}});
    const Sha256StreamCipherPlugin from_binary(json{{"key", json::binary(raw)}});
    CHECK(to_hex(from_array.plugin_key()) == "72cd6e8422c407fb6d098690f1130b7ded7ec2f7f5e1d30bd9d521f015363793");
    CHECK(from_binary.plugin_key() == from_array.plugin_key());
    CHECK(from_array.options().key.empty());  // only sha256(key) is kept
    CHECK(from_array.options().encrypt_uri);
    CHECK(from_array.options().iv_field == "iv");
    CHECK_FALSE(from_array.is_peer_specific());
}

TEST_CASE("Sha256StreamCipherPlugin: through any_cipher_plugin", "[cipher][plugin]") {
    any_cipher_plugin handle = Sha256StreamCipherPlugin(test_key_options());
    REQUIRE(handle);
    const any_cipher_plugin copy = handle;
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    handle.encrypt(m, {});
    CHECK(m.body != Body::prepare("hello", "echo"));
    any_cipher_plugin second = copy;
    CHECK_FALSE(second.decrypt(m, {}));
    CHECK(m.body == Body::prepare("hello", "echo"));
    CHECK_FALSE(handle.is_peer_specific());

    any_cipher_plugin empty = nullptr;
    CHECK_FALSE(empty);
    CHECK_FALSE(empty.is_peer_specific());
    CHECK_THROWS_AS(empty.encrypt(m, {}), netaio::error);
    CHECK_THROWS_AS(empty.decrypt(m, {}), netaio::error);
}
