// tests/unit/test_hmac_auth_plugin.cpp - HMACAuthPlugin: every case of hmac_auth.json
// (byte-exact make, Python-equivalent check, the AUTH_ERROR reply), the
// hardening beyond Python (strict lengths, freshness window, replay cache), and
// the opt-in xmac that binds the type and the other auth fields.
#include <netaio/detail/pipeline.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/options.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>

#include "message_vector_support.hpp"
#include "random_support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <map>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

using namespace netaio;
using netaio_test::auth_fields_of;
using netaio_test::hex;
using netaio_test::json;
using netaio_test::message_of;

namespace {

constexpr std::int64_t vector_time = 1700000000;  // every recording freezes time here

const json& hmac_vectors() {
    static const json doc = netaio_test::load_vectors("hmac_auth.json");
    return doc;
}

// Options for a vector case's config; the secret is hex when the case says so.
hmac_auth_options options_for(const json& c, bool python) {
    json config = c.at("config");
    if (c.value("secret_is_bytes", false)) config["secret"] = json::binary(hex(config.at("secret")));
    hmac_auth_options o = hmac_auth_options::from_json(config);
    if (python) o.python_semantics();
    o.min_secret_length = 0;  // the vectors use short secrets such as "test"
    o.clock = clock_source::fixed(vector_time);
    return o;
}

Body body_from_hex(const json& body_hex) {
    std::error_code ec;
    Body b = Body::decode(hex(body_hex), ec);
    REQUIRE_FALSE(ec);
    return b;
}

// A message signed by `plugin` with a chosen nonce and ts.
Message signed_message(const HMACAuthPlugin& plugin, bytes nonce, std::uint32_t ts,
                       std::string_view content = "hello") {
    Message m = Message::prepare(Body::prepare(content, "echo"), MessageType::PUBLISH_URI);
    m.auth_data.set("nonce", nonce);
    bytes ts4(4);
    detail::put_u32be(ts4.data(), ts);
    m.auth_data.set("ts", ts4);
    plugin.make(m.auth_data, m.body);
    return m;
}

// Python-semantics options with a given secret.
hmac_auth_options python_options(std::string_view secret) {
    hmac_auth_options o;
    o.secret = to_bytes(secret);
    o.python_semantics();
    return o;
}

bytes nonce_n(std::uint8_t first, std::size_t n = 16) {
    bytes out(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::uint8_t>(first + i);
    return out;
}

// A hardened plugin with a short test secret and a controllable clock.
struct hardened_fixture {
    std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(vector_time);
    hmac_auth_options options() const {
        hmac_auth_options o;
        o.secret = to_bytes("a test secret of 32 bytes length");
        auto clock_now = now;
        o.clock = clock_source{[clock_now] { return *clock_now; }};
        return o;
    }
};

}  // namespace

TEST_CASE("HMACAuthPlugin: make() vectors are byte-exact", "[hmac][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(hmac_vectors(), "make")) {
        INFO("make: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        hmac_auth_options o = options_for(c, true);
        o.random = script.random();
        o.clock = script.clock();
        const HMACAuthPlugin plugin(o);
        CHECK(to_hex(plugin.plugin_key()) == c.at("plugin_key_hex").get<std::string>());

        const json& in = c.at("input");
        Message m = Message::prepare(Body{hex(in.at("uri_hex")), hex(in.at("content_hex"))},
                                     static_cast<MessageType>(in.at("message_type").get<int>()),
                                     auth_fields_of(in.at("auth_fields")));
        plugin.make(m.auth_data, m.body);
        CHECK(script.remaining_draws() == 0);

        const json& out = c.at("output");
        CHECK(m.auth_data == auth_fields_of(out.at("auth_fields")));
        CHECK(to_hex(m.auth_data.get_bytes(c.at("fields").at("hmac").get<std::string>()).value()) ==
              c.at("hmac_hex").get<std::string>());
        CHECK(to_hex(m.encode()) == out.at("encoded_hex").get<std::string>());

        // What make() wrote verifies, both as Python would and with the hardening on.
        CHECK_FALSE(plugin.check(m.auth_data, m.body));
        // (clock set to the signed ts: some cases preset a ts far from the recording's time)
        hmac_auth_options hardened_options = options_for(c, false);
        const auto signed_ts = detail::get_u32be(m.auth_data.get_bytes(c.at("fields").at("ts").get<std::string>())->data());
        hardened_options.clock = clock_source::fixed(signed_ts);
        const HMACAuthPlugin hardened(hardened_options);
        CHECK_FALSE(hardened.check(m.auth_data, m.body));
        CHECK(hardened.check(m.auth_data, m.body) == errc::replayed);
        ++checked;
    }
    std::cout << "hmac_auth.json make vectors checked: " << checked << "\n";
    CHECK(checked == 9);
}

TEST_CASE("HMACAuthPlugin: make() refuses a ts that does not fit 4 bytes", "[hmac][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(hmac_vectors(), "make_error")) {
        INFO("make_error: " << c.at("description").get<std::string>());
        REQUIRE(c.at("exception").get<std::string>() == "OverflowError");
        const HMACAuthPlugin plugin(options_for(c, true));
        AuthFields fields = auth_fields_of(c.at("input").at("auth_fields"));
        const AuthFields before = fields;
        Body body = Body::prepare("hello", "echo");
        try {
            plugin.make(fields, body);
            FAIL("make() accepted an oversized ts");
        } catch (const netaio::error& e) {
            CHECK(e.code() == errc::bad_auth_field_length);
        }
        CHECK(fields == before);  // nothing half-written
        ++checked;
    }
    std::cout << "hmac_auth.json make_error vectors checked: " << checked << "\n";
    CHECK(checked == 1);
}

TEST_CASE("HMACAuthPlugin: check() vectors, Python semantics and hardened", "[hmac][vectors]") {
    // The result each case gets from the hardened plugin (strict lengths, ±60 s
    // window around the recording's time, replay cache). Python's verdict is the
    // vector's "expected"; the hardened one can only be stricter.
    const std::map<std::string, std::error_code> hardened_result{
        {"valid", {}},
        {"tampered content", errc::auth_failed},
        {"tampered uri", errc::auth_failed},
        {"tampered nonce", errc::auth_failed},
        {"tampered ts", errc::auth_failed},
        {"tampered hmac", errc::auth_failed},
        {"hmac of wrong length", errc::bad_auth_field_length},
        {"wrong secret", errc::auth_failed},
        {"missing nonce", errc::missing_auth_field},
        {"missing ts", errc::missing_auth_field},
        {"missing hmac", errc::missing_auth_field},
        {"ts given as int (check converts with to_bytes(4))", errc::missing_auth_field},
        {"ts int 0 is treated as missing", errc::missing_auth_field},
        {"extra auth fields are ignored", {}},
        {"ts as 8 bytes: check() MACs the raw ts bytes (make() would have normalised to 4)",
         errc::bad_auth_field_length},
        {"very old ts (1) still passes: no freshness check", errc::stale_timestamp},
    };

    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(hmac_vectors(), "check")) {
        const std::string description = c.at("description").get<std::string>();
        INFO("check: " << description);

        // The auth data as it arrives on the wire, and as the vector describes it.
        std::error_code ec;
        const AuthFields fields = AuthFields::decode(hex(c.at("auth_hex")), auth_decode_options(), ec);
        REQUIRE_FALSE(ec);
        CHECK(fields == auth_fields_of(c.at("auth_fields")));
        const Body body = body_from_hex(c.at("body_hex"));
        CHECK(body.uri == hex(c.at("uri_hex")));
        CHECK(body.content == hex(c.at("content_hex")));

        const HMACAuthPlugin python(options_for(c, true));
        const std::error_code python_result = python.check(fields, body);
        CHECK(!python_result == c.at("expected").get<bool>());
        // Python-semantics reasons: absent fields vs. a MAC that does not verify.
        if (description.rfind("missing", 0) == 0 || description == "ts int 0 is treated as missing")
            CHECK(python_result == errc::missing_auth_field);
        else if (!c.at("expected").get<bool>())
            CHECK(python_result == errc::auth_failed);
        // No replay cache in Python semantics: the same frame passes again.
        CHECK(python.check(fields, body) == python_result);

        const HMACAuthPlugin hardened(options_for(c, false));
        REQUIRE(hardened_result.count(description) == 1);
        CHECK(hardened.check(fields, body) == hardened_result.at(description));
        ++checked;
    }
    std::cout << "hmac_auth.json check vectors checked: " << checked << "\n";
    CHECK(checked == 16);
}

