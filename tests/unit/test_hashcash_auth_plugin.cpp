// tests/unit/test_hashcash_auth_plugin.cpp - HashcashAuthPlugin: the work hash as
// documented (checked with libsodium directly), insufficient work and the other
// typed rejections, the bounded search in make(), the plugin as the cheap outer
// layer in front of an expensive inner one, and loopback round trips over TCP and
// UDP, alone and nested under the compatible HMAC + stream cipher.
#include "modern_plugin_loopback.hpp"

#include <netaio/ed25519_auth_plugin.hpp>
#include <netaio/hashcash_auth_plugin.hpp>

#include <catch2/catch.hpp>

using namespace netaio;
using namespace std::chrono_literals;
using netaio_test::run_loopback;
using netaio_test::text_of;
namespace modern = netaio_test::modern;

namespace {

constexpr std::int64_t t0 = 1700000000;
constexpr unsigned test_bits = 8;  // tests keep the work small: ~256 hashes per message

/// Random bytes from a counter: deterministic nonces, so every outcome below is fixed.
random_source counting_random() {
    auto state = std::make_shared<std::uint8_t>(0);
    random_source r;
    r.fill = [state](std::span<std::uint8_t> out) {
        for (auto& b : out) b = (*state)++;
    };
    return r;
}

hashcash_auth_options opts(unsigned bits = test_bits, std::int64_t now = t0) {
    hashcash_auth_options o;
    o.difficulty_bits = bits;
    o.clock = clock_source::fixed(now);
    o.random = counting_random();
    return o;
}

Message stamped(const HashcashAuthPlugin& p, std::string_view content = "hello", std::string_view uri = "echo") {
    Message m = Message::prepare(Body::prepare(content, uri), MessageType::REQUEST_URI);
    p.make(m.auth_data, m.body);
    return m;
}

bytes field(const AuthFields& f, std::string_view key) {
    auto v = f.get_bytes(key);
    REQUIRE(v);
    return bytes(v->begin(), v->end());
}

bytes u64be(std::uint64_t v) {
    bytes out(8);
    for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v);
    return out;
}

/// The work hash computed independently from the header comment.
HashcashAuthPlugin::work_digest work_by_hand(const bytes& nonce, const bytes& ts, const Body& body, const bytes& stamp) {
    bytes input = to_bytes("netaio-hashcash-v1");
    detail::append(input, nonce);
    detail::append(input, ts);
    detail::append_u16be(input, static_cast<std::uint16_t>(body.uri.size()));
    detail::append(input, body.uri);
    detail::append(input, body.content);
    detail::append(input, stamp);
    HashcashAuthPlugin::work_digest w{};
    crypto_generichash(w.data(), w.size(), input.data(), input.size(), nullptr, 0);
    return w;
}

HashcashAuthPlugin::work_digest work_by_hand(const Message& m) {
    return work_by_hand(field(m.auth_data, "nonce"), field(m.auth_data, "ts"), m.body, field(m.auth_data, "stamp"));
}

/// A stamp for `m`'s nonce, ts and body with FEWER than `bits` leading zero bits.
bytes weak_stamp(const Message& m, unsigned bits) {
    const bytes nonce = field(m.auth_data, "nonce");
    const bytes ts = field(m.auth_data, "ts");
    for (std::uint64_t c = 0;; ++c) {
        const bytes s = u64be(c);
        const auto w = HashcashAuthPlugin::work(nonce, ts, m.body, s);
        if (HashcashAuthPlugin::leading_zero_bits(w) < bits) return s;
    }
}

handler_plugins pow_layer(unsigned bits = test_bits) {
    hashcash_auth_options o;
    o.difficulty_bits = bits;
    handler_plugins p;
    p.auth = HashcashAuthPlugin(o);
    return p;
}

}  // namespace

