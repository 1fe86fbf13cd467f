// tests/unit/test_tapescript_auth_plugin.cpp - TapescriptAuthPlugin: every
// plugin-level case of tapescript_auth.json (make, check, error_message,
// taproot_make, taproot_check; the script-level kinds are in test_tapescript.cpp),
// configuration, typed errors for bad input, the opt-in freshness window and
// replay cache, and loopback round trips over TCP and UDP with the plugin as
// the outer layer and as a per-handler inner layer under HMAC + stream cipher.
//
// GCC 12: never co_await inside CHECK/REQUIRE, no aggregate or braced-list
// temporaries inside co_await expressions, no capturing coroutine lambdas.
#include "injector.hpp"
#include "loopback_support.hpp"
#include "message_vector_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tapescript_auth_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/udp_node.hpp>

#include <asio/ip/udp.hpp>

#include <iostream>
#include <map>
#include <optional>
#include <string>

using namespace netaio;
using netaio_test::auth_fields_of;
using netaio_test::eventually;
using netaio_test::frame_builder;
using netaio_test::hex;
using netaio_test::json;
using netaio_test::raw_socket;
using netaio_test::request_msg;
using netaio_test::run_loopback;
using netaio_test::text_of;
namespace ts = netaio::tapescript;

namespace {

constexpr std::int64_t vector_time = 1700000000;  // every recording freezes time here

const json& vectors() {
    static const json doc = netaio_test::load_vectors("tapescript_auth.json");
    return doc;
}

bytes seed_n(std::uint8_t first) {
    bytes s(32);
    for (std::size_t i = 0; i < 32; ++i) s[i] = static_cast<std::uint8_t>(first + i);
    return s;
}


/// Options with Python's defaults (no window, no cache) and the vectors' frozen clock.
tapescript_auth_options python_options(bytes seed, bytes lock) {
    tapescript_auth_options o;
    o.seed = std::move(seed);
    o.lock = std::move(lock);
    o.clock = clock_source::fixed(vector_time);
    return o;
}

Body body_of(const json& c) { return Body(hex(c.at("uri_hex")), hex(c.at("content_hex"))); }

/// The identities of the loopback tests: a server, the owner of the taproot lock
/// (internal key), an admin whose single-sig lock is committed in it, a stranger.
struct identities {
    bytes server_seed = seed_n(0x10), owner_seed = seed_n(0x30), admin_seed = seed_n(0x50), stranger_seed = seed_n(0x70);
    ts::verify_key server = ts::verify_key_from_seed(server_seed);
    ts::verify_key owner = ts::verify_key_from_seed(owner_seed);
    ts::verify_key admin = ts::verify_key_from_seed(admin_seed);
    bytes admin_script = ts::make_single_sig_lock(admin);
    bytes owner_lock = ts::make_taproot_lock(owner, admin_script);

    /// The server: signs single-sig, accepts the owner's taproot lock.
    TapescriptAuthPlugin server_plugin() const {
        tapescript_auth_options o;
        o.seed = server_seed;
        o.lock = owner_lock;
        o.with_replay_protection();
        return TapescriptAuthPlugin(o);
    }
    /// A client accepting the server's replies and signing with `seed` / `witness`.
    TapescriptAuthPlugin client_plugin(const bytes& seed, tapescript_witness_function witness = {}) const {
        tapescript_auth_options o;
        o.seed = seed;
        o.lock = ts::make_single_sig_lock(server);
        o.witness_func = std::move(witness);
        o.with_replay_protection();
        return TapescriptAuthPlugin(o);
    }
    TapescriptAuthPlugin owner_plugin() const { return client_plugin(owner_seed, ts::taproot_keyspend_witness(admin_script)); }
    TapescriptAuthPlugin admin_plugin() const {
        return client_plugin(admin_seed, ts::taproot_scriptspend_witness(owner, admin_script));
    }
    TapescriptAuthPlugin stranger_plugin() const { return client_plugin(stranger_seed); }
};

Message echo_reply(const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); }

const bytes outer_secret = to_bytes("tapescript-test-outer-secret-0123");
const bytes outer_key = to_bytes("tapescript-test-outer-cipher-key-");

HMACAuthPlugin outer_hmac() {
    hmac_auth_options o;
    o.secret = outer_secret;
    return HMACAuthPlugin(o);
}

Sha256StreamCipherPlugin outer_cipher() {
    sha256_stream_cipher_options o;
    o.key = outer_key;
    return Sha256StreamCipherPlugin(o);
}

