// bench/netaio_plugin_bench.cpp - per-message cost of every auth and cipher plugin
// (issue 5: "per-message cost of each plugin at 32 B, 1 KiB and 16 KiB").
//
//     netaio_plugin_bench                      0.3 s per cell and side, 5 runs, medians
//     netaio_plugin_bench --quick              smoke run (tiny cells, 1 run)
//     netaio_plugin_bench --seconds 1 --repeat 7 --size 1024 --plugin ed25519 --plugin hmac
//
// No sockets: this is the CPU cost of the plugin pipeline on one thread, one
// plugin as the node's outer layer (detail/pipeline.hpp), message type
// REQUEST_URI, uri "echo".
//
//   send     copy a prepared message and stamp a fresh sequence number into its
//            content (every message is new), detail::seal() (cipher encrypt, then
//            auth make, through the any_*_plugin handles the node holds), then
//            Message::encode_into() a recycled frame buffer - what a node does per
//            outgoing message (node_core seal_into / encode_counted).
//   receive  decode_frame() a frame, detail::open_layer() (auth check, then cipher
//            decrypt) and a check of the result: uri "echo", content length and the
//            sequence stamps at both ends of the content. A receive that fails or
//            yields other content is a FAILURE (counted, exit status 1), so no
//            figure can come from an error path.
//
// Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall time: on a
// shared machine, time spent preempted by other processes is not the plugin's.
// (Cache and frequency effects of other load remain; compare the spread column.)
//
// The baseline row ("none") runs the same loops with an empty layer: copy + stamp
// + encode, decode + verify. Each plugin row is also shown as the difference to
// that baseline (the plugin's own cost) and as a ratio.
//
// Receive frames come from a pool made beforehand by the sending plugin (untimed):
// up to 256 frames and 256 KiB, fewer when making them is slow (hashcash). The
// timed loop goes through the pool again and again. Replay caches stay ON at
// their defaults; between two passes over the pool (untimed) the receiving
// plugin's replay cache is cleared, so every receive is a first receive and the
// cache holds at most one pool's entries. Nothing is switched off. (Tapescript's
// defaults, as Python's, have no freshness window or replay cache.)
//
// Deterministic: fixed keys and seeds, nonces/IVs from a seeded ChaCha20 stream
// (about the cost of libsodium's randombytes_buf), and a fixed clock on both
// sides, so two runs make the same messages (and hashcash the same proof of work).
//
// Hashcash: make() is the proof of work (about 2^bits BLAKE2b evaluations) and is
// the send column; check() (one hash) is the receive column. They are reported
// separately below the table too, with the mean number of attempts per message.
#include "bench_support.hpp"

#include <netaio/detail/pipeline.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/ed25519_auth_plugin.hpp>
#include <netaio/hashcash_auth_plugin.hpp>
#include <netaio/handler.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/message.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tapescript.hpp>
#include <netaio/tapescript_auth_plugin.hpp>
#include <netaio/version.hpp>
#include <netaio/x25519_cipher_plugin.hpp>
#include <netaio/xchacha20_poly1305_cipher_plugin.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using netaio::bytes;
using netaio::bytes_view;
using clock_type = std::chrono::steady_clock;

// ==================================================================== failures

std::uint64_t g_failures = 0;
std::uint64_t g_verified = 0;  // receives checked (timed loops, pool checks, send-side checks)

void record_failure(const std::string& where, const std::string& what) {
    ++g_failures;
    if (g_failures <= 10) std::fprintf(stderr, "netaio_plugin_bench: FAILURE (%s): %s\n", where.c_str(), what.c_str());
    if (g_failures == 10) std::fprintf(stderr, "netaio_plugin_bench: further failures are only counted\n");
}


// ============================================================ deterministic inputs

constexpr std::int64_t fixed_now = 1'750'000'000;  // both sides' clock (June 2025)

/// A fixed 32-byte key or seed: `tag` followed by a counting pattern.
bytes fixed_key(std::uint8_t tag) {
    bytes k(32);
    for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(tag + 17 * i);
    return k;
}

/// Reproducible randomness: ChaCha20 (IETF) under a fixed key, one fresh 96-bit
/// nonce (a counter) per request. Single-threaded use only.
netaio::random_source seeded_random(std::uint8_t tag) {
    struct state {
        std::array<std::uint8_t, crypto_stream_chacha20_ietf_KEYBYTES> key{};
        std::uint64_t counter = 0;
        void fill(std::span<std::uint8_t> out) {
            if (out.empty()) return;
            std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
            std::memcpy(nonce.data(), &counter, sizeof counter);
            ++counter;
            crypto_stream_chacha20_ietf(out.data(), out.size(), nonce.data(), key.data());
        }
    };
    netaio::detail::ensure_sodium();
    auto st = std::make_shared<state>();
    const bytes k = fixed_key(static_cast<std::uint8_t>(tag ^ 0xA5));
    std::copy(k.begin(), k.end(), st->key.begin());
    netaio::random_source r;
    r.fill = [st](std::span<std::uint8_t> out) { st->fill(out); };
    // Unbiased integer in [low, high] by rejection (as randombytes_uniform).
    r.uniform = [st](std::uint32_t low, std::uint32_t high) {
        const std::uint64_t span = std::uint64_t{high} - low + 1;
        const std::uint64_t limit = (std::uint64_t{1} << 32) - ((std::uint64_t{1} << 32) % span);
        for (;;) {
            std::uint32_t v = 0;
            st->fill(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(&v), sizeof v));
            if (v < limit) return static_cast<std::uint32_t>(low + v % span);
        }
    };
    return r;
}