TEST_CASE("HMACAuthPlugin: error() is the AUTH_ERROR reply", "[hmac][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(hmac_vectors(), "error_message")) {
        INFO("error_message: " << c.at("description").get<std::string>());
        const HMACAuthPlugin plugin(hmac_auth_options{}.python_semantics());
        const Message reply = plugin.error();
        CHECK(reply.type() == MessageType::AUTH_ERROR);
        CHECK(to_hex(reply.encode()) == c.at("output").at("encoded_hex").get<std::string>());
        ++checked;
    }
    std::cout << "hmac_auth.json error_message vectors checked: " << checked << "\n";
    CHECK(checked == 1);
}

TEST_CASE("HMACAuthPlugin: the spec's worked frame (PROTOCOL.md section 6)", "[hmac]") {
    const HMACAuthPlugin plugin(python_options("test"));
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    m.auth_data.set("nonce", nonce_n(0));
    m.auth_data.set("ts", packify::value(1700000000));
    plugin.make(m.auth_data, m.body);
    CHECK(to_hex(m.encode()) ==
          "070060000b9b359cb3"
          "4d40030f2d1e"
          "4c400204064302747341046553f100"
          "4c400206224304686d616341201a05e5ffe9ab553053e1f152af40e91529f0b263b431f725366206a018c63f5a"
          "4c4002071243056e6f6e63654110000102030405060708090a0b0c0d0e0f"
          "00046563686f68656c6c6f");
}

TEST_CASE("HMACAuthPlugin: make() nonce and ts reuse rule", "[hmac]") {
    hardened_fixture fx;
    hmac_auth_options inner_options = fx.options();
    inner_options.hmac_field = "camh";
    const HMACAuthPlugin inner(inner_options);
    const HMACAuthPlugin outer(fx.options());

    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    inner.make(m.auth_data, m.body);
    const bytes nonce(m.auth_data.get_bytes("nonce")->begin(), m.auth_data.get_bytes("nonce")->end());
    const bytes ts(m.auth_data.get_bytes("ts")->begin(), m.auth_data.get_bytes("ts")->end());
    CHECK(nonce.size() == 16);
    CHECK(ts == bytes{0x65, 0x53, 0xf1, 0x00});

    *fx.now += 5;  // the outer layer keeps the inner ts even though time moved on
    outer.make(m.auth_data, m.body);
    CHECK(bytes(m.auth_data.get_bytes("nonce")->begin(), m.auth_data.get_bytes("nonce")->end()) == nonce);
    CHECK(bytes(m.auth_data.get_bytes("ts")->begin(), m.auth_data.get_bytes("ts")->end()) == ts);
    CHECK(m.auth_data.contains("camh"));
    CHECK(m.auth_data.contains("hmac"));
    CHECK_FALSE(outer.check(m.auth_data, m.body));
    CHECK_FALSE(inner.check(m.auth_data, m.body));

    // A nonce of another length is replaced by a fresh 16-byte one.
    AuthFields f;
    f.set("nonce", nonce_n(0, 8));
    outer.make(f, m.body);
    CHECK(f.get_bytes("nonce")->size() == 16);
    CHECK(bytes(f.get_bytes("nonce")->begin(), f.get_bytes("nonce")->end()) != nonce_n(0, 8));

    // Two fresh make() calls draw different nonces from the default RNG.
    AuthFields a, b;
    outer.make(a, m.body);
    outer.make(b, m.body);
    CHECK(bytes(a.get_bytes("nonce")->begin(), a.get_bytes("nonce")->end()) !=
          bytes(b.get_bytes("nonce")->begin(), b.get_bytes("nonce")->end()));
}

TEST_CASE("HMACAuthPlugin: make() matches a reference computation, fields reused", "[hmac]") {
    // make() builds nonce and ts on the stack and writes them into recycled auth
    // field storage. Compare it with the plain definition (PROTOCOL.md section 6)
    // for random bodies and nonces, on one AuthFields reused throughout.
    std::mt19937 rng(11);
    hardened_fixture fx;
    hmac_auth_options o = fx.options();
    o.random.fill = [&rng](std::span<std::uint8_t> out) {
        for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    };
    const HMACAuthPlugin plugin(o);
    AuthFields fields;
    for (int i = 0; i < 200; ++i) {
        const Body body{netaio_test::random_bytes(rng, i % 2 ? 30 : 500), netaio_test::random_bytes(rng, i % 7 ? 100 : 3000)};
        INFO("case " << i << " uri " << body.uri.size() << " content " << body.content.size());
        fields.clear();
        const bool reuse_nonce = i % 3 == 0;  // an inner layer's nonce is kept
        const bytes given_nonce = nonce_n(static_cast<std::uint8_t>(i));
        if (reuse_nonce) fields.set("nonce", given_nonce);
        *fx.now = vector_time + i;
        plugin.make(fields, body);

        const bytes nonce(fields.get_bytes("nonce")->begin(), fields.get_bytes("nonce")->end());
        REQUIRE(nonce.size() == 16);
        if (reuse_nonce) CHECK(nonce == given_nonce);
        bytes ts(4);
        detail::put_u32be(ts.data(), static_cast<std::uint32_t>(vector_time + i));
        CHECK(bytes(fields.get_bytes("ts")->begin(), fields.get_bytes("ts")->end()) == ts);
        bytes signed_part = ts;
        detail::append_u16be(signed_part, static_cast<std::uint16_t>(body.uri.size()));
        detail::append(signed_part, body.uri);
        detail::append(signed_part, body.content);
        const crypto::digest expected = crypto::hmac(crypto::sha256(to_bytes("a test secret of 32 bytes length")),
                                                     nonce, bytes_view(signed_part));
        CHECK(to_hex(*fields.get_bytes("hmac")) == to_hex(bytes_view(expected)));
        CHECK_FALSE(plugin.check(fields, body));
    }
}