request_options with_timeout(std::chrono::milliseconds t) {
    request_options ro;
    ro.timeout(t);
    return ro;
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

asio::awaitable<request_outcome> try_udp_request(UDPNode& node, std::string uri, peer_address to, std::string content,
                                                 request_options ro) {
    request_outcome out;
    try {
        Message r = co_await node.request(uri, to, content, ro);
        out.reply = std::move(r);
    } catch (const netaio::error& e) {
        out.error = e.code();
    }
    co_return out;
}

bool has_bytes(const AuthFields& f, std::string_view key, std::size_t size) {
    auto v = f.get_bytes(key);
    return v && v->size() == size;
}

udp_node_options udp_loopback(any_auth_plugin auth = nullptr, any_cipher_plugin cipher = nullptr) {
    udp_node_options o;
    o.host = "127.0.0.1";
    o.port = 0;
    o.multicast_interface = "127.0.0.1";
    o.multicast_ttl = 1;
    o.auth_plugin = std::move(auth);
    o.cipher_plugin = std::move(cipher);
    return o;
}

struct udp_injector {
    asio::ip::udp::socket socket;
    explicit udp_injector(asio::io_context& io) : socket(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
    void send(const bytes& data, std::uint16_t port) {
        socket.send_to(asio::buffer(data), asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    }
};

}  // namespace

// ------------------------------------------------------------------ vectors

TEST_CASE("TapescriptAuthPlugin: make() vectors are byte-exact", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "make")) {
        INFO("make: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        tapescript_auth_options o = python_options(hex(c.at("seed_hex")), hex(c.at("lock_hex")));
        o.nonce_field = c.at("fields").at("nonce").get<std::string>();
        o.ts_field = c.at("fields").at("ts").get<std::string>();
        o.witness_field = c.at("fields").at("witness").get<std::string>();
        o.random = script.random();
        o.clock = script.clock();
        const TapescriptAuthPlugin plugin(o);

        const json& in = c.at("input");
        const json& out = c.at("output");
        Message m = Message::prepare(body_of(in), static_cast<MessageType>(out.at("message_type").get<int>()),
                                     auth_fields_of(in.at("auth_fields")));
        // Python draws urandom(16) even when a nonce is given; C++ only when it needs one.
        const bool nonce_given = m.auth_data.contains(o.nonce_field);
        plugin.make(m.auth_data, m.body);
        CHECK(script.remaining_draws() == (nonce_given ? 1u : 0u));

        CHECK(m.auth_data == auth_fields_of(out.at("auth_fields")));
        CHECK(to_hex(m.auth_data.get_bytes(o.witness_field).value()) == c.at("witness_hex").get<std::string>());
        CHECK(to_hex(m.encode()) == out.at("encoded_hex").get<std::string>());
        CHECK(to_hex(m.auth_data.encode()) == out.at("auth_hex").get<std::string>());
        // The recorded signature is over the recorded message.
        const bytes message = hex(c.at("signed_message_hex"));
        const bytes sig = hex(c.at("signature_hex"));
        CHECK(detail::ed25519::verify(sig, message, plugin.verify_key()));
        // What make() wrote verifies with the plugin's own lock, also hardened.
        CHECK_FALSE(plugin.check(m.auth_data, m.body));
        tapescript_auth_options hardened = o;
        hardened.seed = hex(c.at("seed_hex"));
        hardened.with_replay_protection();
        hardened.clock = clock_source::fixed(vector_time);
        const TapescriptAuthPlugin strict(hardened);
        CHECK_FALSE(strict.check(m.auth_data, m.body));
        CHECK(strict.check(m.auth_data, m.body) == errc::replayed);
        ++checked;
    }
    std::cout << "tapescript_auth.json make vectors checked: " << checked << "\n";
    CHECK(checked == 5);
}

TEST_CASE("TapescriptAuthPlugin: check() vectors, with and without the peer's lock", "[tapescript][vectors]") {
    const std::map<std::string, std::error_code> reason{
        {"valid", {}},
        {"tampered content", errc::auth_failed},
        {"tampered nonce", errc::auth_failed},
        {"tampered ts", errc::auth_failed},
        {"wrong lock (other key)", errc::auth_failed},
        {"multisig 1-of-2 accepts key 0 witness", {}},
        {"missing witness", errc::missing_auth_field},
        {"use_peer_lock: peer data {\"lock\": lock0} overrides plugin lock1", {}},
        {"peer lock ignored when use_peer_lock is False", errc::auth_failed},
    };
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "check")) {
        const std::string description = c.at("description").get<std::string>();
        INFO("check: " << description);
        tapescript_auth_options o = python_options(seed_n(0xa0), hex(c.at("lock_hex")));
        o.use_peer_lock = c.at("use_peer_lock").get<bool>();
        const TapescriptAuthPlugin plugin(o);

        // Through the wire encoding, as a node receives it.
        std::error_code ec;
        const AuthFields fields = AuthFields::decode(auth_fields_of(c.at("auth_fields")).encode(), auth_decode_options(), ec);
        REQUIRE_FALSE(ec);
        const Body body = body_of(c);
        Peer peer;
        const DefaultPeerPlugin peer_plugin;
        plugin_context ctx;
        if (c.contains("peer")) {
            peer.id = hex(c.at("peer").at("id").at("hex"));
            peer.data = hex(c.at("peer").at("data").at("hex"));
            ctx = plugin_context{&peer, &peer_plugin};
        }
        const std::error_code result = plugin.check(fields, body, ctx);
        CHECK(!result == c.at("expected").get<bool>());
        REQUIRE(reason.count(description) == 1);
        CHECK(result == reason.at(description));
        CHECK(plugin.check(fields, body, ctx) == result);  // no cache: the same frame passes again

        tapescript_auth_options hardened = o;
        hardened.seed = seed_n(0xa0);
        hardened.with_replay_protection();
        const TapescriptAuthPlugin strict(hardened);
        CHECK(strict.check(fields, body, ctx) == result);
        if (!result) CHECK(strict.check(fields, body, ctx) == errc::replayed);
        ++checked;
    }
    std::cout << "tapescript_auth.json check vectors checked: " << checked << "\n";
    CHECK(checked == 9);
}