netaio::clock_source fixed_clock() { return netaio::clock_source::fixed(fixed_now); }

/// Content pattern of `size` bytes (the stamps overwrite its first and last 8 bytes).
bytes make_content(std::size_t size) {
    bytes c(size);
    for (std::size_t i = 0; i < size; ++i) c[i] = static_cast<std::uint8_t>((i * 31 + 7) & 0xFF);
    return c;
}

/// Stamp `seq` into the first 8 bytes and ~seq into the last 8 (size >= 16).
void stamp(bytes& content, std::uint64_t seq) {
    if (content.size() < 16) throw std::logic_error("content below 16 bytes cannot carry the stamps");
    const std::uint64_t inv = ~seq;
    std::memcpy(content.data(), &seq, 8);
    std::memcpy(content.data() + content.size() - 8, &inv, 8);
}

/// Whether a received body is the one sent with sequence number `seq`.
bool stamped_body_ok(const netaio::Body& body, std::size_t size, std::uint64_t seq) {
    static constexpr std::uint8_t echo[4] = {'e', 'c', 'h', 'o'};
    if (body.uri.size() != 4 || std::memcmp(body.uri.data(), echo, 4) != 0) return false;
    if (body.content.size() != size) return false;
    const std::uint64_t inv = ~seq;
    return std::memcmp(body.content.data(), &seq, 8) == 0 && std::memcmp(body.content.data() + size - 8, &inv, 8) == 0;
}

// ==================================================================== the plugins

netaio::x25519_cipher_options x25519_options(const bytes& seed, std::uint8_t random_tag) {
    netaio::x25519_cipher_options o;
    o.seed = seed;
    o.random = seeded_random(random_tag);
    o.clock = fixed_clock();
    return o;
}

/// Two nodes: "alice" sends, "bob" receives. Their peer records carry the X25519
/// public keys (peer data "pubkey"), as the nodes would learn them from adverts.
struct nodes {
    bytes alice_seed = fixed_key(0x10);
    bytes bob_seed = fixed_key(0x20);
    netaio::DefaultPeerPlugin peer_plugin;
    netaio::Peer alice;  // the sender, as bob knows it
    netaio::Peer bob;    // the receiver, as alice knows it
    netaio::plugin_context send_ctx{&bob, &peer_plugin};   // alice sending to bob
    netaio::plugin_context recv_ctx{&alice, &peer_plugin};  // bob receiving from alice

    nodes() {
        alice = netaio::X25519CipherPlugin(x25519_options(alice_seed, 0)).local_peer("alice");
        bob = netaio::X25519CipherPlugin(x25519_options(bob_seed, 0)).local_peer("bob");
    }
    nodes(const nodes&) = delete;  // the contexts point into this object
    nodes& operator=(const nodes&) = delete;
};

/// One row of the table: a sending and a receiving layer and how to reset the
/// receiver's replay caches between passes over the receive pool.
struct plugin_setup {
    std::string name;  // row label
    std::string key;   // --plugin name
    netaio::handler_plugins sender;
    netaio::handler_plugins receiver;
    std::vector<std::shared_ptr<netaio::replay_cache>> receiver_caches;
    unsigned hashcash_bits = 0;  // > 0: a hashcash row (attempts are counted)
    std::string stamp_field;     // hashcash: the counter's auth field

    void clear_receiver_caches() const {
        for (const auto& c : receiver_caches)
            if (c) c->clear();
    }
};

using setup_ptr = std::unique_ptr<plugin_setup>;

setup_ptr baseline_setup() {
    auto s = std::make_unique<plugin_setup>();
    s->name = "none (encode/decode only)";
    s->key = "none";
    return s;
}

netaio::hmac_auth_options hmac_options(std::uint8_t random_tag) {
    netaio::hmac_auth_options o;
    o.secret = fixed_key(0x31);
    o.random = seeded_random(random_tag);
    o.clock = fixed_clock();
    return o;
}

netaio::sha256_stream_cipher_options sha256_options(std::uint8_t random_tag) {
    netaio::sha256_stream_cipher_options o;
    o.key = fixed_key(0x32);
    o.random = seeded_random(random_tag);
    return o;
}