TEST_CASE("HashcashAuthPlugin: make() finds a stamp; the work hash is exactly as documented", "[modern][hashcash]") {
    const HashcashAuthPlugin p(opts(12));
    const Message m = stamped(p);
    CHECK(field(m.auth_data, "nonce").size() == 16);
    CHECK(field(m.auth_data, "ts") == bytes{0x65, 0x53, 0xf1, 0x00});
    CHECK(field(m.auth_data, "stamp").size() == 8);
    const auto w = work_by_hand(m);
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) >= 12);
    CHECK(w == HashcashAuthPlugin::work(field(m.auth_data, "nonce"), field(m.auth_data, "ts"), m.body,
                                        field(m.auth_data, "stamp")));
    CHECK_FALSE(p.check(m.auth_data, m.body));
    // The first counter that works: every smaller one has too little work.
    std::uint64_t counter = 0;
    for (std::uint8_t b : field(m.auth_data, "stamp")) counter = (counter << 8) | b;
    const bytes nonce = field(m.auth_data, "nonce");
    const bytes ts = field(m.auth_data, "ts");
    bool all_earlier_too_weak = true;
    for (std::uint64_t c = 0; c < counter; ++c)
        all_earlier_too_weak =
            all_earlier_too_weak && HashcashAuthPlugin::leading_zero_bits(work_by_hand(nonce, ts, m.body, u64be(c))) < 12;
    CHECK(all_earlier_too_weak);
}

TEST_CASE("HashcashAuthPlugin: leading_zero_bits", "[modern][hashcash]") {
    HashcashAuthPlugin::work_digest w{};
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) == 256);
    w[0] = 0x80;
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) == 0);
    w[0] = 0x01;
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) == 7);
    w[0] = 0;
    w[1] = 0x10;
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) == 11);
    w[1] = 0;
    w[31] = 1;
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) == 255);
}

TEST_CASE("HashcashAuthPlugin: insufficient work, tampering and malformed fields are refused with typed reasons",
          "[modern][hashcash]") {
    const HashcashAuthPlugin p(opts(16));
    const Message good = stamped(p);
    REQUIRE_FALSE(HashcashAuthPlugin(opts(16)).check(good.auth_data, good.body));
    auto verdict = [](const Message& m, unsigned bits = 16) { return HashcashAuthPlugin(opts(bits)).check(m.auth_data, m.body); };

    SECTION("a stamp with too little work") {
        Message m = good;
        m.auth_data.set("stamp", weak_stamp(good, 16));
        CHECK(verdict(m) == errc::insufficient_work);
    }
    SECTION("the stamp does not carry over to another body, nonce or ts") {
        Message m = good;
        m.body.content.back() ^= 1;
        CHECK(verdict(m) == errc::insufficient_work);
        m = good;
        m.body.uri = to_bytes("echp");
        CHECK(verdict(m) == errc::insufficient_work);
        m = good;
        m.auth_data.set("nonce", netaio_test::flip_bit(field(good.auth_data, "nonce"), 5));
        CHECK(verdict(m) == errc::insufficient_work);
        m = good;
        bytes ts = field(good.auth_data, "ts");
        ts[3] ^= 1;
        m.auth_data.set("ts", ts);
        CHECK(verdict(m) == errc::insufficient_work);
    }
    SECTION("a receiver asking for more work than was done") {
        const HashcashAuthPlugin cheap(opts(4));
        const Message m = stamped(cheap);
        const auto bits = HashcashAuthPlugin::leading_zero_bits(work_by_hand(m));
        CHECK(verdict(m, bits + 1) == errc::insufficient_work);
        CHECK_FALSE(verdict(m, bits));
    }
    SECTION("missing fields, non-bytes fields, wrong lengths") {
        for (const char* name : {"nonce", "ts", "stamp"}) {
            INFO(name);
            Message m = good;
            m.auth_data.erase(name);
            CHECK(verdict(m) == errc::missing_auth_field);
            m.auth_data.set(name, packify::value(5));
            CHECK(verdict(m) == errc::missing_auth_field);
        }
        const std::vector<std::pair<const char*, std::vector<std::size_t>>> sizes = {
            {"nonce", {0, 15, 17}}, {"ts", {3, 5}}, {"stamp", {0, 7, 9}}};
        for (const auto& [name, lengths] : sizes)
            for (std::size_t n : lengths) {
                INFO(name << " of " << n);
                Message m = good;
                m.auth_data.set(name, bytes(n, 0));
                CHECK(verdict(m) == errc::bad_auth_field_length);
            }
    }
}

