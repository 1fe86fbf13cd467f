// tests/unit/test_ed25519_auth_plugin.cpp - Ed25519AuthPlugin: the signed message
// exactly as documented, every typed rejection (RELIABILITY §3.4 C1-C7 shapes for
// signatures), the type binding through plugin_context::message_type, TOFU pinning
// (peer data and self-certifying adverts), and loopback round trips over TCP and
// UDP, alone and nested under the compatible HMAC + stream cipher.
#include "modern_plugin_loopback.hpp"

#include <netaio/ed25519_auth_plugin.hpp>

#include <catch2/catch.hpp>

using namespace netaio;
using namespace std::chrono_literals;
using netaio_test::eventually;
using netaio_test::run_loopback;
using netaio_test::text_of;
namespace modern = netaio_test::modern;

namespace {

constexpr std::int64_t t0 = 1700000000;
const bytes seed_a(32, 0xA1);  // "server" / node a
const bytes seed_b(32, 0xB2);  // "client" / node b
const bytes seed_x(32, 0x5E);  // nobody's friend

constexpr std::uint8_t request_type = static_cast<std::uint8_t>(MessageType::REQUEST_URI);

ed25519_auth_options options_for(const bytes& seed, std::vector<bytes> allowed, std::int64_t now = t0) {
    ed25519_auth_options o;
    o.seed = seed;
    o.allowed_keys = std::move(allowed);
    o.clock = clock_source::fixed(now);
    return o;
}

/// a signs, b verifies (and vice versa), at time t0.
Ed25519AuthPlugin signer_a() { return Ed25519AuthPlugin(options_for(seed_a, {ed25519_verify_key(seed_b)})); }
Ed25519AuthPlugin verifier_b() { return Ed25519AuthPlugin(options_for(seed_b, {ed25519_verify_key(seed_a)})); }

plugin_context typed(std::uint8_t type = request_type) { return plugin_context(nullptr, nullptr, type); }

Message signed_request(const Ed25519AuthPlugin& p, std::string_view content = "hello", std::string_view uri = "echo") {
    Message m = Message::prepare(Body::prepare(content, uri), MessageType::REQUEST_URI);
    p.make(m.auth_data, m.body, typed());
    return m;
}

bytes field(const AuthFields& f, std::string_view key) {
    auto v = f.get_bytes(key);
    REQUIRE(v);
    return bytes(v->begin(), v->end());
}

void put16(bytes& out, std::size_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}

/// The signed message built independently from the header comment of ed25519_auth_plugin.hpp.
bytes expected_signing_input(std::uint8_t type, std::vector<std::pair<std::string, bytes>> sorted_fields, const Body& body) {
    bytes m = to_bytes("netaio-ed25519-v1");
    m.push_back(type);
    put16(m, sorted_fields.size());
    for (const auto& [k, v] : sorted_fields) {
        put16(m, k.size());
        detail::append(m, as_bytes_view(k));
        m.push_back(0);  // bytes
        put16(m, v.size());
        detail::append(m, v);
    }
    put16(m, body.uri.size());
    detail::append(m, body.uri);
    detail::append(m, body.content);
    return m;
}

// ---- loopback layers ----

handler_plugins ed_layer(const bytes& seed, const bytes& peer_seed, std::vector<std::string> unsigned_fields = {}) {
    ed25519_auth_options o;
    o.seed = seed;
    o.allowed_keys = {ed25519_verify_key(peer_seed)};
    o.unsigned_fields = std::move(unsigned_fields);
    handler_plugins p;
    p.auth = Ed25519AuthPlugin(o);
    return p;
}

}  // namespace