setup_ptr hmac_setup() {
    auto s = std::make_unique<plugin_setup>();
    s->name = "HMACAuthPlugin";
    s->key = "hmac";
    s->sender.auth = netaio::HMACAuthPlugin(hmac_options(1));
    auto rx = std::make_shared<netaio::HMACAuthPlugin>(hmac_options(2));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.auth = rx;
    return s;
}

setup_ptr sha256_setup() {
    auto s = std::make_unique<plugin_setup>();
    s->name = "Sha256StreamCipherPlugin";
    s->key = "sha256";
    s->sender.cipher = netaio::Sha256StreamCipherPlugin(sha256_options(3));
    s->receiver.cipher = netaio::Sha256StreamCipherPlugin(sha256_options(4));
    return s;
}

setup_ptr hmac_sha256_setup() {
    auto s = std::make_unique<plugin_setup>();
    s->name = "HMAC + Sha256Stream (one layer)";
    s->key = "hmac+sha256";
    s->sender.auth = netaio::HMACAuthPlugin(hmac_options(5));
    s->sender.cipher = netaio::Sha256StreamCipherPlugin(sha256_options(6));
    auto rx = std::make_shared<netaio::HMACAuthPlugin>(hmac_options(7));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.auth = rx;
    s->receiver.cipher = netaio::Sha256StreamCipherPlugin(sha256_options(8));
    return s;
}

setup_ptr x25519_setup(const nodes& n) {
    auto s = std::make_unique<plugin_setup>();
    s->name = "X25519CipherPlugin";
    s->key = "x25519";
    s->sender.cipher = netaio::X25519CipherPlugin(x25519_options(n.alice_seed, 9));
    auto rx = std::make_shared<netaio::X25519CipherPlugin>(x25519_options(n.bob_seed, 10));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.cipher = rx;
    return s;
}

netaio::tapescript_auth_options tapescript_options(const bytes& seed, bytes lock, std::uint8_t random_tag) {
    netaio::tapescript_auth_options o;
    o.seed = seed;
    o.lock = std::move(lock);
    o.random = seeded_random(random_tag);
    o.clock = fixed_clock();
    return o;
}

/// Single-sig: alice signs, bob's lock is "alice's key, OP_CHECK_SIG".
setup_ptr tapescript_single_setup(const nodes& n) {
    namespace ts = netaio::tapescript;
    auto s = std::make_unique<plugin_setup>();
    s->name = "Tapescript single-sig";
    s->key = "tapescript";
    const bytes alice_lock = ts::make_single_sig_lock(ts::verify_key_from_seed(n.alice_seed));
    const bytes bob_lock = ts::make_single_sig_lock(ts::verify_key_from_seed(n.bob_seed));
    s->sender.auth = netaio::TapescriptAuthPlugin(tapescript_options(n.alice_seed, bob_lock, 11));
    auto rx = std::make_shared<netaio::TapescriptAuthPlugin>(tapescript_options(n.bob_seed, alice_lock, 12));
    s->receiver_caches.push_back(rx->replay());  // nullptr with the defaults
    s->receiver.auth = rx;
    return s;
}

/// Taproot key path: bob's lock is alice's key tweaked with a committed admin
/// single-sig script; alice spends it with the key-path witness.
setup_ptr tapescript_taproot_setup(const nodes& n) {
    namespace ts = netaio::tapescript;
    auto s = std::make_unique<plugin_setup>();
    s->name = "Tapescript taproot key path";
    s->key = "tapescript-taproot";
    const bytes admin_script = ts::make_single_sig_lock(ts::verify_key_from_seed(fixed_key(0x40)));
    const bytes taproot_lock = ts::make_taproot_lock(ts::verify_key_from_seed(n.alice_seed), admin_script);
    const bytes bob_lock = ts::make_single_sig_lock(ts::verify_key_from_seed(n.bob_seed));
    netaio::tapescript_auth_options tx = tapescript_options(n.alice_seed, bob_lock, 13);
    tx.witness_func = ts::taproot_keyspend_witness(admin_script);
    s->sender.auth = netaio::TapescriptAuthPlugin(std::move(tx));
    auto rx = std::make_shared<netaio::TapescriptAuthPlugin>(tapescript_options(n.bob_seed, taproot_lock, 14));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.auth = rx;
    return s;
}