TEST_CASE("TapescriptAuthPlugin: error() is the AUTH_ERROR \"tapescript auth failed\" frame", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "error_message")) {
        const TapescriptAuthPlugin plugin(python_options(seed_n(1), from_hex("01")));
        const Message e = plugin.error();
        CHECK(e.type() == MessageType::AUTH_ERROR);
        CHECK(to_hex(e.encode()) == c.at("output").at("encoded_hex").get<std::string>());
        CHECK(plugin.is_peer_specific());
        ++checked;
    }
    CHECK(checked == 1);
}

TEST_CASE("TapescriptAuthPlugin: taproot_make vectors through make() with the README witness functions", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "taproot_make")) {
        INFO("taproot_make: " << c.at("description").get<std::string>());
        netaio_test::scripted_randomness script(c.at("random"));
        tapescript_auth_options o = python_options(hex(c.at("seed_hex")), hex(c.at("lock_hex")));
        const bytes committed = hex(c.at("tweak").at("committed_script_hex"));
        const bytes internal = hex(c.at("tweak").at("internal_vkey_hex"));
        if (c.at("path").get<std::string>() == "key") {
            o.witness_func = ts::taproot_keyspend_witness(committed);
        } else {
            ts::verify_key v{};
            std::copy(internal.begin(), internal.end(), v.begin());
            o.witness_func = ts::taproot_scriptspend_witness(v, committed);
        }
        o.random = script.random();
        o.clock = script.clock();
        const TapescriptAuthPlugin plugin(o);

        const json& in = c.at("input");
        const json& out = c.at("output");
        Message m = Message::prepare(body_of(in), static_cast<MessageType>(out.at("message_type").get<int>()),
                                     auth_fields_of(in.at("auth_fields")));
        plugin.make(m.auth_data, m.body);
        CHECK(m.auth_data == auth_fields_of(out.at("auth_fields")));
        CHECK(to_hex(m.auth_data.get_bytes("witness").value()) == c.at("witness_hex").get<std::string>());
        CHECK(to_hex(m.encode()) == out.at("encoded_hex").get<std::string>());
        CHECK_FALSE(plugin.check(m.auth_data, m.body));  // the plugin's lock is the taproot lock itself
        ++checked;
    }
    std::cout << "tapescript_auth.json taproot_make vectors checked (plugin): " << checked << "\n";
    CHECK(checked == 4);
}

TEST_CASE("TapescriptAuthPlugin: taproot_check vectors through check()", "[tapescript][vectors]") {
    std::size_t checked = 0;
    for (const json& c : netaio_test::cases_of_kind(vectors(), "taproot_check")) {
        INFO("taproot_check: " << c.at("description").get<std::string>());
        const TapescriptAuthPlugin plugin(python_options(seed_n(0xa0), hex(c.at("lock_hex"))));
        const AuthFields fields = auth_fields_of(c.at("auth_fields"));
        const std::error_code result = plugin.check(fields, body_of(c));
        CHECK(!result == c.at("expected").get<bool>());
        if (result) CHECK(result == errc::auth_failed);
        ++checked;
    }
    std::cout << "tapescript_auth.json taproot_check vectors checked (plugin): " << checked << "\n";
    CHECK(checked == 15);
}

TEST_CASE("TapescriptAuthPlugin: all 39 vector cases are of a kind the tests cover", "[tapescript][vectors]") {
    const std::map<std::string, std::size_t> expected{{"lock", 3},         {"make", 5},          {"check", 9},
                                                      {"error_message", 1}, {"taproot_lock", 2}, {"taproot_make", 4},
                                                      {"taproot_check", 15}};
    std::map<std::string, std::size_t> seen;
    for (const json& c : vectors().at("cases")) ++seen[c.at("kind").get<std::string>()];
    CHECK(seen == expected);
    CHECK(vectors().at("cases").size() == 39);
}

// ------------------------------------------------------------------ configuration