TEST_CASE("Ed25519AuthPlugin: make() writes sig/vk/nonce/ts; the signature covers exactly the documented message",
          "[modern][ed25519]") {
    const Ed25519AuthPlugin a = signer_a();
    Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
    m.auth_data.set("extra", to_bytes("inner layer field"));  // covered too
    a.make(m.auth_data, m.body, typed());
    CHECK(field(m.auth_data, "sig").size() == 64);
    CHECK(field(m.auth_data, "vk") == ed25519_verify_key(seed_a));
    CHECK(field(m.auth_data, "nonce").size() == 16);
    bytes ts(4);
    detail::put_u32be(ts.data(), static_cast<std::uint32_t>(t0));
    CHECK(field(m.auth_data, "ts") == ts);

    // Sorted by key: extra < nonce < ts < vk; sig left out.
    const bytes input = expected_signing_input(request_type,
                                               {{"extra", to_bytes("inner layer field")},
                                                {"nonce", field(m.auth_data, "nonce")},
                                                {"ts", ts},
                                                {"vk", ed25519_verify_key(seed_a)}},
                                               m.body);
    std::error_code ec;
    CHECK(a.signing_input(request_type, m.auth_data, m.body, ec) == input);
    CHECK_FALSE(ec);
    const bytes sig = field(m.auth_data, "sig");
    const bytes vk = ed25519_verify_key(seed_a);
    CHECK(crypto_sign_verify_detached(sig.data(), input.data(), input.size(), vk.data()) == 0);
    CHECK_FALSE(verifier_b().check(m.auth_data, m.body, typed()));

    // A non-bytes field is covered through its packify encoding (kind 1).
    AuthFields with_int = m.auth_data;
    with_int.set("n", packify::value(7));
    const bytes with_int_input = a.signing_input(request_type, with_int, m.body, ec);
    CHECK_FALSE(ec);
    const bytes packed_seven = packify::pack(packify::value(7));
    bytes entry = {0, 1, 'n', 1};
    put16(entry, packed_seven.size());
    detail::append(entry, packed_seven);
    CHECK(std::search(with_int_input.begin(), with_int_input.end(), entry.begin(), entry.end()) != with_int_input.end());
}

TEST_CASE("Ed25519AuthPlugin: make() reuses a 16-byte nonce and a 4-byte ts, replaces an old sig, draws fresh ones otherwise",
          "[modern][ed25519]") {
    const Ed25519AuthPlugin a = signer_a();
    Message m = Message::prepare(Body::prepare("x", "u"), MessageType::REQUEST_URI);
    const bytes nonce(16, 0x33);
    const bytes ts = {0x65, 0x53, 0xf1, 0x00};  // t0
    m.auth_data.set("nonce", nonce);
    m.auth_data.set("ts", ts);
    m.auth_data.set("sig", bytes(64, 0));
    a.make(m.auth_data, m.body, typed());
    CHECK(field(m.auth_data, "nonce") == nonce);
    CHECK(field(m.auth_data, "ts") == ts);
    CHECK(field(m.auth_data, "sig") != bytes(64, 0));
    CHECK_FALSE(verifier_b().check(m.auth_data, m.body, typed()));

    Message n = Message::prepare(Body::prepare("x", "u"), MessageType::REQUEST_URI);
    n.auth_data.set("nonce", bytes(15, 1));  // wrong size: not reused
    a.make(n.auth_data, n.body, typed());
    CHECK(field(n.auth_data, "nonce").size() == 16);
}

TEST_CASE("Ed25519AuthPlugin: check() refuses tampering, wrong keys, type swaps and reflections with typed reasons",
          "[modern][ed25519]") {
    const Ed25519AuthPlugin a = signer_a();
    const Message good = signed_request(a);
    auto verdict = [](const Message& m, plugin_context ctx = typed()) { return verifier_b().check(m.auth_data, m.body, ctx); };
    REQUIRE_FALSE(verdict(good));

    SECTION("tampered body: content, uri") {
        Message m = good;
        m.body.content.back() ^= 1;
        CHECK(verdict(m) == errc::auth_failed);
        m = good;
        m.body.uri = to_bytes("echp");
        CHECK(verdict(m) == errc::auth_failed);
    }
    SECTION("tampered fields: nonce, ts within the window, sig, an added or a dropped covered field") {
        Message m = good;
        m.auth_data.set("nonce", netaio_test::flip_bit(field(good.auth_data, "nonce"), 0));
        CHECK(verdict(m) == errc::auth_failed);
        m = good;
        bytes ts = field(good.auth_data, "ts");
        ts[3] ^= 1;  // one second off: still fresh
        m.auth_data.set("ts", ts);
        CHECK(verdict(m) == errc::auth_failed);
        m = good;
        m.auth_data.set("sig", netaio_test::flip_bit(field(good.auth_data, "sig"), 10));
        CHECK(verdict(m) == errc::auth_failed);
        m = good;
        m.auth_data.set("smuggled", to_bytes("x"));
        CHECK(verdict(m) == errc::auth_failed);
        Message with_extra = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
        with_extra.auth_data.set("iiv", bytes(16, 7));
        a.make(with_extra.auth_data, with_extra.body, typed());
        REQUIRE_FALSE(verdict(with_extra));
        Message dropped = Message::prepare(Body::prepare("hello", "echo"), MessageType::REQUEST_URI);
        dropped.auth_data.set("iiv", bytes(16, 7));
        a.make(dropped.auth_data, dropped.body, typed());
        dropped.auth_data.erase("iiv");
        CHECK(verdict(dropped) == errc::auth_failed);
    }
    SECTION("the message type is signed: a REQUEST re-typed to DELETE fails (C6)") {
        CHECK(verdict(good, typed(static_cast<std::uint8_t>(MessageType::DELETE_URI))) == errc::auth_failed);
        CHECK(verdict(good, plugin_context()) == errc::auth_failed);  // no type known: cannot verify
    }
    SECTION("wrong keys: a signer not on the allow-list; a vk swapped for an allowed one") {
        const Ed25519AuthPlugin x(options_for(seed_x, {ed25519_verify_key(seed_b)}));
        const Message from_x = signed_request(x);
        CHECK(verdict(from_x) == errc::auth_failed);
        Message swapped = from_x;
        swapped.auth_data.set("vk", ed25519_verify_key(seed_a));  // claims to be a, signed by x
        CHECK(verdict(swapped) == errc::auth_failed);
    }
    SECTION("our own key coming back is a reflection") {
        const Ed25519AuthPlugin b_signer(options_for(seed_b, {ed25519_verify_key(seed_a), ed25519_verify_key(seed_b)}));
        CHECK(verdict(signed_request(b_signer)) == errc::reflected);
        ed25519_auth_options o = options_for(seed_b, {ed25519_verify_key(seed_b)});
        o.refuse_own_key = false;
        CHECK_FALSE(Ed25519AuthPlugin(o).check(signed_request(b_signer).auth_data, good.body, typed()));
    }
}