/// Ed25519: each side signs with its own seed; bob accepts alice's key.
setup_ptr ed25519_setup(const nodes& n) {
    auto s = std::make_unique<plugin_setup>();
    s->name = "Ed25519AuthPlugin";
    s->key = "ed25519";
    netaio::ed25519_auth_options tx;
    tx.seed = n.alice_seed;
    tx.allowed_keys = {netaio::ed25519_verify_key(n.bob_seed)};
    tx.random = seeded_random(15);
    tx.clock = fixed_clock();
    netaio::ed25519_auth_options rxo;
    rxo.seed = n.bob_seed;
    rxo.allowed_keys = {netaio::ed25519_verify_key(n.alice_seed)};
    rxo.random = seeded_random(16);
    rxo.clock = fixed_clock();
    s->sender.auth = netaio::Ed25519AuthPlugin(std::move(tx));
    auto rx = std::make_shared<netaio::Ed25519AuthPlugin>(std::move(rxo));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.auth = rx;
    return s;
}

/// XChaCha20-Poly1305: alice is the client (c2s), bob the server, one master key.
setup_ptr xchacha_setup() {
    auto s = std::make_unique<plugin_setup>();
    s->name = "XChaCha20Poly1305CipherPlugin";
    s->key = "xchacha20";
    auto options = [](netaio::aead_role role, std::uint8_t random_tag) {
        netaio::xchacha20_poly1305_cipher_options o;
        o.master_key = fixed_key(0x50);
        o.role = role;
        o.random = seeded_random(random_tag);
        o.clock = fixed_clock();
        return o;
    };
    s->sender.cipher = netaio::XChaCha20Poly1305CipherPlugin(options(netaio::aead_role::client, 17));
    auto rx = std::make_shared<netaio::XChaCha20Poly1305CipherPlugin>(options(netaio::aead_role::server, 18));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.cipher = rx;
    return s;
}

/// Hashcash at `bits` (0: the default difficulty).
setup_ptr hashcash_setup(unsigned bits) {
    const bool is_default = bits == 0;
    if (is_default) bits = netaio::hashcash_auth_options{}.difficulty_bits;
    auto options = [bits](std::uint8_t random_tag) {
        netaio::hashcash_auth_options o;
        o.difficulty_bits = bits;
        o.random = seeded_random(random_tag);
        o.clock = fixed_clock();
        return o;
    };
    auto s = std::make_unique<plugin_setup>();
    s->name = "HashcashAuthPlugin " + std::to_string(bits) + " bits" + (is_default ? " (default)" : "");
    s->key = "hashcash" + std::to_string(bits);
    s->hashcash_bits = bits;
    s->stamp_field = netaio::hashcash_auth_options{}.stamp_field;
    s->sender.auth = netaio::HashcashAuthPlugin(options(static_cast<std::uint8_t>(19 + bits)));
    auto rx = std::make_shared<netaio::HashcashAuthPlugin>(options(static_cast<std::uint8_t>(60 + bits)));
    s->receiver_caches.push_back(rx->replay());
    s->receiver.auth = rx;
    return s;
}

// ==================================================================== measuring

struct params {
    double seconds = 0.3;       // timed duration of one run of one side of one cell
    double warmup = 0.03;       // untimed warm-up before each send run
    double pool_budget = 0.5;   // wall time allowed for making one receive pool
    std::size_t pool_bytes = 256 * 1024;
    std::size_t pool_max = 256;
    std::size_t pool_min = 2;
    bool verbose = false;
};

/// A cell: one plugin setup at one content size, with its receive pool.
struct cell {
    const plugin_setup* setup = nullptr;
    std::size_t size = 0;
    netaio::Message prepared;           // the message every send copies
    std::vector<bytes> pool;            // receive frames
    std::vector<std::uint64_t> pool_seq;
    std::uint64_t next_seq = 1;         // sequence numbers of this cell's messages
    // results, one entry per run
    std::vector<double> send_us, recv_us;
    std::vector<std::uint64_t> send_msgs, recv_msgs;
    std::uint64_t hashcash_attempts = 0, hashcash_messages = 0;  // over all timed send runs
    double hashcash_seconds = 0;
};

const netaio::frame_limits g_limits{};
const netaio::message_type_set g_types{};

/// Seal and frame one fresh message with sequence number `seq` into `frame`
/// (cleared first), as a node does per outgoing message. Hashcash rows add the
/// attempts make() needed to `*attempts`. Throws netaio::error when a plugin or
/// the encoder fails.
void send_one(const cell& c, const nodes& n, std::uint64_t seq, bytes& frame, std::uint64_t* attempts = nullptr) {
    netaio::Message m = c.prepared;  // the node seals a copy (node_core seal_into)
    stamp(m.body.content, seq);
    netaio::detail::seal(m, nullptr, &c.setup->sender, n.send_ctx);
    frame.clear();
    std::error_code ec;
    m.encode_into(frame, ec);
    if (ec) throw netaio::error(ec, "encode_into failed");
    if (attempts) {
        // The counter make() settled on, + 1 (a few ns against a proof of work).
        const auto counter = m.auth_data.get_bytes(c.setup->stamp_field);
        if (!counter || counter->size() != 8) throw std::runtime_error("hashcash frame without an 8-byte stamp");
        std::uint64_t v = 0;
        for (std::uint8_t b : *counter) v = (v << 8) | b;
        *attempts += v + 1;
    }
}