TEST_CASE("TapescriptAuthPlugin: JSON configuration (Python keys plus the C++ ones)", "[tapescript]") {
    const bytes seed = seed_n(1);
    const bytes lock = ts::make_single_sig_lock(ts::verify_key_from_seed(seed));
    json config{{"seed_hex", to_hex(seed)}, {"lock", json::binary(lock)}, {"witness_field", "w"}, {"contracts", json::object()},
                {"plugins", json::object()}};
    const TapescriptAuthPlugin plugin(config);
    CHECK(plugin.options().witness_field == "w");
    CHECK(plugin.options().nonce_field == "nonce");
    CHECK_FALSE(plugin.options().use_peer_lock);
    CHECK_FALSE(plugin.options().freshness_window);
    CHECK(plugin.replay() == nullptr);
    CHECK(plugin.options().seed.empty());  // the seed is held apart, wiped on destruction
    CHECK(plugin.lock() == lock);
    Message m = request_msg("echo", "hi");
    plugin.make(m.auth_data, m.body);
    CHECK(has_bytes(m.auth_data, "w", 66));
    CHECK_FALSE(plugin.check(m.auth_data, m.body));

    json with_cache = config;
    with_cache["freshness_window"] = 30;
    with_cache["replay_cache_capacity"] = 8;
    with_cache["use_peer_lock"] = true;
    const TapescriptAuthPlugin cached(with_cache);
    REQUIRE(cached.replay());
    CHECK(cached.replay()->capacity() == 8);
    CHECK(cached.options().freshness_window == std::chrono::seconds{30});
    CHECK(cached.options().use_peer_lock);

    auto refused = [](const json& bad) {
        try {
            TapescriptAuthPlugin p(bad);
            return false;
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
    };
    json no_seed = config;
    no_seed.erase("seed_hex");
    CHECK(refused(no_seed));
    json both_seeds = config;
    both_seeds["seed"] = json::binary(seed);
    CHECK(refused(both_seeds));
    json short_seed = config;
    short_seed["seed_hex"] = to_hex(bytes(31, 1));
    CHECK(refused(short_seed));
    json bad_hex = config;
    bad_hex["seed_hex"] = "zz";
    CHECK(refused(bad_hex));
    json no_lock = config;
    no_lock.erase("lock");
    CHECK(refused(no_lock));
    json empty_lock = config;
    empty_lock["lock"] = json::binary(bytes{});
    CHECK(refused(empty_lock));
    json contracts = config;
    contracts["contracts"] = json{{"x", 1}};
    CHECK(refused(contracts));
    json witness_func = config;
    witness_func["witness_func"] = "make_single_sig_witness";
    CHECK(refused(witness_func));
    json same_fields = config;
    same_fields["nonce_field"] = "w";
    CHECK(refused(same_fields));
    json cache_without_window = config;
    cache_without_window["replay_cache_capacity"] = 8;
    CHECK(refused(cache_without_window));
    CHECK(refused(json::array()));
}

// ------------------------------------------------------------------ bad input

TEST_CASE("TapescriptAuthPlugin: bad input gets a typed error, never an exception", "[tapescript]") {
    const bytes seed = seed_n(3);
    const TapescriptAuthPlugin plugin(python_options(seed, ts::make_single_sig_lock(ts::verify_key_from_seed(seed))));
    Message good = request_msg("echo", "payload");
    plugin.make(good.auth_data, good.body);
    REQUIRE_FALSE(plugin.check(good.auth_data, good.body));
    auto with = [&](std::string_view key, std::optional<packify::value> v) {
        AuthFields f = good.auth_data;
        if (v)
            f.set(key, std::move(*v));
        else
            f.erase(key);
        return plugin.check(f, good.body);
    };
    const bytes ts4(good.auth_data.get_bytes("ts")->begin(), good.auth_data.get_bytes("ts")->end());

    // ts: absent, zero (as int or bytes), too large, negative, another type.
    CHECK(with("ts", std::nullopt) == errc::missing_auth_field);
    CHECK(with("ts", packify::value(packify::integer(0))) == errc::missing_auth_field);
    CHECK(with("ts", packify::value(bytes(4, 0))) == errc::missing_auth_field);
    CHECK(with("ts", packify::value(bytes{})) == errc::missing_auth_field);
    CHECK(with("ts", packify::value(from_hex("0100000000"))) == errc::bad_auth_field_length);
    CHECK(with("ts", packify::value(packify::integer(-5))) == errc::bad_auth_field_length);
    CHECK(with("ts", packify::value(std::string("1700000000"))) == errc::missing_auth_field);
    // ts is read as an integer, as Python does: an int or a longer big-endian encoding signs the same.
    CHECK_FALSE(with("ts", packify::value(packify::integer(static_cast<std::int64_t>(detail::get_u32be(ts4.data()))))));
    bytes long_ts{0x00, 0x00};
    detail::append(long_ts, ts4);
    CHECK_FALSE(with("ts", packify::value(long_ts)));
    // nonce and witness: absent, empty, another type.
    CHECK(with("nonce", std::nullopt) == errc::missing_auth_field);
    CHECK(with("nonce", packify::value(bytes{})) == errc::missing_auth_field);
    CHECK(with("nonce", packify::value(packify::integer(5))) == errc::missing_auth_field);
    CHECK(with("witness", std::nullopt) == errc::missing_auth_field);
    CHECK(with("witness", packify::value(bytes{})) == errc::missing_auth_field);
    CHECK(with("witness", packify::value(std::string("push x00"))) == errc::missing_auth_field);
    CHECK(with("witness", packify::value(bytes(65536, 0x01))) == errc::bad_auth_field_length);
    // Garbage witnesses: script errors are authentication failures.
    for (const char* w : {"ff", "03", "0340", "01", "0000", "2d", "5b00", "03200000"}) {
        INFO(w);
        CHECK(with("witness", packify::value(from_hex(w))) == errc::auth_failed);
    }
    // A uri over 65535 bytes cannot be signed or checked.
    Body huge(bytes(70000, 'u'), bytes{});
    CHECK(plugin.check(good.auth_data, huge) == errc::auth_failed);
    AuthFields f;
    try {
        plugin.make(f, huge);
        FAIL("make() accepted a uri over 65535 bytes");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::field_too_large);
    }

    // make(): a nonce of any length is reused; bad preset values throw typed errors.
    AuthFields short_nonce;
    short_nonce.set("nonce", from_hex("abcdef"));
    plugin.make(short_nonce, good.body);
    CHECK(to_hex(short_nonce.get_bytes("nonce").value()) == "abcdef");
    CHECK_FALSE(plugin.check(short_nonce, good.body));
    AuthFields int_nonce;
    int_nonce.set("nonce", packify::value(packify::integer(1)));
    CHECK_THROWS_AS(plugin.make(int_nonce, good.body), netaio::error);
    AuthFields big_ts;
    big_ts.set("ts", packify::value(packify::integer(std::int64_t{1} << 32)));
    try {
        plugin.make(big_ts, good.body);
        FAIL("make() accepted a ts over 32 bits");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::bad_auth_field_length);
    }
    AuthFields int_ts;
    int_ts.set("ts", packify::value(packify::integer(1700000001)));
    plugin.make(int_ts, good.body);
    CHECK(to_hex(int_ts.get_bytes("ts").value()) == "6553f101");

    // A witness function's exception reaches the caller of make() untouched.
    tapescript_auth_options throwing = python_options(seed, plugin.lock());
    throwing.witness_func = [](bytes_view, const ts::sigfields&) -> bytes { throw std::runtime_error("no key here"); };
    AuthFields untouched;
    CHECK_THROWS_AS(TapescriptAuthPlugin(throwing).make(untouched, good.body), std::runtime_error);
    CHECK(untouched.empty());
}