TEST_CASE("Ed25519AuthPlugin: missing and wrongly sized fields are refused before any verification (C1, C2)",
          "[modern][ed25519]") {
    const Message good = signed_request(signer_a());
    const Ed25519AuthPlugin b = verifier_b();
    for (const char* name : {"sig", "vk", "nonce", "ts"}) {
        INFO(name);
        Message m = good;
        m.auth_data.erase(name);
        CHECK(b.check(m.auth_data, m.body, typed()) == errc::missing_auth_field);
        m.auth_data.set(name, packify::value(std::string("text, not bytes")));
        CHECK(b.check(m.auth_data, m.body, typed()) == errc::missing_auth_field);
    }
    const std::vector<std::pair<const char*, std::vector<std::size_t>>> sizes = {
        {"sig", {0, 63, 65}}, {"vk", {31, 33}}, {"nonce", {0, 15, 17}}, {"ts", {3, 5}}};
    for (const auto& [name, lengths] : sizes) {
        for (std::size_t n : lengths) {
            INFO(name << " of " << n << " bytes");
            Message m = good;
            m.auth_data.set(name, bytes(n, 0));
            CHECK(b.check(m.auth_data, m.body, typed()) == errc::bad_auth_field_length);
        }
    }
}

TEST_CASE("Ed25519AuthPlugin: freshness window with an injected clock; the boundaries are accepted (C5)",
          "[modern][ed25519]") {
    const Message good = signed_request(signer_a());  // ts = t0
    auto at = [](std::int64_t now) { return Ed25519AuthPlugin(options_for(seed_b, {ed25519_verify_key(seed_a)}, now)); };
    CHECK(at(t0 + 61).check(good.auth_data, good.body, typed()) == errc::stale_timestamp);
    CHECK(at(t0 - 61).check(good.auth_data, good.body, typed()) == errc::future_timestamp);
    CHECK_FALSE(at(t0 + 60).check(good.auth_data, good.body, typed()));
    CHECK_FALSE(at(t0 - 60).check(good.auth_data, good.body, typed()));
    // The window is checked before the signature: a stale forgery is reported stale.
    Message forged = good;
    forged.auth_data.set("sig", bytes(64, 0));
    CHECK(at(t0 + 1000).check(forged.auth_data, forged.body, typed()) == errc::stale_timestamp);
    ed25519_auth_options no_window = options_for(seed_b, {ed25519_verify_key(seed_a)}, t0 + 100000);
    no_window.freshness_window.reset();
    no_window.replay_cache_capacity = 0;
    CHECK_FALSE(Ed25519AuthPlugin(no_window).check(good.auth_data, good.body, typed()));
}