TEST_CASE("HMACAuthPlugin: make() ts conversions", "[hmac]") {
    const HMACAuthPlugin plugin(python_options("k"));
    const Body body = Body::prepare("hello", "echo");
    auto ts_after_make = [&](packify::value ts) {
        AuthFields f;
        f.set("ts", std::move(ts));
        plugin.make(f, body);
        return to_hex(*f.get_bytes("ts"));
    };
    CHECK(ts_after_make(bytes{0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00}) == "6553f100");  // leading zeros fine
    CHECK(ts_after_make(bytes{0x01}) == "00000001");
    CHECK(ts_after_make(bytes{}) == "00000000");
    CHECK(ts_after_make(packify::value(0)) == "00000000");
    CHECK(ts_after_make(packify::value(0xFFFFFFFFu)) == "ffffffff");

    auto make_error = [&](packify::value ts) -> std::error_code {
        AuthFields f;
        f.set("ts", std::move(ts));
        try {
            plugin.make(f, body);
        } catch (const netaio::error& e) {
            return e.code();
        }
        return {};
    };
    CHECK(make_error(bytes{1, 0, 0, 0, 0}) == errc::bad_auth_field_length);
    CHECK(make_error(packify::value(-1)) == errc::bad_auth_field_length);
    CHECK(make_error(packify::value(std::uint64_t{1} << 32)) == errc::bad_auth_field_length);
    CHECK(make_error(packify::value("1700000000")) == errc::missing_auth_field);

    // A uri too long for its u16 length prefix cannot be framed, so it is not signed.
    AuthFields long_uri_fields;
    try {
        plugin.make(long_uri_fields, Body{bytes(0x10000, 'u'), {}});
        FAIL("make() signed a uri longer than 65535 bytes");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::field_too_large);
    }

    // A clock outside the u32 range cannot be signed.
    hmac_auth_options o = python_options("k");
    o.clock = clock_source::fixed(std::int64_t{1} << 32);
    AuthFields f;
    CHECK_THROWS_AS(HMACAuthPlugin(o).make(f, body), netaio::error);
}

TEST_CASE("HMACAuthPlugin: hardened check() rejects with typed reasons", "[hmac]") {
    hardened_fixture fx;
    const HMACAuthPlugin plugin(fx.options());
    const Message good = signed_message(plugin, nonce_n(1), static_cast<std::uint32_t>(vector_time));

    SECTION("tampered mac, content and message type") {
        AuthFields f = good.auth_data;
        bytes mac(f.get_bytes("hmac")->begin(), f.get_bytes("hmac")->end());
        mac[31] ^= 0x80;
        f.set("hmac", mac);
        CHECK(plugin.check(f, good.body) == errc::auth_failed);

        Body body = good.body;
        body.content.back() ^= 1;
        CHECK(plugin.check(good.auth_data, body) == errc::auth_failed);

        // The type byte is not covered (a documented limit of netaio 0.0.9's MAC).
        Message retyped = good;
        retyped.header.message_type = MessageType::DELETE_URI;
        CHECK_FALSE(plugin.check(retyped.auth_data, retyped.body));
    }
    SECTION("wrong lengths are refused before the MAC") {
        for (std::size_t n : {0u, 15u, 17u}) {
            AuthFields f = good.auth_data;
            f.set("nonce", nonce_n(1, n));
            INFO("nonce length " << n);
            CHECK(plugin.check(f, good.body) == (n == 0 ? errc::missing_auth_field : errc::bad_auth_field_length));
        }
        for (std::size_t n : {3u, 5u}) {
            AuthFields f = good.auth_data;
            f.set("ts", bytes(n, 0));
            INFO("ts length " << n);
            CHECK(plugin.check(f, good.body) == errc::bad_auth_field_length);
        }
        for (std::size_t n : {31u, 33u}) {
            AuthFields f = good.auth_data;
            f.set("hmac", bytes(n, 0));
            INFO("hmac length " << n);
            CHECK(plugin.check(f, good.body) == errc::bad_auth_field_length);
        }
    }
    SECTION("missing or non-bytes fields") {
        for (const char* field : {"nonce", "ts", "hmac"}) {
            INFO("field " << field);
            AuthFields f = good.auth_data;
            f.erase(field);
            CHECK(plugin.check(f, good.body) == errc::missing_auth_field);
            f.set(field, packify::value(1700000000));
            CHECK(plugin.check(f, good.body) == errc::missing_auth_field);
            f.set(field, packify::value("text"));
            CHECK(plugin.check(f, good.body) == errc::missing_auth_field);
        }
        CHECK(plugin.check(AuthFields{}, good.body) == errc::missing_auth_field);
    }
    SECTION("stale and future timestamps; the window boundaries are accepted") {
        const std::uint32_t now = static_cast<std::uint32_t>(vector_time);
        CHECK(plugin.check(signed_message(plugin, nonce_n(10), now - 61).auth_data, good.body) ==
              errc::stale_timestamp);
        CHECK(plugin.check(signed_message(plugin, nonce_n(11), now + 61).auth_data, good.body) ==
              errc::future_timestamp);
        const Message oldest = signed_message(plugin, nonce_n(12), now - 60);
        const Message newest = signed_message(plugin, nonce_n(13), now + 60);
        CHECK_FALSE(plugin.check(oldest.auth_data, oldest.body));
        CHECK_FALSE(plugin.check(newest.auth_data, newest.body));
        // The same frame a second later has left the window.
        *fx.now += 1;
        const Message oldest_again = signed_message(plugin, nonce_n(14), now - 60);
        CHECK(plugin.check(oldest_again.auth_data, oldest_again.body) == errc::stale_timestamp);
    }
    SECTION("replay is detected; forged frames never enter the cache") {
        // A forgery reusing the nonce and ts but with a wrong MAC comes first ...
        AuthFields forged = good.auth_data;
        forged.set("hmac", bytes(32, 0xAA));
        CHECK(plugin.check(forged, good.body) == errc::auth_failed);
        CHECK(plugin.replay()->size() == 0);
        // ... and does not block the genuine frame, which is accepted exactly once.
        CHECK_FALSE(plugin.check(good.auth_data, good.body));
        CHECK(plugin.check(good.auth_data, good.body) == errc::replayed);
        CHECK(plugin.replay()->size() == 1);
        // Copies of the plugin (e.g. the same plugin on two handlers) share the cache.
        const HMACAuthPlugin copy = plugin;
        CHECK(copy.check(good.auth_data, good.body) == errc::replayed);
        // Once the ts left the window the window itself rejects the replay.
        *fx.now += 61;
        CHECK(plugin.check(good.auth_data, good.body) == errc::stale_timestamp);
    }
}

TEST_CASE("HMACAuthPlugin: replay cache bounds (fail closed) and sharing", "[hmac]") {
    hardened_fixture fx;
    auto cache = std::make_shared<replay_cache>(2);
    hmac_auth_options o = fx.options();
    o.shared_replay_cache = cache;
    const HMACAuthPlugin server_a(o);
    const HMACAuthPlugin server_b(o);
    const auto now = static_cast<std::uint32_t>(vector_time);

    const Message m1 = signed_message(server_a, nonce_n(1), now);
    const Message m2 = signed_message(server_a, nonce_n(2), now);
    const Message m3 = signed_message(server_a, nonce_n(3), now);
    CHECK_FALSE(server_a.check(m1.auth_data, m1.body));
    CHECK(server_b.check(m1.auth_data, m1.body) == errc::replayed);  // a second server sharing the cache
    CHECK_FALSE(server_b.check(m2.auth_data, m2.body));
    CHECK(server_a.check(m3.auth_data, m3.body) == errc::replay_cache_full);
    CHECK(cache->size() == 2);

    // After the window has passed, old entries expire and fresh frames fit again.
    *fx.now += 61;
    const Message m4 = signed_message(server_a, nonce_n(4), static_cast<std::uint32_t>(*fx.now));
    CHECK_FALSE(server_a.check(m4.auth_data, m4.body));
    CHECK(cache->size() == 1);
}