/// Decode, open and verify one frame (the receive side). False on any failure
/// (recorded). `m` receives the opened message.
bool receive_one(const cell& c, const nodes& n, bytes_view frame, std::uint64_t seq, netaio::Message& m,
                 const char* where) {
    std::error_code ec;
    m = netaio::decode_frame(frame, g_limits, g_types, ec);
    if (ec) {
        record_failure(c.setup->name + ", " + where, "decode_frame: " + ec.message());
        return false;
    }
    const netaio::detail::open_result r = netaio::detail::open_layer(m, c.setup->receiver, n.recv_ctx);
    if (!r) {
        record_failure(c.setup->name + ", " + where, "open: " + r.error.message());
        return false;
    }
    if (!stamped_body_ok(m.body, c.size, seq)) {
        record_failure(c.setup->name + ", " + where, "opened message has the wrong uri or content");
        return false;
    }
    ++g_verified;
    return true;
}

double seconds_between(clock_type::time_point a, clock_type::time_point b) {
    return std::chrono::duration<double>(b - a).count();
}

/// CPU time of the calling thread, in seconds. The timed loops use it rather than
/// the wall clock: on a shared machine the time this thread spends preempted by
/// other processes is then not counted as the plugin's cost.
double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

/// Make the receive pool (untimed): frames from the sending plugin, each with its
/// own sequence number; then check that every one opens to exactly the content
/// sent (full comparison) and reset the receiver's replay cache.
void build_pool(cell& c, const nodes& n, const params& p) {
    const std::size_t frame_estimate = c.size + 256;
    const std::size_t target = std::clamp(p.pool_bytes / frame_estimate, p.pool_min, p.pool_max);
    const auto start = clock_type::now();
    bytes frame;
    try {
        while (c.pool.size() < target &&
               (c.pool.size() < p.pool_min || seconds_between(start, clock_type::now()) < p.pool_budget)) {
            const std::uint64_t seq = c.next_seq++;
            send_one(c, n, seq, frame);
            c.pool.push_back(frame);
            c.pool_seq.push_back(seq);
        }
    } catch (...) {
        record_failure(c.setup->name + ", making the receive pool", bench::describe(std::current_exception()));
        c.pool.clear();
        c.pool_seq.clear();
        return;
    }
    netaio::Message m;
    for (std::size_t i = 0; i < c.pool.size(); ++i) {
        if (!receive_one(c, n, c.pool[i], c.pool_seq[i], m, "checking the receive pool")) continue;
        bytes expected = c.prepared.body.content;
        stamp(expected, c.pool_seq[i]);
        if (m.body.content != expected) {
            --g_verified;
            record_failure(c.setup->name + ", checking the receive pool", "content differs from what was sent");
        }
    }
    c.setup->clear_receiver_caches();
}

/// One send run: warm up, then seal + encode fresh messages for `p.seconds` of
/// thread CPU time (timed in batches that grow to ~1 ms, so the clock is read
/// rarely). The last
/// frame sent is then opened by the receiver and checked.
void send_run(cell& c, const nodes& n, const params& p) {
    bytes frame;
    frame.reserve(c.size + 512);
    std::uint64_t last_seq = 0;
    double timed = 0;
    std::uint64_t count = 0, attempts = 0;
    std::uint64_t* attempts_out = c.setup->hashcash_bits > 0 ? &attempts : nullptr;
    try {
        const auto w0 = clock_type::now();
        do {  // warm-up: at least one message
            last_seq = c.next_seq++;
            send_one(c, n, last_seq, frame);
        } while (seconds_between(w0, clock_type::now()) < p.warmup);

        std::uint64_t batch = 1;
        while (timed < p.seconds) {
            const double t0 = thread_cpu_seconds();
            for (std::uint64_t i = 0; i < batch; ++i) {
                last_seq = c.next_seq++;
                send_one(c, n, last_seq, frame, attempts_out);
            }
            const double dt = thread_cpu_seconds() - t0;
            timed += dt;
            count += batch;
            if (dt < 1e-3) batch *= 2;
        }
    } catch (...) {
        record_failure(c.setup->name + ", send", bench::describe(std::current_exception()));
        return;
    }
    netaio::Message m;
    receive_one(c, n, frame, last_seq, m, "opening the last frame sent");
    c.setup->clear_receiver_caches();
    c.send_us.push_back(timed * 1e6 / static_cast<double>(count));
    c.send_msgs.push_back(count);
    if (attempts_out) {
        c.hashcash_attempts += attempts;
        c.hashcash_messages += count;
        c.hashcash_seconds += timed;
    }
}