TEST_CASE("TapescriptAuthPlugin: use_peer_lock takes the lock from the peer's data, and says why when it cannot", "[tapescript]") {
    const bytes seed = seed_n(5);
    const bytes own_lock = ts::make_single_sig_lock(ts::verify_key_from_seed(seed));
    const bytes other_lock = ts::make_single_sig_lock(ts::verify_key_from_seed(seed_n(6)));
    tapescript_auth_options o = python_options(seed, other_lock);
    o.use_peer_lock = true;
    const TapescriptAuthPlugin plugin(o);
    Message m = request_msg("echo", "peer");
    plugin.make(m.auth_data, m.body);
    const DefaultPeerPlugin peer_plugin;

    auto check_with = [&](const Peer& p) { return plugin.check(m.auth_data, m.body, plugin_context{&p, &peer_plugin}); };
    Peer peer;
    peer.id = to_bytes("p");
    peer.data = packify::pack(packify::dict{{"lock", own_lock}, {"name", "p"}});
    CHECK_FALSE(check_with(peer));
    CHECK(plugin.check(m.auth_data, m.body) == errc::auth_failed);  // no peer known: the configured lock
    CHECK(plugin.check(m.auth_data, m.body, plugin_context{&peer, nullptr}) == errc::auth_failed);
    peer.data = packify::pack(packify::dict{{"name", "p"}});  // no "lock": the configured lock
    CHECK(check_with(peer) == errc::auth_failed);
    peer.data = packify::pack(packify::dict{{"lock", "not bytes"}});
    CHECK(check_with(peer) == errc::auth_failed);
    peer.data = packify::pack(packify::list{own_lock});  // not a dict: the configured lock
    CHECK(check_with(peer) == errc::auth_failed);
    peer.data.reset();
    CHECK(check_with(peer) == errc::missing_peer_data);
    peer.data = from_hex("ff");  // not packify
    const std::error_code undecodable = check_with(peer);
    CHECK(undecodable);
    CHECK(undecodable != errc::auth_failed);
}

// ------------------------------------------------------------------ replay protection