TEST_CASE("HMACAuthPlugin: inner and outer layers sharing one cache and one nonce", "[hmac]") {
    hardened_fixture fx;
    auto cache = std::make_shared<replay_cache>(16);
    hmac_auth_options outer_options = fx.options();
    outer_options.shared_replay_cache = cache;
    hmac_auth_options inner_options = outer_options;
    inner_options.hmac_field = "camh";
    const HMACAuthPlugin outer(outer_options);
    const HMACAuthPlugin inner(inner_options);

    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    inner.make(m.auth_data, m.body);
    outer.make(m.auth_data, m.body);
    // Same nonce and ts in both layers (and here even the same secret, so the same
    // MAC value), yet each layer is accepted once: the cache key is MAC + field name.
    CHECK(to_hex(m.auth_data.get_bytes("hmac").value()) == to_hex(m.auth_data.get_bytes("camh").value()));
    CHECK_FALSE(outer.check(m.auth_data, m.body));
    CHECK_FALSE(inner.check(m.auth_data, m.body));
    CHECK(outer.check(m.auth_data, m.body) == errc::replayed);
    CHECK(inner.check(m.auth_data, m.body) == errc::replayed);
    CHECK(cache->size() == 2);
}

TEST_CASE("HMACAuthPlugin: configuration", "[hmac]") {
    auto config_error = [](const json& config) -> std::error_code {
        try {
            HMACAuthPlugin p(config);
        } catch (const netaio::error& e) {
            return e.code();
        }
        return {};
    };
    const std::string long_secret = "0123456789abcdef";

    CHECK(config_error(json::object()) == errc::bad_plugin_config);                       // secret required
    CHECK(config_error(json::array()) == errc::bad_plugin_config);                        // not an object
    CHECK(config_error({{"secret", "short"}}) == errc::bad_plugin_config);                // below 16 bytes
    CHECK_FALSE(config_error({{"secret", "short"}, {"min_secret_length", 0}}));
    CHECK_FALSE(config_error({{"secret", "short"}, {"python_semantics", true}}));
    CHECK_FALSE(config_error({{"secret", long_secret}}));
    CHECK(config_error({{"secret", 5}}) == errc::bad_plugin_config);
    CHECK(config_error({{"secret", json::array({1, 256})}}) == errc::bad_plugin_config);
    CHECK(config_error({{"secret", long_secret}, {"hmac_field", ""}}) == errc::bad_plugin_config);
    CHECK(config_error({{"secret", long_secret}, {"hmac_field", "nonce"}}) == errc::bad_plugin_config);
    CHECK(config_error({{"secret", long_secret}, {"freshness_window", -1}}) == errc::bad_plugin_config);
    CHECK(config_error({{"secret", long_secret}, {"freshness_window", std::uint64_t{1} << 32}}) ==
          errc::bad_plugin_config);
    CHECK(config_error({{"secret", long_secret}, {"freshness_window", false}}) == errc::bad_plugin_config);
    // A replay cache without a window could never forget anything.
    CHECK(config_error({{"secret", long_secret}, {"freshness_window", nullptr}}) == errc::bad_plugin_config);
    CHECK_FALSE(config_error(
        {{"secret", long_secret}, {"freshness_window", nullptr}, {"replay_cache_capacity", 0}}));

    // Bytes secrets: an array of numbers or json::binary, as Python accepts bytes.
    const bytes raw{0x00, 0x01, 0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0xff};
    const HMACAuthPlugin from_array(json{{"secret", raw}, {"python_semantics", true}});
    const HMACAuthPlugin from_binary(json{{"secret", json::binary(raw)}, {"python_semantics", true}});
    CHECK(to_hex(from_array.plugin_key()) == "c7ae3252318f643183e19ffa109fd1f88dd91dccf5c8ed97e840023297408873");
    CHECK(from_binary.plugin_key() == from_array.plugin_key());

    const HMACAuthPlugin text(json{{"secret", "test"}, {"python_semantics", true}});
    CHECK(to_hex(text.plugin_key()) == "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
    CHECK(text.options().secret.empty());  // only sha256(secret) is kept
    CHECK_FALSE(text.replay());
    CHECK_FALSE(text.options().freshness_window);

    const HMACAuthPlugin defaults(json{{"secret", long_secret}});
    CHECK(defaults.options().strict_lengths);
    CHECK(defaults.options().freshness_window == std::chrono::seconds{60});
    REQUIRE(defaults.replay());
    CHECK(defaults.replay()->capacity() == replay_cache::default_capacity);
    CHECK_FALSE(defaults.is_peer_specific());

    const HMACAuthPlugin custom(json{{"secret", long_secret},
                                     {"hmac_field", "mac"},
                                     {"nonce_field", "n"},
                                     {"ts_field", "t"},
                                     {"freshness_window", 5},
                                     {"replay_cache_capacity", 7},
                                     {"strict_lengths", false}});
    CHECK(custom.options().hmac_field == "mac");
    CHECK(custom.options().nonce_field == "n");
    CHECK(custom.options().ts_field == "t");
    CHECK(custom.options().freshness_window == std::chrono::seconds{5});
    CHECK(custom.replay()->capacity() == 7);
    CHECK_FALSE(custom.options().strict_lengths);
}

TEST_CASE("HMACAuthPlugin: through any_auth_plugin", "[hmac][plugin]") {
    hardened_fixture fx;
    any_auth_plugin handle = HMACAuthPlugin(fx.options());
    REQUIRE(handle);
    any_auth_plugin copy = handle;
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    handle.make(m.auth_data, m.body, {});
    CHECK_FALSE(handle.check(m.auth_data, m.body, {}));
    CHECK(copy.check(m.auth_data, m.body, {}) == errc::replayed);  // copies share the plugin
    CHECK(handle.error().type() == MessageType::AUTH_ERROR);
    CHECK_FALSE(handle.is_peer_specific());

    // Sharing a plugin the caller keeps.
    auto shared = std::make_shared<HMACAuthPlugin>(fx.options());
    any_auth_plugin from_shared = shared;
    Message m2 = Message::prepare(Body::prepare("x", "y"), MessageType::REQUEST_URI);
    from_shared.make(m2.auth_data, m2.body, {});
    CHECK_FALSE(shared->check(m2.auth_data, m2.body));
    CHECK(from_shared.check(m2.auth_data, m2.body, {}) == errc::replayed);

    any_auth_plugin empty;
    CHECK_FALSE(empty);
    CHECK_FALSE(empty.is_peer_specific());
    CHECK_THROWS_AS(empty.make(m.auth_data, m.body, {}), netaio::error);
    CHECK_THROWS_AS(empty.check(m.auth_data, m.body, {}), netaio::error);
    any_auth_plugin null_shared = std::shared_ptr<HMACAuthPlugin>();
    CHECK_FALSE(null_shared);
}

// ---- the xmac extension (RELIABILITY.md §2 rows 3 and 5, C6, D5) ----------------

namespace {

plugin_context typed_ctx(MessageType t) { return plugin_context(nullptr, nullptr, static_cast<std::uint8_t>(t)); }

// The xmac as the header documents it, computed independently: M built in one
// buffer, then libsodium's one-shot HMAC-SHA256 keyed with S = sha256(secret).
bytes reference_xmac(std::string_view secret, std::uint8_t type, const AuthFields& fields, const Body& body,
                     const std::vector<std::string>& unsigned_fields = {}) {
    std::vector<std::pair<std::string, bytes>> entries;  // name, kind || u16 len || value
    for (const auto& [name, value] : fields) {
        if (name == "xmac" || std::find(unsigned_fields.begin(), unsigned_fields.end(), name) != unsigned_fields.end())
            continue;
        bytes v;
        if (const bytes* b = value.get_if<bytes>()) {
            v.push_back(0x00);
            detail::append_u16be(v, static_cast<std::uint16_t>(b->size()));
            detail::append(v, *b);
        } else {
            const bytes packed = packify::pack(value);
            v.push_back(0x01);
            detail::append_u16be(v, static_cast<std::uint16_t>(packed.size()));
            detail::append(v, packed);
        }
        entries.emplace_back(name, v);
    }
    std::sort(entries.begin(), entries.end());
    bytes m = to_bytes("netaio-xmac-v1");
    m.push_back(type);
    detail::append_u16be(m, static_cast<std::uint16_t>(entries.size()));
    for (const auto& [name, v] : entries) {
        detail::append_u16be(m, static_cast<std::uint16_t>(name.size()));
        detail::append(m, to_bytes(name));
        detail::append(m, v);
    }
    detail::append(m, body.encode());
    const crypto::digest key = crypto::sha256(to_bytes(secret));
    bytes out(crypto_auth_hmacsha256_BYTES);
    crypto_auth_hmacsha256(out.data(), m.data(), m.size(), key.data());
    return out;
}

constexpr const char* xmac_secret = "a test secret of 32 bytes length";

// A hardened plugin (fixed clock) with the xmac settings given.
hmac_auth_options xmac_options(bool send, bool require) {
    hmac_auth_options o;
    o.secret = to_bytes(xmac_secret);
    o.clock = clock_source::fixed(vector_time);
    o.send_xmac = send;
    o.require_xmac = require;
    return o;
}

// An UPDATE_URI signed with xmac, carrying a stream-cipher-like iv and an int field.
Message xmac_signed_update(const HMACAuthPlugin& plugin, std::uint8_t iv_first = 0x40) {
    Message m = Message::prepare(Body::prepare("new value", "item/7"), MessageType::UPDATE_URI);
    m.auth_data.set("iv", nonce_n(iv_first));
    m.auth_data.set("n", packify::value(5));
    plugin.make(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI));
    return m;
}

}  // namespace