/// One receive run: one untimed pass over the pool (warm-up), then timed passes
/// for `p.seconds` of thread CPU time; the receiver's replay cache is cleared before every pass
/// (untimed), so each frame is received for the first time as far as it knows.
void recv_run(cell& c, const nodes& n, const params& p) {
    if (c.pool.empty()) return;  // making the pool failed (recorded)
    netaio::Message m;
    c.setup->clear_receiver_caches();
    for (std::size_t i = 0; i < c.pool.size(); ++i) receive_one(c, n, c.pool[i], c.pool_seq[i], m, "receive warm-up");
    double timed = 0;
    std::uint64_t count = 0;
    const std::uint64_t failures_before = g_failures;
    while (timed < p.seconds && g_failures == failures_before) {
        c.setup->clear_receiver_caches();
        const double t0 = thread_cpu_seconds();
        for (std::size_t i = 0; i < c.pool.size(); ++i) receive_one(c, n, c.pool[i], c.pool_seq[i], m, "receive");
        timed += thread_cpu_seconds() - t0;
        count += c.pool.size();
    }
    c.setup->clear_receiver_caches();
    c.recv_us.push_back(timed * 1e6 / static_cast<double>(count));
    c.recv_msgs.push_back(count);
}

// ==================================================================== main program

struct options {
    params p;
    int repeat = 5;
    bool quick = false;
    std::vector<std::size_t> sizes{32, 1024, 16384};
    std::vector<std::string> plugins;  // empty: all
};

/// Every row, in table order (the baseline first).
std::vector<setup_ptr> all_setups(const nodes& n) {
    std::vector<setup_ptr> v;
    v.push_back(baseline_setup());
    v.push_back(hmac_setup());
    v.push_back(sha256_setup());
    v.push_back(hmac_sha256_setup());
    v.push_back(x25519_setup(n));
    v.push_back(tapescript_single_setup(n));
    v.push_back(tapescript_taproot_setup(n));
    v.push_back(ed25519_setup(n));
    v.push_back(xchacha_setup());
    v.push_back(hashcash_setup(0));
    v.push_back(hashcash_setup(8));
    return v;
}

void usage() {
    std::printf(
        "usage: netaio_plugin_bench [options]\n"
        "  --seconds S      timed duration of one run of one side of one cell (default 0.3)\n"
        "  --repeat N       runs per cell; the median is reported (default 5)\n"
        "  --quick          smoke run: 0.02 s runs, 1 repeat, small receive pools\n"
        "  --size BYTES     content size, 16..60000 (repeatable; default 32, 1024, 16384)\n"
        "  --plugin NAME    only this plugin (repeatable; the baseline always runs):\n"
        "                   hmac sha256 hmac+sha256 x25519 tapescript tapescript-taproot\n"
        "                   ed25519 xchacha20 hashcash16 hashcash8\n"
        "  --verbose        print every run\n");
}

bool parse(int argc, char** argv, options& o) {
    bool size_given = false;
    bool seconds_given = false, repeat_given = false;
    bench::arguments args(argc, argv);
    while (const char* next = args.next()) {
        const std::string a = next;
        if (a == "--seconds") {
            o.p.seconds = args.seconds("--seconds");
            seconds_given = true;
        } else if (a == "--repeat") {
            o.repeat = args.count("--repeat");
            repeat_given = true;
        } else if (a == "--quick") {
            o.quick = true;
        } else if (a == "--size") {
            if (!size_given) o.sizes.clear();
            size_given = true;
            o.sizes.push_back(args.content_size("--size", 16));
        } else if (a == "--plugin") {
            o.plugins.push_back(args.value("--plugin"));
        } else if (a == "--verbose" || a == "-v") {
            o.p.verbose = true;
        } else if (a == "--help" || a == "-h") {
            usage();
            return false;
        } else {
            throw std::invalid_argument("unknown option " + a);
        }
    }
    if (o.quick) {
        if (!seconds_given) o.p.seconds = 0.02;
        if (!repeat_given) o.repeat = 1;
        o.p.pool_budget = 0.1;
        o.p.pool_max = 32;
    }
    o.p.warmup = std::clamp(o.p.seconds * 0.1, 0.002, 0.05);
    return true;
}




/// A microsecond figure with about three significant digits.
std::string us(double v) {
    char b[32];
    const double a = v < 0 ? -v : v;
    std::snprintf(b, sizeof b, a >= 1000 ? "%.0f" : a >= 100 ? "%.1f" : "%.2f", v);
    return b;
}
std::string delta_us(double v) {
    std::string s = us(v);
    return v >= 0 ? "+" + s : s;
}
std::string ratio(double v, double base) {
    if (!(base > 0)) return "-";
    char b[32];
    const double r = v / base;
    std::snprintf(b, sizeof b, r >= 100 ? "%.0fx" : r >= 10 ? "%.1fx" : "%.2fx", r);
    return b;
}

}  // namespace