TEST_CASE("Ed25519AuthPlugin: replays are refused; the cache is bounded, fails closed and is only filled by verified messages (C4, C7)",
          "[modern][ed25519]") {
    const Ed25519AuthPlugin a = signer_a();
    ed25519_auth_options o = options_for(seed_b, {ed25519_verify_key(seed_a)});
    o.replay_cache_capacity = 2;
    const Ed25519AuthPlugin b(o);
    const Message m1 = signed_request(a, "one");
    CHECK_FALSE(b.check(m1.auth_data, m1.body, typed()));
    CHECK(b.check(m1.auth_data, m1.body, typed()) == errc::replayed);
    // Forgeries never reach the cache.
    for (int i = 0; i < 5; ++i) {
        Message forged = signed_request(a, "forged");
        forged.body.content.push_back(static_cast<std::uint8_t>(i));
        CHECK(b.check(forged.auth_data, forged.body, typed()) == errc::auth_failed);
    }
    CHECK(b.replay()->size() == 1);
    const Message m2 = signed_request(a, "two");
    CHECK_FALSE(b.check(m2.auth_data, m2.body, typed()));
    const Message m3 = signed_request(a, "three");
    CHECK(b.check(m3.auth_data, m3.body, typed()) == errc::replay_cache_full);

    // A copy shares the cache; a shared cache spans plugins.
    const Ed25519AuthPlugin copy = b;
    CHECK(copy.check(m2.auth_data, m2.body, typed()) == errc::replayed);
    auto shared = std::make_shared<replay_cache>(16);
    ed25519_auth_options s1 = options_for(seed_b, {ed25519_verify_key(seed_a)});
    s1.shared_replay_cache = shared;
    const Message m4 = signed_request(a, "four");
    CHECK_FALSE(Ed25519AuthPlugin(s1).check(m4.auth_data, m4.body, typed()));
    CHECK(Ed25519AuthPlugin(s1).check(m4.auth_data, m4.body, typed()) == errc::replayed);
}

TEST_CASE("Ed25519AuthPlugin: as an inner layer, unsigned_fields leaves out what the outer layer adds", "[modern][ed25519]") {
    const handler_plugins outer = modern::compat_outer();
    handler_plugins inner_a;
    inner_a.auth = Ed25519AuthPlugin([] {
        ed25519_auth_options o = options_for(seed_a, {ed25519_verify_key(seed_b)});
        o.clock = clock_source{};
        o.unsigned_fields = modern::compat_outer_fields();
        return o;
    }());
    ed25519_auth_options vb = options_for(seed_b, {ed25519_verify_key(seed_a)});
    vb.clock = clock_source{};
    vb.unsigned_fields = modern::compat_outer_fields();
    const Ed25519AuthPlugin inner_b(vb);

    // Receive as a node does: outer check, outer decrypt, then the inner check.
    Message m = netaio_test::request_msg("inner", "payload");
    detail::seal(m, &inner_a, &outer, plugin_context{});
    REQUIRE_FALSE(detail::open_layer(m, outer, plugin_context{}).error);
    CHECK(m.auth_data.contains("hmac"));
    CHECK(m.auth_data.contains("iv"));
    CHECK_FALSE(inner_b.check(m.auth_data, m.body, typed()));

    // Without unsigned_fields the outer "hmac" and "iv" break the inner signature.
    vb.unsigned_fields.clear();
    vb.shared_replay_cache = nullptr;
    CHECK(Ed25519AuthPlugin(vb).check(m.auth_data, m.body, typed()) == errc::auth_failed);
}