TEST_CASE("HMACAuthPlugin xmac: make() writes the documented construction, check() verifies it", "[hmac][xmac]") {
    const HMACAuthPlugin plugin(xmac_options(true, true));
    const Message m = xmac_signed_update(plugin);
    REQUIRE(m.auth_data.size() == 6);  // iv, n, nonce, ts, hmac, xmac
    const auto xmac = m.auth_data.get_bytes("xmac");
    REQUIRE(xmac);
    CHECK(to_hex(*xmac) ==
          to_hex(reference_xmac(xmac_secret, static_cast<std::uint8_t>(MessageType::UPDATE_URI), m.auth_data, m.body)));

    // The compatible fields are what the plugin without xmac writes (same nonce and ts).
    Message plain = Message::prepare(m.body, MessageType::UPDATE_URI);
    plain.auth_data.set("nonce", bytes(m.auth_data.get_bytes("nonce")->begin(), m.auth_data.get_bytes("nonce")->end()));
    plain.auth_data.set("iv", nonce_n(0x40));
    plain.auth_data.set("n", packify::value(5));
    HMACAuthPlugin(xmac_options(false, false)).make(plain.auth_data, plain.body);
    CHECK(to_hex(*plain.auth_data.get_bytes("hmac")) == to_hex(*m.auth_data.get_bytes("hmac")));
    CHECK_FALSE(plain.auth_data.contains("xmac"));

    // Accepted once: the replay cache is filled after both MACs verified.
    CHECK_FALSE(plugin.check(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI)));
    CHECK(plugin.check(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI)) == errc::replayed);

    // As an inner layer with the outer layer's fields unsigned, under an outer xmac layer.
    hmac_auth_options inner_o = xmac_options(true, true);
    inner_o.hmac_field = "camh";
    inner_o.xmac_field = "xcamh";
    inner_o.xmac_unsigned_fields = {"hmac", "xmac", "iv"};
    const HMACAuthPlugin inner(inner_o);
    const HMACAuthPlugin outer(xmac_options(true, true));
    Message layered = Message::prepare(Body::prepare("payload", "inner"), MessageType::REQUEST_URI);
    const plugin_context ctx = typed_ctx(MessageType::REQUEST_URI);
    inner.make(layered.auth_data, layered.body, ctx);
    layered.auth_data.set("iv", nonce_n(3));  // what an outer cipher would add
    outer.make(layered.auth_data, layered.body, ctx);
    CHECK(to_hex(*layered.auth_data.get_bytes("xcamh")) !=
          to_hex(*layered.auth_data.get_bytes("xmac")));
    CHECK_FALSE(outer.check(layered.auth_data, layered.body, ctx));
    CHECK_FALSE(inner.check(layered.auth_data, layered.body, ctx));
    // Without the unsigned list the inner xmac cannot verify under the outer fields.
    hmac_auth_options naive_o = inner_o;
    naive_o.xmac_unsigned_fields.clear();
    naive_o.replay_cache_capacity = 0;
    naive_o.freshness_window.reset();
    CHECK(HMACAuthPlugin(naive_o).check(layered.auth_data, layered.body, ctx) == errc::auth_failed);

    // make() needs the type; nothing is written without it.
    AuthFields untyped;
    CHECK_THROWS_AS(plugin.make(untyped, m.body), netaio::error);
    CHECK(untyped.size() == 0);
    // A field the u16 lengths cannot describe cannot be covered.
    AuthFields huge;
    huge.set("big", bytes(0x10000, 1));
    try {
        plugin.make(huge, m.body, ctx);
        FAIL("make() covered a 65536-byte field");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::field_too_large);
    }
}