TEST_CASE("TapescriptAuthPlugin: opt-in freshness window and replay cache; re-encoded witnesses are still replays", "[tapescript]") {
    const bytes seed = seed_n(9);
    auto now = std::make_shared<std::int64_t>(vector_time);
    tapescript_auth_options o = python_options(seed, ts::make_single_sig_lock(ts::verify_key_from_seed(seed)));
    o.clock = clock_source{[now] { return *now; }};
    o.with_replay_protection(std::chrono::seconds{60}, 4);
    const TapescriptAuthPlugin plugin(o);
    REQUIRE(plugin.replay());

    Message m = request_msg("echo", "once");
    plugin.make(m.auth_data, m.body);
    // The same signature pushed with OP_PUSH2 instead of OP_PUSH1: a different
    // witness that Python accepts too. The replay key ignores the encoding.
    const auto witness = m.auth_data.get_bytes("witness").value();
    bytes reencoded = from_hex("040040");
    reencoded.insert(reencoded.end(), witness.begin() + 2, witness.end());
    AuthFields relayed = m.auth_data;
    relayed.set("witness", reencoded);
    CHECK_FALSE(TapescriptAuthPlugin(python_options(seed, plugin.lock())).check(relayed, m.body));

    CHECK_FALSE(plugin.check(m.auth_data, m.body));
    CHECK(plugin.check(m.auth_data, m.body) == errc::replayed);
    CHECK(plugin.check(relayed, m.body) == errc::replayed);

    // The window: ts 61 s in the past or future is refused before any signature check.
    *now = vector_time + 61;
    Message late = request_msg("echo", "late");
    late.auth_data.set("ts", from_hex("6553f100"));
    plugin.make(late.auth_data, late.body);
    CHECK(plugin.check(late.auth_data, late.body) == errc::stale_timestamp);
    *now = vector_time - 61;
    CHECK(plugin.check(late.auth_data, late.body) == errc::future_timestamp);
    *now = vector_time;

    // Fail closed when full; entries expire with the window.
    for (int i = 0; i < 3; ++i) {
        Message x = request_msg("echo", "fill " + std::to_string(i));
        plugin.make(x.auth_data, x.body);
        CHECK_FALSE(plugin.check(x.auth_data, x.body));
    }
    Message overflow = request_msg("echo", "overflow");
    plugin.make(overflow.auth_data, overflow.body);
    CHECK(plugin.check(overflow.auth_data, overflow.body) == errc::replay_cache_full);
    *now = vector_time + 30;
    Message later = request_msg("echo", "later");
    plugin.make(later.auth_data, later.body);
    *now = vector_time + 61;  // the first four entries (ts = vector_time) have expired
    CHECK_FALSE(plugin.check(later.auth_data, later.body));

    // Two layers sharing nonce and ts (different witness fields) share one cache and both pass.
    auto shared = std::make_shared<replay_cache>(16);
    tapescript_auth_options inner_o = o, outer_o = o;
    inner_o.seed = seed;
    outer_o.seed = seed;
    inner_o.witness_field = "iw";
    inner_o.shared_replay_cache = shared;
    outer_o.shared_replay_cache = shared;
    const TapescriptAuthPlugin inner(inner_o), outer(outer_o);
    Message layered = request_msg("echo", "layered");
    inner.make(layered.auth_data, layered.body);
    outer.make(layered.auth_data, layered.body);
    CHECK_FALSE(outer.check(layered.auth_data, layered.body));
    CHECK_FALSE(inner.check(layered.auth_data, layered.body));
    CHECK(outer.check(layered.auth_data, layered.body) == errc::replayed);
    CHECK(shared->size() == 2);
}

// ------------------------------------------------------------------ TCP loopback

TEST_CASE("TapescriptAuthPlugin over TCP, outer layer: taproot key path and admin script path accepted; stranger, tampered and unsigned frames refused and counted",
          "[tapescript][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const identities id;
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.stop_timeout = 100ms;
        so.auth_plugin = id.server_plugin();
        TCPServer server(io.get_executor(), so);
        int calls = 0;
        server.on({MessageType::REQUEST_URI, "echo"}, [&calls](const Message& m) {
            ++calls;
            return echo_reply(m);
        });
        server.start();

        tcp_client_options co;
        co.port = server.local_port();
        co.auth_plugin = id.owner_plugin();
        TCPClient owner(io.get_executor(), co);
        co_await owner.connect();
        Message r1 = co_await owner.request("echo", "from the owner");
        CHECK(text_of(r1.body.content) == "from the owner");
        CHECK(has_bytes(r1.auth_data, "witness", 66));  // the server's single signature

        co.auth_plugin = id.admin_plugin();
        TCPClient admin(io.get_executor(), co);
        co_await admin.connect();
        Message r2 = co_await admin.request("echo", "from the admin");
        CHECK(text_of(r2.body.content) == "from the admin");
        CHECK(calls == 2);
        CHECK(server.stats().total_rejected() == 0);

        // A stranger's request fails the server's check; the plaintext AUTH_ERROR
        // reply has no witness and fails the stranger's own check: a timeout.
        co.auth_plugin = id.stranger_plugin();
        TCPClient stranger(io.get_executor(), co);
        co_await stranger.connect();
        request_outcome refused = co_await try_request(stranger, "echo", "let me in", with_timeout(200ms));
        CHECK(refused.error == errc::timed_out);
        CHECK(server.stats().count(errc::auth_failed) == 1);
        CHECK(stranger.stats().count(errc::missing_auth_field) == 1);

        // A frame signed by the owner, then tampered with (checksum recomputed): the
        // server answers the AUTH_ERROR frame of the vectors and never calls the handler.
        const TapescriptAuthPlugin owner_plugin = id.owner_plugin();
        Message signed_msg = request_msg("echo", "original");
        owner_plugin.make(signed_msg.auth_data, signed_msg.body);
        const bytes tampered = frame_builder(signed_msg).body_bytes(Body(to_bytes("echo"), to_bytes("tampered")).encode()).build();
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        const std::error_code wec = co_await s.write(tampered);
        CHECK_FALSE(wec);
        std::optional<bytes> reply = co_await s.read_frame_bytes();
        REQUIRE(reply);
        CHECK(to_hex(*reply) == netaio_test::cases_of_kind(vectors(), "error_message").at(0).at("output").at("encoded_hex").get<std::string>());
        CHECK(server.stats().count(errc::auth_failed) == 2);

        // Unsigned: missing_auth_field. The untouched original still passes, once.
        const bytes unsigned_frame = frame_builder(request_msg("echo", "unsigned")).build();
        const std::error_code wec2 = co_await s.write(unsigned_frame);
        CHECK_FALSE(wec2);
        std::optional<bytes> reply2 = co_await s.read_frame_bytes();
        REQUIRE(reply2);
        CHECK(server.stats().count(errc::missing_auth_field) == 1);
        const bytes original = signed_msg.encode();
        const std::error_code wec3 = co_await s.write(original);
        CHECK_FALSE(wec3);
        std::optional<Message> echoed = co_await s.read_message();
        REQUIRE(echoed);
        CHECK(text_of(echoed->body.content) == "original");
        const std::error_code wec4 = co_await s.write(original);  // the same frame again
        CHECK_FALSE(wec4);
        co_await eventually([&server] { return server.stats().count(errc::replayed) == 1; });
        CHECK(calls == 3);
        co_await server.stop();
    });
}