TEST_CASE("Ed25519AuthPlugin: trust on first use from peer data, pinned to the peer id; bounded pin table",
          "[modern][ed25519][tofu]") {
    ed25519_auth_options o;
    o.seed = seed_b;
    o.trust_peer_data = true;
    o.max_pins = 2;
    o.clock = clock_source::fixed(t0);
    Ed25519AuthPlugin b(o);
    const DefaultPeerPlugin peer_plugin;
    auto peer_with = [](std::string id, std::optional<bytes> vk) {
        Peer p;
        p.id = to_bytes(id);
        if (vk) p.data = packify::pack(packify::dict{{"vk", *vk}, {"name", id}});
        return p;
    };
    auto ctx_of = [&peer_plugin](const Peer& p) { return plugin_context(&p, &peer_plugin, request_type); };
    const Ed25519AuthPlugin a = signer_a();
    const Ed25519AuthPlugin x(options_for(seed_x, {ed25519_verify_key(seed_b)}));
    const Message from_a = signed_request(a, "from a");

    // No peer, or a peer without a key in its data: nothing to trust.
    CHECK(b.check(from_a.auth_data, from_a.body, typed()) == errc::missing_peer_data);
    const Peer no_data = peer_with("peer-a", std::nullopt);
    CHECK(b.check(from_a.auth_data, from_a.body, ctx_of(no_data)) == errc::missing_peer_data);
    // The peer advertises another key than the one that signed.
    const Peer lying = peer_with("peer-a", ed25519_verify_key(seed_x));
    CHECK(b.check(from_a.auth_data, from_a.body, ctx_of(lying)) == errc::auth_failed);
    CHECK(b.pin_count() == 0);  // failures pin nothing

    const Peer peer_a = peer_with("peer-a", ed25519_verify_key(seed_a));
    CHECK_FALSE(b.check(from_a.auth_data, from_a.body, ctx_of(peer_a)));
    REQUIRE(b.pinned_key(to_bytes("peer-a")));
    CHECK(*b.pinned_key(to_bytes("peer-a")) == ed25519_verify_key(seed_a));

    // The pin holds: the same id now advertising x's key (a hijacked advert) is refused.
    const Peer hijacked = peer_with("peer-a", ed25519_verify_key(seed_x));
    const Message from_x = signed_request(x, "from x");
    CHECK(b.check(from_x.auth_data, from_x.body, ctx_of(hijacked)) == errc::auth_failed);
    // ...while a's own messages keep verifying even if its data later changes.
    const Message again = signed_request(a, "again");
    CHECK_FALSE(b.check(again.auth_data, again.body, ctx_of(hijacked)));

    // Capacity 2: a second peer is pinned, a third is refused (fail closed).
    const Peer peer_x = peer_with("peer-x", ed25519_verify_key(seed_x));
    CHECK_FALSE(b.check(from_x.auth_data, from_x.body, ctx_of(peer_x)));
    const Ed25519AuthPlugin y(options_for(bytes(32, 0x77), {ed25519_verify_key(seed_b)}));
    const Peer peer_y = peer_with("peer-y", ed25519_verify_key(bytes(32, 0x77)));
    const Message from_y = signed_request(y, "from y");
    CHECK(b.check(from_y.auth_data, from_y.body, ctx_of(peer_y)) == errc::peer_table_full);
    CHECK(b.unpin(to_bytes("peer-x")));
    CHECK_FALSE(b.unpin(to_bytes("peer-x")));
    CHECK_FALSE(b.check(from_y.auth_data, from_y.body, ctx_of(peer_y)));
    CHECK(b.pin_count() == 2);

    // An allow-listed key needs no peer at all.
    o.allowed_keys = {ed25519_verify_key(seed_a)};
    const Message fresh = signed_request(a, "fresh");
    CHECK_FALSE(Ed25519AuthPlugin(o).check(fresh.auth_data, fresh.body, typed()));
}

TEST_CASE("Ed25519AuthPlugin: a signed ADVERTISE_PEER introduces its sender; adverts for a pinned id need the pinned key",
          "[modern][ed25519][tofu]") {
    ed25519_auth_options o;
    o.seed = seed_b;
    o.trust_peer_data = true;
    o.clock = clock_source::fixed(t0);
    const Ed25519AuthPlugin b(o);
    const Ed25519AuthPlugin a = signer_a();
    const Ed25519AuthPlugin x(options_for(seed_x, {ed25519_verify_key(seed_b)}));
    auto advert = [](const Ed25519AuthPlugin& signer, const bytes& advertised_vk, MessageType type) {
        Peer self;
        self.id = to_bytes("node-a");
        self.data = packify::pack(packify::dict{{"vk", advertised_vk}});
        Message m = make_peer_message(type, "netaio", self);
        signer.make(m.auth_data, m.body, typed(static_cast<std::uint8_t>(type)));
        return m;
    };
    const auto advertise = static_cast<std::uint8_t>(MessageType::ADVERTISE_PEER);
    const auto disconnect = static_cast<std::uint8_t>(MessageType::DISCONNECT);

    // An advert whose record names another key than the signer's fails.
    const Message wrong = advert(x, ed25519_verify_key(seed_a), MessageType::ADVERTISE_PEER);
    CHECK(b.check(wrong.auth_data, wrong.body, typed(advertise)) == errc::auth_failed);
    // a's own advert, self-certified: accepted and pinned with no peer known yet.
    const Message ad = advert(a, ed25519_verify_key(seed_a), MessageType::ADVERTISE_PEER);
    CHECK_FALSE(b.check(ad.auth_data, ad.body, typed(advertise)));
    CHECK(b.pinned_key(to_bytes("node-a")) == std::optional<bytes>(ed25519_verify_key(seed_a)));
    // x re-advertises (or disconnects) node-a under its own key: refused.
    const Message spoof = advert(x, ed25519_verify_key(seed_x), MessageType::ADVERTISE_PEER);
    CHECK(b.check(spoof.auth_data, spoof.body, typed(advertise)) == errc::auth_failed);
    const Message spoof_bye = advert(x, ed25519_verify_key(seed_x), MessageType::DISCONNECT);
    CHECK(b.check(spoof_bye.auth_data, spoof_bye.body, typed(disconnect)) == errc::auth_failed);
    const Message bye = advert(a, ed25519_verify_key(seed_a), MessageType::DISCONNECT);
    CHECK_FALSE(b.check(bye.auth_data, bye.body, typed(disconnect)));
}