TEST_CASE("HMACAuthPlugin xmac: type, iv, other field and body changes are refused", "[hmac][xmac]") {
    const HMACAuthPlugin plugin(xmac_options(true, false));
    const HMACAuthPlugin compatible(xmac_options(false, false).python_semantics());
    const plugin_context update = typed_ctx(MessageType::UPDATE_URI);
    const Message good = xmac_signed_update(plugin);
    auto verdicts = [&](const AuthFields& f, const Body& b, const plugin_context& ctx) {
        // (xmac plugin, compatible plugin): the compatible MAC alone misses all of these.
        return std::pair{plugin.check(f, b, ctx), compatible.check(f, b, ctx)};
    };

    SECTION("UPDATE_URI re-typed to DELETE_URI (C6)") {
        const auto [x, c] = verdicts(good.auth_data, good.body, typed_ctx(MessageType::DELETE_URI));
        CHECK(x == errc::auth_failed);
        CHECK_FALSE(c);  // the pinned compatible limit
    }
    SECTION("another valid iv swapped in (D5)") {
        AuthFields f = good.auth_data;
        f.set("iv", nonce_n(0x41));
        const auto [x, c] = verdicts(f, good.body, update);
        CHECK(x == errc::auth_failed);
        CHECK_FALSE(c);
    }
    SECTION("another auth field changed, added or removed") {
        AuthFields changed = good.auth_data;
        changed.set("n", packify::value(6));
        CHECK(verdicts(changed, good.body, update) == std::pair{make_error_code(errc::auth_failed), std::error_code()});
        AuthFields added = good.auth_data;
        added.set("extra", to_bytes("x"));
        CHECK(verdicts(added, good.body, update) == std::pair{make_error_code(errc::auth_failed), std::error_code()});
        AuthFields removed = good.auth_data;
        removed.erase("n");
        CHECK(verdicts(removed, good.body, update) == std::pair{make_error_code(errc::auth_failed), std::error_code()});
    }
    SECTION("body changed: both MACs object") {
        Body b = good.body;
        b.content[0] ^= 1;
        CHECK(verdicts(good.auth_data, b, update) ==
              std::pair{make_error_code(errc::auth_failed), make_error_code(errc::auth_failed)});
    }
    SECTION("the xmac itself: a flipped bit, a wrong length, a wrong type; no message type to check against") {
        AuthFields f = good.auth_data;
        bytes x(f.get_bytes("xmac")->begin(), f.get_bytes("xmac")->end());
        x[0] ^= 0x01;
        f.set("xmac", x);
        CHECK(plugin.check(f, good.body, update) == errc::auth_failed);
        f.set("xmac", bytes(31, 0));
        CHECK(plugin.check(f, good.body, update) == errc::bad_auth_field_length);
        f.set("xmac", packify::value("text"));
        CHECK(plugin.check(f, good.body, update) == errc::missing_auth_field);
        CHECK(plugin.check(good.auth_data, good.body, plugin_context{}) == errc::auth_failed);
    }
    // None of the refused attempts reached the replay cache: the genuine frame passes once.
    CHECK_FALSE(plugin.check(good.auth_data, good.body, update));
    CHECK(plugin.check(good.auth_data, good.body, update) == errc::replayed);
}

TEST_CASE("HMACAuthPlugin xmac: require_xmac refuses frames without it; otherwise they pass", "[hmac][xmac]") {
    // A frame as netaio 0.0.9 (or this plugin by default) makes it: no xmac.
    const HMACAuthPlugin python_like(xmac_options(false, false));
    Message m = Message::prepare(Body::prepare("v", "item"), MessageType::UPDATE_URI);
    python_like.make(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI));
    REQUIRE(m.auth_data.size() == 3);

    const HMACAuthPlugin required(xmac_options(true, true));
    const HMACAuthPlugin optional(xmac_options(true, false));
    CHECK(required.check(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI)) == errc::missing_auth_field);
    CHECK_FALSE(optional.check(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI)));
    // Optional means the re-typing attack still works on frames without an xmac.
    CHECK(required.check(m.auth_data, m.body, typed_ctx(MessageType::DELETE_URI)) == errc::missing_auth_field);

    // Python semantics ignore the field entirely, as Python does: a wrong xmac passes.
    const HMACAuthPlugin sender(xmac_options(true, false));
    Message x = xmac_signed_update(sender);
    x.auth_data.set("xmac", bytes(32, 0));
    hmac_auth_options py = xmac_options(false, false);
    py.python_semantics();
    CHECK_FALSE(HMACAuthPlugin(py).check(x.auth_data, x.body, typed_ctx(MessageType::DELETE_URI)));
    CHECK(HMACAuthPlugin(xmac_options(false, false)).check(x.auth_data, x.body, typed_ctx(MessageType::UPDATE_URI)) ==
          errc::auth_failed);  // but the default (verify_xmac) does check it
}

TEST_CASE("HMACAuthPlugin xmac: the make vectors keep their compatible bytes with xmac on, and Python semantics accept them",
          "[hmac][xmac][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(hmac_vectors(), "make")) {
        INFO("make: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        hmac_auth_options o = options_for(c, true);
        o.random = script.random();
        o.clock = script.clock();
        o.send_xmac = true;
        const HMACAuthPlugin plugin(o);
        const json& in = c.at("input");
        const auto type = static_cast<MessageType>(in.at("message_type").get<int>());
        Message m = Message::prepare(Body{hex(in.at("uri_hex")), hex(in.at("content_hex"))}, type,
                                     auth_fields_of(in.at("auth_fields")));
        plugin.make(m.auth_data, m.body, typed_ctx(type));
        const std::string xmac_name = "xmac";
        REQUIRE(m.auth_data.contains(xmac_name));
        AuthFields without = m.auth_data;
        without.erase(xmac_name);
        CHECK(without == auth_fields_of(c.at("output").at("auth_fields")));
        // A Python-semantics checker (what Python does) accepts the frame with the extra field.
        const HMACAuthPlugin python(options_for(c, true));
        CHECK_FALSE(python.check(m.auth_data, m.body, typed_ctx(type)));
        ++checked;
    }
    CHECK(checked == 9);

    // Defaults from JSON: no xmac, bytes exactly the spec's worked frame.
    const HMACAuthPlugin json_default(nlohmann::json{{"secret", "test"}, {"python_semantics", true}});
    CHECK_FALSE(json_default.options().send_xmac);
    CHECK_FALSE(json_default.options().require_xmac);
    Message w = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
    w.auth_data.set("nonce", nonce_n(0));
    w.auth_data.set("ts", packify::value(1700000000));
    json_default.make(w.auth_data, w.body, typed_ctx(MessageType::PUBLISH_URI));
    CHECK(to_hex(w.encode()) ==
          "070060000b9b359cb3"
          "4d40030f2d1e"
          "4c400204064302747341046553f100"
          "4c400206224304686d616341201a05e5ffe9ab553053e1f152af40e91529f0b263b431f725366206a018c63f5a"
          "4c4002071243056e6f6e63654110000102030405060708090a0b0c0d0e0f"
          "00046563686f68656c6c6f");
}

TEST_CASE("HMACAuthPlugin xmac: with the stream cipher, a swapped iv is refused (D5)", "[hmac][xmac]") {
    sha256_stream_cipher_options co;
    co.key = to_bytes("a stream cipher key of 32 bytes!");
    co.encrypt_uri = false;
    handler_plugins layer_x;
    layer_x.auth = HMACAuthPlugin(xmac_options(true, false));
    layer_x.cipher = Sha256StreamCipherPlugin(co);
    handler_plugins layer_plain;
    layer_plain.auth = HMACAuthPlugin(xmac_options(false, false));
    layer_plain.cipher = Sha256StreamCipherPlugin(co);

    for (const handler_plugins* layer : {&layer_plain, &layer_x}) {
        const bool with_xmac = layer == &layer_x;
        INFO("xmac " << with_xmac);
        Message a = Message::prepare(Body::prepare("transfer 10", "pay"), MessageType::REQUEST_URI);
        Message b = Message::prepare(Body::prepare("transfer 99", "pay"), MessageType::REQUEST_URI);
        detail::seal_layer(a, *layer, plugin_context{});
        detail::seal_layer(b, *layer, plugin_context{});
        a.auth_data.set("iv", bytes(b.auth_data.get_bytes("iv")->begin(), b.auth_data.get_bytes("iv")->end()));
        const detail::open_result r = detail::open_layer(a, *layer, plugin_context{});
        if (with_xmac) {
            CHECK(r.error == errc::auth_failed);
        } else {
            REQUIRE_FALSE(r.error);  // the pinned compatible limit: garbage plaintext
            CHECK(a.body.content != to_bytes("transfer 10"));
        }
    }
}