TEST_CASE("TapescriptAuthPlugin over TCP, inner per-handler layer under outer HMAC + Sha256 cipher", "[tapescript][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const identities id;
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.stop_timeout = 100ms;
        so.auth_plugin = outer_hmac();
        so.cipher_plugin = outer_cipher();
        TCPServer server(io.get_executor(), so);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        int calls = 0;
        handler_plugins inner_server;
        {
            tapescript_auth_options o;
            o.seed = id.server_seed;
            o.lock = ts::make_single_sig_lock(id.owner);
            o.witness_field = "iw";
            inner_server.auth = TapescriptAuthPlugin(o);
        }
        server.on({MessageType::REQUEST_URI, "secure"},
                  [&calls](const Message& m) {
                      ++calls;
                      return make_respond_uri_msg("ok:" + text_of(m.body.content), m.body.uri);
                  },
                  inner_server);
        server.start();

        tcp_client_options co;
        co.port = server.local_port();
        co.auth_plugin = outer_hmac();
        co.cipher_plugin = outer_cipher();
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        tapescript_auth_options ci;
        ci.seed = id.owner_seed;
        ci.lock = ts::make_single_sig_lock(id.server);
        ci.witness_field = "iw";
        const TapescriptAuthPlugin inner_client(ci);
        handler_plugins layer;
        layer.auth = inner_client;
        request_options ro;
        ro.plugins(layer);
        for (int i = 0; i < 3; ++i) {
            Message r = co_await client.request("secure", "payload", ro);
            CHECK(text_of(r.body.content) == "ok:payload");
            CHECK(has_bytes(r.auth_data, "iw", 66));
            CHECK(has_bytes(r.auth_data, "hmac", 32));
            CHECK(has_bytes(r.auth_data, "iv", 16));
            CHECK(has_bytes(r.auth_data, "nonce", 16));  // shared by both layers (reuse rule)
        }
        CHECK(calls == 3);
        CHECK(server.stats().total_rejected() == 0);

        // Without the inner layer: refused (missing witness), handler not called.
        request_outcome plain = co_await try_request(client, "secure", "payload", with_timeout(150ms));
        CHECK(plain.error == errc::timed_out);
        CHECK(server.stats().count(errc::missing_auth_field) == 1);

        // Inner witness made, then the body changed before the outer layer: the
        // outer HMAC and cipher are fine, the inner signature is not.
        Message forged = request_msg("secure", "signed content");
        inner_client.make(forged.auth_data, forged.body);
        forged.body.content = to_bytes("other content");
        const auto c = outer_cipher();
        const auto h = outer_hmac();
        c.encrypt(forged);
        h.make(forged.auth_data, forged.body);
        raw_socket s(io.get_executor());
        co_await s.connect(server.local_port());
        const bytes frame = forged.encode();
        const std::error_code wec = co_await s.write(frame);
        CHECK_FALSE(wec);
        co_await eventually([&server] { return server.stats().count(errc::auth_failed) == 1; });
        CHECK(calls == 3);
        co_await server.stop();
    });
}

// ------------------------------------------------------------------ UDP loopback