TEST_CASE("Ed25519AuthPlugin: configuration and misuse", "[modern][ed25519]") {
    const bytes vk_a = ed25519_verify_key(seed_a);
    const nlohmann::json config = {{"seed", to_hex(seed_b)},
                                   {"allowed_keys", nlohmann::json::array({to_hex(vk_a)})},
                                   {"sig_field", "s"},
                                   {"unsigned_fields", nlohmann::json::array({"hmac"})},
                                   {"freshness_window", 30},
                                   {"replay_cache_capacity", 8}};
    const Ed25519AuthPlugin b(config);
    CHECK(b.verify_key() == ed25519_verify_key(seed_b));
    CHECK(b.options().sig_field == "s");
    CHECK(b.options().freshness_window == std::chrono::seconds(30));
    CHECK(b.replay()->capacity() == 8);
    CHECK(b.options().seed.empty());  // not retained

    auto refused = [](const nlohmann::json& c) {
        try {
            Ed25519AuthPlugin p(c);
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
        return false;
    };
    CHECK(refused({{"seed", to_hex(seed_b)}}));  // nothing would verify
    CHECK(refused({{"seed", "abcd"}, {"trust_peer_data", true}}));
    CHECK(refused({{"seed", "not hex"}, {"trust_peer_data", true}}));
    CHECK(refused({{"trust_peer_data", true}, {"allowed_keys", nlohmann::json::array({"00"})}}));
    CHECK(refused({{"trust_peer_data", true}, {"vk_field", "sig"}}));
    CHECK(refused({{"trust_peer_data", true}, {"unsigned_fields", nlohmann::json::array({"ts"})}}));
    CHECK(refused({{"trust_peer_data", true}, {"freshness_window", nullptr}}));  // cache without window
    CHECK(refused(nlohmann::json::array()));
    CHECK_FALSE(refused({{"trust_peer_data", true}, {"freshness_window", nullptr}, {"replay_cache_capacity", 0}}));

    // A verify-only plugin cannot sign; nobody signs without the type.
    const Ed25519AuthPlugin verify_only(nlohmann::json{{"allowed_keys", nlohmann::json::array({to_hex(vk_a)})}});
    CHECK(verify_only.verify_key().empty());
    AuthFields f;
    const Body body = Body::prepare("x", "y");
    CHECK_THROWS_AS(verify_only.make(f, body, typed()), netaio::error);
    CHECK_THROWS_AS(signer_a().make(f, body, plugin_context()), netaio::error);

    // Through the type-erased handle.
    any_auth_plugin handle = signer_a();
    Message m = Message::prepare(Body::prepare("h", "u"), MessageType::REQUEST_URI);
    handle.make(m.auth_data, m.body, typed());
    any_auth_plugin checker = verifier_b();
    CHECK_FALSE(checker.check(m.auth_data, m.body, typed()));
    CHECK(text_of(checker.error().body.content) == "Ed25519 auth failed");
    CHECK(checker.error().type() == MessageType::AUTH_ERROR);
    CHECK_FALSE(checker.is_peer_specific());
}

TEST_CASE("Ed25519AuthPlugin: the README's configuration signs and verifies", "[modern][ed25519]") {
    const bytes my_seed = ed25519_new_seed();
    const bytes peer_seed = ed25519_new_seed();
    CHECK(my_seed.size() == 32);
    CHECK(my_seed != peer_seed);
    tcp_server_options server_options;
    // tag::ed25519_readme[]
    netaio::ed25519_auth_options o;
    o.seed = my_seed;                                          // 32 secret bytes: netaio::ed25519_new_seed()
    o.allowed_keys = {netaio::ed25519_verify_key(peer_seed)};  // or o.trust_peer_data = true
    server_options.auth_plugin = netaio::Ed25519AuthPlugin(o);
    // end::ed25519_readme[]
    ed25519_auth_options peer_options;
    peer_options.seed = peer_seed;
    peer_options.allowed_keys = {ed25519_verify_key(my_seed)};
    const Ed25519AuthPlugin peer(peer_options);
    Message m = Message::prepare(Body::prepare("hi", "u"), MessageType::REQUEST_URI);
    peer.make(m.auth_data, m.body, typed());
    CHECK_FALSE(server_options.auth_plugin.check(m.auth_data, m.body, typed()));
}

// ---- loopback ----------------------------------------------------------------------

TEST_CASE("Ed25519AuthPlugin over TCP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][ed25519][tcp]") {
    run_loopback([](asio::io_context& io) {
        return modern::tcp_outer_round_trip(io, ed_layer(seed_a, seed_b), ed_layer(seed_b, seed_a));
    });
    run_loopback([](asio::io_context& io) {
        return modern::tcp_inner_round_trip(io, ed_layer(seed_a, seed_b, modern::compat_outer_fields()),
                                            ed_layer(seed_b, seed_a, modern::compat_outer_fields()));
    });
}

TEST_CASE("Ed25519AuthPlugin over UDP: outer layer alone; inner layer under HMAC + stream cipher", "[modern][ed25519][udp]") {
    run_loopback([](asio::io_context& io) {
        return modern::udp_outer_round_trip(io, ed_layer(seed_a, seed_b), ed_layer(seed_b, seed_a));
    });
    run_loopback([](asio::io_context& io) {
        return modern::udp_inner_round_trip(io, ed_layer(seed_a, seed_b, modern::compat_outer_fields()),
                                            ed_layer(seed_b, seed_a, modern::compat_outer_fields()));
    });
}

TEST_CASE("Ed25519AuthPlugin over TCP: tampered, re-typed and replayed frames are refused and counted; handler not called; alive after",
          "[modern][ed25519][tcp]") {
    SECTION("content bit flipped (C3)") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins client = ed_layer(seed_b, seed_a);
            Message m = netaio_test::request_msg("echo", "tamper me");
            detail::seal(m, nullptr, &client, plugin_context{});
            m.body.content[0] ^= 1;
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::tcp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::auth_failed}, client);
        });
    }
    SECTION("REQUEST_URI re-typed to CREATE_URI (C6)") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins client = ed_layer(seed_b, seed_a);
            Message m = netaio_test::request_msg("echo", "typed");
            detail::seal(m, nullptr, &client, plugin_context{});
            std::vector<bytes> frames{netaio_test::frame_builder(m).type(static_cast<std::uint8_t>(MessageType::CREATE_URI)).build()};
            return modern::tcp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::auth_failed}, client);
        });
    }
    SECTION("the same frame twice (C4)") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins client = ed_layer(seed_b, seed_a);
            const bytes frame = modern::sealed_frame(netaio_test::request_msg("echo", "once"), {}, client);
            std::vector<bytes> frames{frame, frame};
            return modern::tcp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::replayed, 1, 1}, client);
        });
    }
    SECTION("inner layer tampered under a valid outer HMAC + cipher") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins outer = modern::compat_outer();
            const handler_plugins inner = ed_layer(seed_b, seed_a, modern::compat_outer_fields());
            Message m = netaio_test::request_msg("inner", "inner payload");
            detail::seal_layer(m, inner, plugin_context{});
            m.body.content.back() ^= 0x80;  // after the inner signature, before the outer MAC
            detail::seal_layer(m, outer, plugin_context{});
            std::vector<bytes> frames{m.encode()};
            return modern::tcp_hostile(io, outer, ed_layer(seed_a, seed_b, modern::compat_outer_fields()), std::move(frames),
                                       {errc::auth_failed}, outer);
        });
    }
}