TEST_CASE("HMACAuthPlugin xmac: configuration", "[hmac][xmac]") {
    const std::string secret = "0123456789abcdef";
    const HMACAuthPlugin on(nlohmann::json{{"secret", secret},
                                           {"xmac", true},
                                           {"require_xmac", true},
                                           {"xmac_field", "xm"},
                                           {"xmac_unsigned_fields", nlohmann::json::array({"hmac2", "iv"})}});
    CHECK(on.options().send_xmac);
    CHECK(on.options().require_xmac);
    CHECK(on.options().verify_xmac);
    CHECK(on.options().xmac_field == "xm");
    CHECK(on.options().xmac_unsigned_fields == std::vector<std::string>{"hmac2", "iv"});
    const HMACAuthPlugin off(nlohmann::json{{"secret", secret}, {"verify_xmac", false}});
    CHECK_FALSE(off.options().send_xmac);
    CHECK_FALSE(off.options().verify_xmac);
    const HMACAuthPlugin python(nlohmann::json{{"secret", secret}, {"python_semantics", true}});
    CHECK_FALSE(python.options().verify_xmac);

    auto refused = [&secret](nlohmann::json extra) {
        nlohmann::json config{{"secret", secret}};
        config.update(extra);
        try {
            HMACAuthPlugin p(config);
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
        return false;
    };
    CHECK(refused({{"xmac", "yes"}}));
    CHECK(refused({{"require_xmac", 1}}));
    CHECK(refused({{"xmac_field", ""}}));
    CHECK(refused({{"xmac_field", "hmac"}}));
    CHECK(refused({{"xmac_field", "ts"}}));
    CHECK(refused({{"xmac_unsigned_fields", "iv"}}));
    CHECK(refused({{"xmac_unsigned_fields", nlohmann::json::array({1})}}));
    CHECK(refused({{"xmac_unsigned_fields", nlohmann::json::array({"nonce"})}}));
    CHECK(refused({{"xmac_unsigned_fields", nlohmann::json::array({"xmac"})}}));
    CHECK(refused({{"require_xmac", true}, {"verify_xmac", false}}));
    CHECK(refused({{"python_semantics", true}, {"require_xmac", true}}));
    CHECK_FALSE(refused({{"python_semantics", true}, {"require_xmac", true}, {"verify_xmac", true}}));
}

TEST_CASE("HMACAuthPlugin xmac: many auth fields are covered in name order", "[hmac][xmac]") {
    // Fields in reverse and shuffled orders give the same xmac; every one of them counts.
    const HMACAuthPlugin plugin(xmac_options(true, false));
    const Body body = Body::prepare("c", "u");
    std::vector<int> order(300);
    for (int i = 0; i < 300; ++i) order[static_cast<std::size_t>(i)] = i;
    std::mt19937 rng(5);
    bytes first_xmac;
    for (int round = 0; round < 3; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        AuthFields f;
        f.set("nonce", nonce_n(9));
        for (int i : order) f.set("f" + std::to_string(i), bytes(1, static_cast<std::uint8_t>(i)));
        plugin.make(f, body, typed_ctx(MessageType::REQUEST_URI));
        const bytes x(f.get_bytes("xmac")->begin(), f.get_bytes("xmac")->end());
        if (round == 0) {
            first_xmac = x;
            CHECK(to_hex(x) == to_hex(reference_xmac(xmac_secret, static_cast<std::uint8_t>(MessageType::REQUEST_URI), f, body)));
        }
        CHECK(x == first_xmac);
    }
}

TEST_CASE("HMACAuthPlugin xmac: the README's configuration signs and checks", "[hmac][xmac]") {
    const std::string secret = "a secret shared by both sides";
    tcp_server_options server_options;
    // tag::xmac_readme[]
    netaio::hmac_auth_options o;
    o.secret = netaio::to_bytes(secret);
    o.send_xmac = true;     // add the xmac field: the type, the iv and every other auth field are covered
    o.require_xmac = true;  // refuse frames without it (frames from a Python peer then fail)
    server_options.auth_plugin = netaio::HMACAuthPlugin(o);
    // end::xmac_readme[]
    o.clock = clock_source::fixed(vector_time);
    const HMACAuthPlugin peer(o);
    Message m = Message::prepare(Body::prepare("v", "item"), MessageType::UPDATE_URI);
    peer.make(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI));
    const HMACAuthPlugin checker(o);  // its own replay cache
    CHECK_FALSE(checker.check(m.auth_data, m.body, typed_ctx(MessageType::UPDATE_URI)));
    CHECK(checker.check(m.auth_data, m.body, typed_ctx(MessageType::DELETE_URI)) == errc::auth_failed);
    CHECK(server_options.auth_plugin);
}

// The replay cache on its own (every auth plugin's cache; its table and expiry
// heap are exercised here directly rather than through a plugin).

namespace {

bytes id_of(std::string_view text) { return to_bytes(text); }

// A straightforward model of replay_cache's documented semantics, for the
// differential test: ids in a map, expired entries dropped at each insert.
struct replay_model {
    std::size_t capacity;
    std::map<bytes, std::int64_t> entries;

    std::error_code insert(const bytes& id, std::int64_t expires_at, std::int64_t now) {
        std::erase_if(entries, [now](const auto& e) { return e.second < now; });
        if (entries.count(id)) return make_error_code(errc::replayed);
        if (entries.size() >= capacity) return make_error_code(errc::replay_cache_full);
        entries.emplace(id, expires_at);
        return {};
    }
    bool contains(const bytes& id, std::int64_t now) const {
        auto it = entries.find(id);
        return it != entries.end() && it->second >= now;
    }
};

}  // namespace

TEST_CASE("replay_cache: capacity bound, fail closed, duplicates before fullness", "[replay]") {
    replay_cache cache(3);
    CHECK(cache.capacity() == 3);
    CHECK_FALSE(cache.insert(id_of("a"), 100, 0));
    CHECK_FALSE(cache.insert(id_of("b"), 100, 0));
    CHECK_FALSE(cache.insert(id_of("c"), 100, 0));
    CHECK(cache.insert(id_of("d"), 100, 0) == errc::replay_cache_full);
    CHECK(cache.insert(id_of("a"), 100, 0) == errc::replayed);  // a duplicate is a replay, even when full
    CHECK(cache.size() == 3);
    CHECK_FALSE(cache.contains(id_of("d"), 0));

    replay_cache none(0);
    CHECK(none.insert(id_of("a"), 100, 0) == errc::replay_cache_full);
    CHECK_FALSE(none.contains(id_of("a"), 0));
    CHECK(none.size() == 0);
}