TEST_CASE("TapescriptAuthPlugin over UDP: outer taproot layer, inner layer under HMAC + cipher, tampered datagrams counted",
          "[tapescript][udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const identities id;
        UDPNode server(io.get_executor(), udp_loopback(id.server_plugin()));
        int calls = 0;
        server.on({MessageType::REQUEST_URI, "echo"}, [&calls](const Message& m) {
            ++calls;
            return echo_reply(m);
        });
        server.start();
        UDPNode owner(io.get_executor(), udp_loopback(id.owner_plugin()));
        owner.start();
        UDPNode admin(io.get_executor(), udp_loopback(id.admin_plugin()));
        admin.start();
        const peer_address to("127.0.0.1", server.local_port());
        Message r1 = co_await owner.request("echo", to, "key path");
        CHECK(text_of(r1.body.content) == "key path");
        Message r2 = co_await admin.request("echo", to, "script path");
        CHECK(text_of(r2.body.content) == "script path");
        CHECK(calls == 2);

        // Tampered and unsigned datagrams: counted, never handled, never answered by default.
        const TapescriptAuthPlugin owner_plugin = id.owner_plugin();
        Message signed_msg = request_msg("echo", "original");
        owner_plugin.make(signed_msg.auth_data, signed_msg.body);
        udp_injector attacker(io);
        attacker.send(frame_builder(signed_msg).body_bytes(Body(to_bytes("echo"), to_bytes("tampered")).encode()).build(),
                      server.local_port());
        attacker.send(request_msg("echo", "unsigned").encode(), server.local_port());
        co_await eventually([&server] {
            return server.stats().count(errc::auth_failed) == 1 && server.stats().count(errc::missing_auth_field) == 1;
        });
        CHECK(calls == 2);

        // The inner layer under the outer HMAC + cipher.
        udp_node_options hardened = udp_loopback(outer_hmac(), outer_cipher());
        UDPNode hub(io.get_executor(), hardened);
        handler_plugins inner_hub;
        {
            tapescript_auth_options o;
            o.seed = id.server_seed;
            o.lock = ts::make_single_sig_lock(id.owner);
            o.witness_field = "iw";
            inner_hub.auth = TapescriptAuthPlugin(o);
        }
        int secure_calls = 0;
        hub.on({MessageType::REQUEST_URI, "secure"},
               [&secure_calls](const Message& m) {
                   ++secure_calls;
                   return echo_reply(m);
               },
               inner_hub);
        hub.start();
        UDPNode member(io.get_executor(), udp_loopback(outer_hmac(), outer_cipher()));
        member.start();
        tapescript_auth_options mi;
        mi.seed = id.owner_seed;
        mi.lock = ts::make_single_sig_lock(id.server);
        mi.witness_field = "iw";
        const TapescriptAuthPlugin inner_member(mi);
        handler_plugins layer;
        layer.auth = inner_member;
        request_options ro;
        ro.plugins(layer);
        const peer_address hub_addr("127.0.0.1", hub.local_port());
        Message r3 = co_await member.request("secure", hub_addr, "inner", ro);
        CHECK(text_of(r3.body.content) == "inner");
        CHECK(has_bytes(r3.auth_data, "iw", 66));
        CHECK(secure_calls == 1);

        request_outcome plain = co_await try_udp_request(member, "secure", hub_addr, "no inner layer", with_timeout(150ms));
        CHECK(plain.error == errc::timed_out);
        CHECK(hub.stats().count(errc::missing_auth_field) == 1);

        Message forged = request_msg("secure", "signed content");
        inner_member.make(forged.auth_data, forged.body);
        forged.body.content = to_bytes("other content");
        const auto c = outer_cipher();
        const auto h = outer_hmac();
        c.encrypt(forged);
        h.make(forged.auth_data, forged.body);
        attacker.send(forged.encode(), hub.local_port());
        co_await eventually([&hub] { return hub.stats().count(errc::auth_failed) == 1; });
        CHECK(secure_calls == 1);

        server.stop();
        owner.stop();
        admin.stop();
        hub.stop();
        member.stop();
    });
}

TEST_CASE("TapescriptAuthPlugin over UDP with use_peer_lock: discovered peers authenticate with the lock they advertise",
          "[tapescript][udp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const bytes seed_a = seed_n(0x11), seed_b = seed_n(0x22);
        // Nobody holds this key: the fallback lock for senders the node does not know.
        const bytes nobody = ts::make_single_sig_lock(ts::verify_key_from_seed(seed_n(0x33)));
        auto node_options = [](const std::string& name, const bytes& seed, std::uint16_t discovery_port) {
            udp_node_options o = udp_loopback();
            Peer self;
            self.id = to_bytes(name);
            self.data = packify::pack(packify::dict{{"lock", ts::make_single_sig_lock(ts::verify_key_from_seed(seed))}});
            o.local_peer = self;
            o.multicast_port = discovery_port;
            return o;
        };
        auto inner_layer = [&nobody](const bytes& seed) {
            tapescript_auth_options o;
            o.seed = seed;
            o.lock = nobody;
            o.use_peer_lock = true;
            handler_plugins p;
            p.auth = TapescriptAuthPlugin(o);
            return p;
        };
        UDPNode a(io.get_executor(), node_options("node-a", seed_a, 0));
        a.start();
        UDPNode b(io.get_executor(), node_options("node-b", seed_b, a.discovery_port()));
        int calls = 0;
        b.on({MessageType::REQUEST_URI, "secure"},
             [&calls](const Message& m) {
                 ++calls;
                 return echo_reply(m);
             },
             inner_layer(seed_b));
        b.start();
        peer_management_options pm;
        pm.advertise_every = 100ms;
        a.manage_peers_automatically(pm);
        b.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 1 && b.peers().size() == 1; });

        request_options ro;
        ro.plugins(inner_layer(seed_a));
        const peer_address b_addr("127.0.0.1", b.local_port());
        Message r = co_await a.request("secure", b_addr, "known peer", ro);
        CHECK(text_of(r.body.content) == "known peer");
        CHECK(calls == 1);

        // The same kind of message from an address b does not know: the fallback lock refuses it.
        Message m = request_msg("secure", "unknown sender");
        const handler_plugins layer = inner_layer(seed_a);
        layer.auth.make(m.auth_data, m.body, plugin_context{});
        udp_injector stranger(io);
        stranger.send(m.encode(), b.local_port());
        co_await eventually([&b] { return b.stats().count(errc::auth_failed) == 1; });
        CHECK(calls == 1);
        a.stop();
        b.stop();
    });
}