TEST_CASE("Ed25519AuthPlugin over UDP: tampered and wrongly signed datagrams are dropped silently and counted", "[modern][ed25519][udp]") {
    SECTION("content bit flipped") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins sender = ed_layer(seed_b, seed_a);
            Message m = netaio_test::request_msg("echo", "tamper me");
            detail::seal(m, nullptr, &sender, plugin_context{});
            m.body.content[2] ^= 4;
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::udp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::auth_failed}, sender);
        });
    }
    SECTION("signed by a key that is not allowed; vk field cut to 31 bytes") {
        run_loopback([](asio::io_context& io) {
            const handler_plugins stranger = ed_layer(seed_x, seed_a);
            const bytes frame = modern::sealed_frame(netaio_test::request_msg("echo", "who?"), {}, stranger);
            std::vector<bytes> frames{frame};
            return modern::udp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::auth_failed},
                                       ed_layer(seed_b, seed_a));
        });
        run_loopback([](asio::io_context& io) {
            const handler_plugins sender = ed_layer(seed_b, seed_a);
            Message m = netaio_test::request_msg("echo", "short vk");
            detail::seal(m, nullptr, &sender, plugin_context{});
            m.auth_data.set("vk", bytes(31, 1));
            std::vector<bytes> frames{modern::frame_of(m)};
            return modern::udp_hostile(io, ed_layer(seed_a, seed_b), {}, std::move(frames), {errc::bad_auth_field_length},
                                       sender);
        });
    }
}