TEST_CASE("replay_cache: entries expire by their own time, not by insertion order", "[replay]") {
    replay_cache cache(2);
    CHECK_FALSE(cache.insert(id_of("late"), 100, 0));
    CHECK_FALSE(cache.insert(id_of("early"), 50, 0));
    CHECK(cache.contains(id_of("early"), 50));  // the expiry time is inclusive
    CHECK_FALSE(cache.contains(id_of("early"), 51));
    CHECK(cache.size() == 2);  // expired entries stay until the next insert

    // At 51 "early" has expired and makes room; "late" (inserted first) stays.
    CHECK_FALSE(cache.insert(id_of("next"), 200, 51));
    CHECK(cache.size() == 2);
    CHECK(cache.insert(id_of("late"), 100, 51) == errc::replayed);
    // Full until "late" runs out: still there at 100 (inclusive), gone at 101.
    CHECK(cache.insert(id_of("early"), 300, 52) == errc::replay_cache_full);
    CHECK(cache.insert(id_of("early"), 300, 100) == errc::replay_cache_full);
    CHECK_FALSE(cache.insert(id_of("early"), 300, 101));
    CHECK_FALSE(cache.contains(id_of("late"), 101));
    CHECK(cache.contains(id_of("next"), 101));
    CHECK(cache.contains(id_of("early"), 101));
    CHECK(cache.size() == 2);
}

TEST_CASE("replay_cache: ids of any length are told apart", "[replay]") {
    replay_cache cache(64);
    const std::vector<bytes> ids = {bytes{},       bytes{0x00},  bytes{0x00, 0x00}, id_of("a"),   id_of("ab"),
                                    id_of("abc"),  id_of("abd"), id_of("ba"),       bytes(32, 7), bytes(33, 7),
                                    bytes(1000, 7), bytes(4096, 0xFF)};
    for (const bytes& id : ids) CHECK_FALSE(cache.insert(id, 10, 0));
    for (const bytes& id : ids) {
        CHECK(cache.contains(id, 0));
        CHECK(cache.insert(id, 10, 0) == errc::replayed);
    }
    CHECK(cache.size() == ids.size());
}

TEST_CASE("replay_cache: many inserts with expiry wrap around the table and heap", "[replay]") {
    // A sliding window: at time t the entries of t - 9 .. t are live (10 per second),
    // so the table keeps being filled and emptied far beyond its size.
    replay_cache cache(100);
    auto id_at = [](int t, int k) { return to_bytes("msg-" + std::to_string(t) + "-" + std::to_string(k)); };
    for (int t = 0; t < 500; ++t) {
        for (int k = 0; k < 10; ++k) REQUIRE_FALSE(cache.insert(id_at(t, k), t + 9, t));
        REQUIRE(cache.size() <= 100);
        if (t >= 9) {
            CHECK(cache.insert(id_at(t - 9, 3), t + 9, t) == errc::replayed);  // oldest live second
            CHECK(cache.contains(id_at(t - 9, 9), t));
        }
        if (t >= 10) CHECK_FALSE(cache.contains(id_at(t - 10, 0), t));  // expired
    }
    // Every live entry is still found after all that churn; the expired ones are not.
    for (int t = 490; t < 500; ++t)
        for (int k = 0; k < 10; ++k) CHECK(cache.insert(id_at(t, k), 600, 499) == errc::replayed);
    CHECK(cache.size() == 100);
    CHECK(cache.insert(id_at(0, 0), 600, 499) == errc::replay_cache_full);
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK_FALSE(cache.contains(id_at(499, 0), 499));
    CHECK_FALSE(cache.insert(id_at(499, 0), 600, 499));
}

TEST_CASE("replay_cache: the memory of a burst goes back once it has expired; survivors are kept", "[replay]") {
    replay_cache cache(1 << 17);
    auto id_at = [](int i) { return to_bytes("burst-" + std::to_string(i)); };
    // A burst of 50,000 entries: 40,000 expire at 100, 10,000 at 1,000.
    for (int i = 0; i < 50'000; ++i) REQUIRE_FALSE(cache.insert(id_at(i), i < 40'000 ? 100 : 1'000, 0));
    const std::size_t burst = cache.memory_bytes();
    CHECK(burst >= std::size_t{50'000} * 2 * 40);  // a table slot and a heap entry, 40+ bytes each

    // At 101 the next insert purges the 40,000 and shrinks the arrays to the 10,001 left.
    REQUIRE_FALSE(cache.insert(id_at(-1), 1'000, 101));
    CHECK(cache.size() == 10'001);
    const std::size_t after = cache.memory_bytes();
    CHECK(after * 2 < burst);
    for (int i = 0; i < 50'000; i += 7) {
        if (i < 40'000) {
            CHECK_FALSE(cache.contains(id_at(i), 101));
        } else {
            CHECK(cache.insert(id_at(i), 1'000, 101) == errc::replayed);  // found again after the rehash
        }
    }
    CHECK(cache.size() == 10'001);

    // Nothing left at 1,001: an insert brings the arrays back to their smallest size.
    REQUIRE_FALSE(cache.insert(id_at(-2), 2'000, 1'001));
    CHECK(cache.size() == 1);
    CHECK(cache.memory_bytes() < 2'048);
    CHECK(cache.insert(id_at(-2), 2'000, 1'001) == errc::replayed);
    // And it grows again as before.
    for (int i = 0; i < 5'000; ++i) REQUIRE_FALSE(cache.insert(id_at(i), 2'000, 1'001));
    CHECK(cache.size() == 5'001);
    CHECK(cache.insert(id_at(4'999), 2'000, 1'001) == errc::replayed);
}

TEST_CASE("replay_cache: random operations agree with a straightforward model", "[replay]") {
    std::mt19937 rng(20240607);
    for (std::size_t capacity : {std::size_t{1}, std::size_t{7}, std::size_t{64}, std::size_t{300}}) {
        replay_cache cache(capacity);
        replay_model model{capacity, {}};
        std::int64_t now = 0;
        for (int step = 0; step < 20000; ++step) {
            // Ids from a pool small enough for frequent duplicates, of varying length.
            const auto n = std::uniform_int_distribution<int>(0, 3 * static_cast<int>(capacity) + 5)(rng);
            bytes id = to_bytes(std::to_string(n));
            id.resize(id.size() + static_cast<std::size_t>(n % 40), static_cast<std::uint8_t>(n));
            now += std::uniform_int_distribution<int>(0, 2)(rng);
            const std::int64_t expires_at = now + std::uniform_int_distribution<int>(-1, 30)(rng);
            if (rng() % 4 == 0) {
                REQUIRE(cache.contains(id, now) == model.contains(id, now));
            } else {
                REQUIRE(cache.insert(id, expires_at, now) == model.insert(id, expires_at, now));
                REQUIRE(cache.size() == model.entries.size());
            }
        }
    }
}

TEST_CASE("replay_cache: concurrent inserts from several threads", "[replay]") {
    replay_cache cache(4000);
    std::vector<std::thread> threads;
    std::atomic<int> accepted{0};
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            // Each thread inserts its own ids and everybody's shared ones.
            for (int i = 0; i < 500; ++i) {
                if (!cache.insert(to_bytes("own-" + std::to_string(t) + "-" + std::to_string(i)), 10, 0)) ++accepted;
                if (!cache.insert(to_bytes("shared-" + std::to_string(i)), 10, 0)) ++accepted;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(accepted == 4 * 500 + 500);  // each shared id exactly once
    CHECK(cache.size() == 2500);
}