TEST_CASE("HashcashAuthPlugin: freshness window, replay cache (fail closed, filled only by sufficient work)", "[modern][hashcash]") {
    const Message good = stamped(HashcashAuthPlugin(opts()));  // ts = t0
    auto at = [](std::int64_t now) { return HashcashAuthPlugin(opts(test_bits, now)); };
    CHECK(at(t0 + 61).check(good.auth_data, good.body) == errc::stale_timestamp);
    CHECK(at(t0 - 61).check(good.auth_data, good.body) == errc::future_timestamp);
    CHECK_FALSE(at(t0 + 60).check(good.auth_data, good.body));
    CHECK_FALSE(at(t0 - 60).check(good.auth_data, good.body));

    hashcash_auth_options o = opts();
    o.replay_cache_capacity = 2;
    const HashcashAuthPlugin r(o);
    const HashcashAuthPlugin maker(opts());
    CHECK_FALSE(r.check(good.auth_data, good.body));
    CHECK(r.check(good.auth_data, good.body) == errc::replayed);
    for (int i = 0; i < 4; ++i) {
        Message weak = stamped(maker, "weak " + std::to_string(i));
        weak.auth_data.set("stamp", weak_stamp(weak, test_bits));
        CHECK(r.check(weak.auth_data, weak.body) == errc::insufficient_work);
    }
    CHECK(r.replay()->size() == 1);
    const Message second = stamped(maker, "second");
    CHECK_FALSE(r.check(second.auth_data, second.body));
    const Message third = stamped(maker, "third");
    CHECK(r.check(third.auth_data, third.body) == errc::replay_cache_full);
}

TEST_CASE("HashcashAuthPlugin: make() is bounded by max_attempts; reuses a 16-byte nonce and 4-byte ts", "[modern][hashcash]") {
    hashcash_auth_options o = opts(24);
    o.max_attempts = 3;  // 3 tries at 24 bits: fails (the outcome is fixed by the counting random source)
    const HashcashAuthPlugin hopeless(o);
    AuthFields f;
    const Body body = Body::prepare("x", "y");
    try {
        hopeless.make(f, body);
        FAIL("make() should have given up");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::insufficient_work);
    }
    CHECK(f.empty());  // nothing written on failure
    CHECK(HashcashAuthPlugin(opts(10)).options().max_attempts == (std::uint64_t{64} << 10));

    // Difficulty 0: the first counter always works.
    const Message free = stamped(HashcashAuthPlugin(opts(0)));
    CHECK(field(free.auth_data, "stamp") == u64be(0));

    Message m = Message::prepare(Body::prepare("x", "y"), MessageType::REQUEST_URI);
    const bytes nonce(16, 9);
    const bytes ts = {0x65, 0x53, 0xf0, 0xf0};
    m.auth_data.set("nonce", nonce);
    m.auth_data.set("ts", ts);
    HashcashAuthPlugin(opts()).make(m.auth_data, m.body);
    CHECK(field(m.auth_data, "nonce") == nonce);
    CHECK(field(m.auth_data, "ts") == ts);
    CHECK_FALSE(HashcashAuthPlugin(opts()).check(m.auth_data, m.body));
}