int main(int argc, char** argv) {
    options o;
    try {
        if (!parse(argc, argv, o)) return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio_plugin_bench: %s\n", e.what());
        usage();
        return 2;
    }

    std::unique_ptr<nodes> n;
    std::vector<setup_ptr> setups;
    try {
        netaio::detail::ensure_sodium();
        n = std::make_unique<nodes>();
        for (setup_ptr& s : all_setups(*n)) {
            const bool wanted = s->key == "none" || o.plugins.empty() ||
                                std::find(o.plugins.begin(), o.plugins.end(), s->key) != o.plugins.end();
            if (wanted) setups.push_back(std::move(s));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio_plugin_bench: setting up the plugins failed: %s\n", e.what());
        return 2;
    }
    for (const std::string& want : o.plugins) {
        if (std::none_of(setups.begin(), setups.end(), [&](const setup_ptr& s) { return s->key == want; })) {
            std::fprintf(stderr, "netaio_plugin_bench: unknown plugin %s\n", want.c_str());
            usage();
            return 2;
        }
    }

    std::printf("netaio_plugin_bench - netaio %s, per-message cost of each auth / cipher plugin\n", NETAIO_VERSION_STRING);
    std::printf("one thread, no sockets; the plugin is the node's outer layer; REQUEST_URI, uri \"echo\"\n");
    std::printf("send = copy + stamp a fresh message, detail::seal (cipher encrypt, auth make), Message::encode_into\n");
    std::printf("recv = decode_frame, detail::open_layer (auth check, cipher decrypt), verify uri + content stamps\n");
    std::printf("runs: %.3f s timed per run and side (after a warm-up), %d run(s) per cell, MEDIAN of the runs;\n"
                "      cells interleaved (every plugin and size once per round). Times are this thread's CPU time\n"
                "      (CLOCK_THREAD_CPUTIME_ID): time spent preempted by other load is not counted.\n",
                o.p.seconds, o.repeat);
    std::printf("replay caches: ON at their defaults; the receiver's is cleared (untimed) between passes over its\n"
                "      receive pool (<= %zu frames, made beforehand by the sender), so no receive is a replay.\n"
                "      Tapescript runs with its defaults (as Python): no freshness window, no replay cache.\n",
                o.p.pool_max);
    std::printf("inputs: fixed keys/seeds, nonces from a seeded ChaCha20 stream, fixed clock: reproducible\n");
#ifdef NDEBUG
    std::printf("build: NDEBUG (optimised)\n");
#else
    std::printf("build: WARNING - assertions on (not a Release build); figures are not representative\n");
#endif
    std::printf("machine: %u hardware thread(s)\n\n", std::thread::hardware_concurrency());
    std::fflush(stdout);

    // Cells, size-major, in table order; pools made up front (untimed).
    std::vector<cell> cells;
    cells.reserve(o.sizes.size() * setups.size());
    for (std::size_t size : o.sizes) {
        for (const setup_ptr& s : setups) {
            cell c;
            c.setup = s.get();
            c.size = size;
            c.prepared = netaio::Message::prepare(netaio::Body::prepare(make_content(size), "echo"),
                                                  netaio::MessageType::REQUEST_URI);
            cells.push_back(std::move(c));
        }
    }
    std::fprintf(stderr, "making receive pools ");
    for (cell& c : cells) {
        build_pool(c, *n, o.p);
        std::fprintf(stderr, ".");
    }
    std::fprintf(stderr, "\nmeasuring ");

    for (int r = 0; r < o.repeat; ++r) {
        for (cell& c : cells) {
            send_run(c, *n, o.p);
            recv_run(c, *n, o.p);
            if (o.p.verbose) {
                std::printf("  run %d  %-8s %-36s send %10s us/msg (%llu msgs)  recv %10s us/msg (%llu msgs)\n", r + 1,
                            bench::size_name(c.size).c_str(), c.setup->name.c_str(),
                            c.send_us.empty() ? "-" : us(c.send_us.back()).c_str(),
                            static_cast<unsigned long long>(c.send_msgs.empty() ? 0 : c.send_msgs.back()),
                            c.recv_us.empty() ? "-" : us(c.recv_us.back()).c_str(),
                            static_cast<unsigned long long>(c.recv_msgs.empty() ? 0 : c.recv_msgs.back()));
                std::fflush(stdout);
            }
        }
        std::fprintf(stderr, ".");
    }
    std::fprintf(stderr, "\n");

    // ---- the table
    std::printf("%-8s %-36s | %9s %9s %8s | %9s %9s %8s | %6s %6s\n", "size", "plugin", "send", "plugin", "vs none",
                "recv", "plugin", "vs none", "spread", "pool");
    std::printf("%-8s %-36s | %9s %9s %8s | %9s %9s %8s | %6s %6s\n", "", "", "us/msg", "us/msg", "", "us/msg", "us/msg", "",
                "", "frames");
    std::printf("%s\n", std::string(124, '-').c_str());
    for (std::size_t si = 0; si < o.sizes.size(); ++si) {
        const cell& base = cells[si * setups.size()];
        const double base_send = bench::median(base.send_us), base_recv = bench::median(base.recv_us);
        for (std::size_t k = 0; k < setups.size(); ++k) {
            const cell& c = cells[si * setups.size() + k];
            const bool is_base = k == 0;
            const double s = bench::median(c.send_us), rcv = bench::median(c.recv_us);
            char spread_s[16];
            std::snprintf(spread_s, sizeof spread_s, "%.0f%%", 100 * std::max(bench::spread(c.send_us), bench::spread(c.recv_us)));
            std::printf("%-8s %-36s | %9s %9s %8s | %9s %9s %8s | %6s %6zu\n", k == 0 ? bench::size_name(c.size).c_str() : "",
                        c.setup->name.c_str(), c.send_us.empty() ? "-" : us(s).c_str(),
                        is_base || c.send_us.empty() ? "-" : delta_us(s - base_send).c_str(),
                        c.send_us.empty() ? "-" : ratio(s, base_send).c_str(), c.recv_us.empty() ? "-" : us(rcv).c_str(),
                        is_base || c.recv_us.empty() ? "-" : delta_us(rcv - base_recv).c_str(),
                        c.recv_us.empty() ? "-" : ratio(rcv, base_recv).c_str(), spread_s, c.pool.size());
        }
        if (si + 1 < o.sizes.size()) std::printf("\n");
    }
    std::printf(
        "send / recv = median microseconds per message, whole path (see above). plugin = minus the baseline\n"
        "(\"none\") of the same size and run set: the plugin's own cost. vs none = ratio to the baseline.\n"
        "spread = (max - min) / median of the runs, the larger of send and recv.\n\n");

    // ---- hashcash: the proof of work (make) apart from the check
    bool any_hashcash = false;
    for (const cell& c : cells) any_hashcash = any_hashcash || c.setup->hashcash_bits > 0;
    if (any_hashcash) {
        std::printf("HashcashAuthPlugin: make() is the sender's proof of work, check() the receiver's one hash\n");
        std::printf("%5s %-8s | %8s %12s %12s %10s %10s | %12s\n", "bits", "size", "msgs", "make us/msg", "attempts/msg",
                    "(2^bits)", "us/attempt", "check us/msg");
        std::printf("%s\n", std::string(91, '-').c_str());
        for (std::size_t si = 0; si < o.sizes.size(); ++si) {
            const cell& base = cells[si * setups.size()];
            for (std::size_t k = 1; k < setups.size(); ++k) {
                const cell& c = cells[si * setups.size() + k];
                if (c.setup->hashcash_bits == 0 || c.hashcash_messages == 0 || c.hashcash_attempts == 0 || c.recv_us.empty())
                    continue;
                const double messages = static_cast<double>(c.hashcash_messages);
                const double attempts = static_cast<double>(c.hashcash_attempts);
                const double make_total_us = c.hashcash_seconds * 1e6 - bench::median(base.send_us) * messages;
                const double check = bench::median(c.recv_us) - bench::median(base.recv_us);
                char attempts_s[32], expected_s[32], per_s[32];
                std::snprintf(attempts_s, sizeof attempts_s, "%.0f", attempts / messages);
                std::snprintf(expected_s, sizeof expected_s, "%.0f", static_cast<double>(std::uint64_t{1} << c.setup->hashcash_bits));
                std::snprintf(per_s, sizeof per_s, "%.3f", make_total_us / attempts);
                std::printf("%5u %-8s | %8llu %12s %12s %10s %10s | %12s\n", c.setup->hashcash_bits,
                            bench::size_name(c.size).c_str(), static_cast<unsigned long long>(c.hashcash_messages),
                            us(make_total_us / messages).c_str(), attempts_s, expected_s, per_s, us(check).c_str());
            }
        }
        std::printf(
            "make = MEAN over the msgs timed messages of all runs, baseline subtracted: the number of attempts\n"
            "is geometric (mean 2^bits), so single messages vary widely and the mean is the expected cost.\n"
            "attempts/msg = mean stamp counter + 1; us/attempt = make time / attempts (includes hashing the body\n"
            "once per make). check = median of the runs, baseline subtracted (as in the table).\n\n");
    }

    if (g_failures > 0) {
        std::printf("FAILED: %llu receive(s) or send(s) failed (see stderr); %llu verified\n",
                    static_cast<unsigned long long>(g_failures), static_cast<unsigned long long>(g_verified));
        return 1;
    }
    std::printf("all %llu receives verified (decoded, opened, uri and content stamps as sent); no failures\n",
                static_cast<unsigned long long>(g_verified));
    return 0;
}