namespace {

/// A discovering UDP node whose peer data advertises its Ed25519 key, with Ed25519
/// (trust_peer_data, no allow-list) as its outer layer.
udp_node_options tofu_node(const std::string& id, const bytes& seed, std::uint16_t discovery_port) {
    ed25519_auth_options e;
    e.seed = seed;
    e.trust_peer_data = true;
    handler_plugins layer;
    layer.auth = Ed25519AuthPlugin(e);
    udp_node_options o = modern::udp_options(layer);
    Peer self;
    self.id = to_bytes(id);
    self.data = packify::pack(packify::dict{{"vk", ed25519_verify_key(seed)}, {"name", id}});
    o.local_peer = self;
    o.multicast_port = discovery_port;
    return o;
}

asio::awaitable<void> tofu_discovery(asio::io_context& io) {
    UDPNode a(io.get_executor(), tofu_node("node-a", seed_a, 0));
    a.on({MessageType::REQUEST_URI, "echo"}, modern::echo_reply);
    a.start();
    UDPNode b(io.get_executor(), tofu_node("node-b", seed_b, a.discovery_port()));
    b.start();
    peer_management_options pm;
    pm.advertise_every = 100ms;
    a.manage_peers_automatically(pm);
    b.manage_peers_automatically(pm);
    UDPNode* ap = &a;
    UDPNode* bp = &b;
    co_await eventually([ap, bp] { return ap->peers().size() == 1 && bp->peers().size() == 1; });
    CHECK(a.peers().by_id(to_bytes("node-b")) != nullptr);

    // Known by their signed adverts: a request between them verifies by the pinned key.
    Message r = co_await b.request("echo", peer_address("127.0.0.1", a.local_port()), "pinned", modern::timed(2s));
    CHECK(text_of(r.body.content) == "pinned");
    CHECK(a.stats().count(errc::auth_failed) == 0);

    // A spoofer advertising node-b under its own key is refused; node-b stays.
    Peer fake;
    fake.id = to_bytes("node-b");
    fake.data = packify::pack(packify::dict{{"vk", ed25519_verify_key(seed_x)}});
    ed25519_auth_options xo;
    xo.seed = seed_x;
    xo.trust_peer_data = true;
    handler_plugins spoofer;
    spoofer.auth = Ed25519AuthPlugin(xo);
    for (MessageType type : {MessageType::ADVERTISE_PEER, MessageType::DISCONNECT}) {
        const bytes frame = modern::sealed_frame(make_peer_message(type, "netaio", fake), {}, spoofer);
        asio::ip::udp::socket raw(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        raw.send_to(asio::buffer(frame), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), a.local_port()));
    }
    co_await eventually([ap] { return ap->stats().count(errc::auth_failed) == 2; });
    CHECK(a.peers().by_id(to_bytes("node-b")) != nullptr);
    a.stop();
    b.stop();
}

}  // namespace

TEST_CASE("Ed25519AuthPlugin over UDP discovery: self-certifying adverts pin keys; spoofed adverts and DISCONNECTs fail",
          "[modern][ed25519][udp][tofu]") {
    run_loopback([](asio::io_context& io) { return tofu_discovery(io); });
}