TEST_CASE("HashcashAuthPlugin: configuration and handle", "[modern][hashcash]") {
    const HashcashAuthPlugin p(nlohmann::json{{"difficulty_bits", 5}, {"stamp_field", "pow"}, {"max_attempts", 1000}});
    CHECK(p.options().difficulty_bits == 5);
    CHECK(p.options().max_attempts == 1000);
    Message m = stamped(p);
    CHECK(m.auth_data.contains("pow"));
    CHECK_FALSE(p.check(m.auth_data, m.body));

    auto refused = [](const nlohmann::json& c) {
        try {
            HashcashAuthPlugin bad(c);
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
        return false;
    };
    CHECK(refused({{"difficulty_bits", 41}}));
    CHECK(refused({{"difficulty_bits", -1}}));
    CHECK(refused({{"stamp_field", "ts"}}));
    CHECK(refused({{"freshness_window", nullptr}}));
    CHECK_FALSE(refused({{"freshness_window", nullptr}, {"replay_cache_capacity", 0}}));
    hashcash_auth_options too_hard;
    too_hard.difficulty_bits = 41;
    CHECK_THROWS_AS(HashcashAuthPlugin(too_hard), netaio::error);

    any_auth_plugin handle = HashcashAuthPlugin(opts());
    Message h = Message::prepare(Body::prepare("handle", "u"), MessageType::REQUEST_URI);
    handle.make(h.auth_data, h.body, plugin_context{});
    CHECK_FALSE(handle.check(h.auth_data, h.body, plugin_context{}));
    CHECK(handle.error().type() == MessageType::AUTH_ERROR);
    CHECK(text_of(handle.error().body.content) == "Hashcash auth failed");
}

TEST_CASE("HashcashAuthPlugin as the outer layer: junk is refused by one hash before the inner Ed25519 check runs",
          "[modern][hashcash]") {
    const bytes seed_a(32, 1), seed_b(32, 2);
    ed25519_auth_options ea;
    ea.seed = seed_a;
    ea.allowed_keys = {ed25519_verify_key(seed_b)};
    ea.unsigned_fields = {"stamp"};  // added by the outer layer after the inner signature
    ed25519_auth_options eb;
    eb.seed = seed_b;
    eb.allowed_keys = {ed25519_verify_key(seed_a)};
    eb.unsigned_fields = {"stamp"};
    handler_plugins outer_a = pow_layer();
    handler_plugins inner_a;
    inner_a.auth = Ed25519AuthPlugin(ea);
    handler_plugins outer_b = pow_layer();
    handler_plugins inner_b;
    inner_b.auth = Ed25519AuthPlugin(eb);

    Message m = netaio_test::request_msg("inner", "payload");
    detail::seal(m, &inner_a, &outer_a, plugin_context{});
    Message received = m;
    REQUIRE_FALSE(detail::open_layer(received, outer_b, plugin_context{}).error);
    REQUIRE_FALSE(detail::open_layer(received, inner_b, plugin_context{}).error);

    // A forged signature without work: stopped at the outer layer (one hash), the inner never runs.
    Message forged = m;
    forged.auth_data.set("sig", bytes(64, 0));
    forged.auth_data.set("stamp", weak_stamp(forged, test_bits));
    const detail::open_result r = detail::open_layer(forged, outer_b, plugin_context{});
    CHECK(r.error == errc::insufficient_work);
}

TEST_CASE("HashcashAuthPlugin: the README's configuration", "[modern][hashcash]") {
    tcp_server_options server_options;
    // tag::hashcash_readme[]
    netaio::hashcash_auth_options pow;
    pow.difficulty_bits = 16;                                      // ~65,000 hashes to make a message, one to check it
    server_options.auth_plugin = netaio::HashcashAuthPlugin(pow);  // the outer layer: checked first
    // end::hashcash_readme[]
    Message m = Message::prepare(Body::prepare("hi", "u"), MessageType::REQUEST_URI);
    server_options.auth_plugin.make(m.auth_data, m.body, plugin_context{});
    const auto w = HashcashAuthPlugin::work(field(m.auth_data, "nonce"), field(m.auth_data, "ts"), m.body,
                                            field(m.auth_data, "stamp"));
    CHECK(HashcashAuthPlugin::leading_zero_bits(w) >= 16);
    CHECK_FALSE(server_options.auth_plugin.check(m.auth_data, m.body, plugin_context{}));
}

// ---- loopback ----------------------------------------------------------------------

TEST_CASE("HashcashAuthPlugin over TCP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][hashcash][tcp]") {
    run_loopback([](asio::io_context& io) { return modern::tcp_outer_round_trip(io, pow_layer(), pow_layer()); });
    run_loopback([](asio::io_context& io) { return modern::tcp_inner_round_trip(io, pow_layer(), pow_layer()); });
}

TEST_CASE("HashcashAuthPlugin over UDP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][hashcash][udp]") {
    run_loopback([](asio::io_context& io) { return modern::udp_outer_round_trip(io, pow_layer(), pow_layer()); });
    run_loopback([](asio::io_context& io) { return modern::udp_inner_round_trip(io, pow_layer(), pow_layer()); });
}

TEST_CASE("HashcashAuthPlugin over TCP and UDP: frames with too little work or replayed are refused and counted; alive after",
          "[modern][hashcash][tcp][udp]") {
    SECTION("TCP: weak stamp, then a valid frame twice") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = pow_layer();
            Message m = netaio_test::request_msg("echo", "cheap");
            detail::seal(m, nullptr, &c, plugin_context{});
            m.auth_data.set("stamp", weak_stamp(m, test_bits));
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::tcp_hostile(io, pow_layer(), {}, std::move(frames), {errc::insufficient_work}, c);
        });
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = pow_layer();
            const bytes once = modern::sealed_frame(netaio_test::request_msg("echo", "once"), {}, c);
            std::vector<bytes> frames{once, once};
            return modern::tcp_hostile(io, pow_layer(), {}, std::move(frames), {errc::replayed, 1, 1}, c);
        });
    }
    SECTION("TCP: inner layer with tampered content under a valid outer HMAC + cipher") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins outer = modern::compat_outer();
            hashcash_auth_options o;
            o.difficulty_bits = 16;  // a tampered body keeps 16 zero bits with probability 2^-16
            handler_plugins inner;
            inner.auth = HashcashAuthPlugin(o);
            Message m = netaio_test::request_msg("inner", "inner payload");
            detail::seal_layer(m, inner, plugin_context{});
            // Flip content bits until the stamp no longer suffices (the first flip
            // almost surely; looping keeps the test deterministic).
            for (std::size_t bit = 0;; ++bit) {
                m.body.content[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
                const auto w = HashcashAuthPlugin::work(field(m.auth_data, "nonce"), field(m.auth_data, "ts"), m.body,
                                                        field(m.auth_data, "stamp"));
                if (HashcashAuthPlugin::leading_zero_bits(w) < 16) break;
            }
            detail::seal_layer(m, outer, plugin_context{});
            std::vector<bytes> frames{m.encode()};
            return modern::tcp_hostile(io, outer, inner, std::move(frames), {errc::insufficient_work}, outer);
        });
    }
    SECTION("UDP: weak stamp; stamp cut to 7 bytes") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = pow_layer();
            Message weak = netaio_test::request_msg("echo", "cheap");
            detail::seal(weak, nullptr, &c, plugin_context{});
            weak.auth_data.set("stamp", weak_stamp(weak, test_bits));
            std::vector<bytes> frames{modern::frame_of(weak)};
            return modern::udp_hostile(io, pow_layer(), {}, std::move(frames), {errc::insufficient_work}, c);
        });
        run_loopback([](asio::io_context& io) {
            const handler_plugins c = pow_layer();
            Message cut = netaio_test::request_msg("echo", "cut");
            detail::seal(cut, nullptr, &c, plugin_context{});
            cut.auth_data.set("stamp", bytes(7, 0));
            std::vector<bytes> frames{modern::frame_of(cut)};
            return modern::udp_hostile(io, pow_layer(), {}, std::move(frames), {errc::bad_auth_field_length}, c);
        });
    }
}
