// netaio/hashcash_auth_plugin.hpp - hashcash proof of work (modern, opt-in).
//
// Not part of Python netaio 0.0.9; a Python peer simply fails the check. It
// authenticates nobody: it makes each accepted message cost its sender about
// 2^difficulty_bits hash evaluations while costing the receiver one, so a flood
// of fresh messages becomes expensive. Use it as the OUTER auth layer, so that
// its one-hash check runs before anything expensive (signatures, decryption,
// handlers) and junk is dropped first; stack a real auth layer (HMAC, Ed25519,
// AEAD) inside it for authenticity.
//
// Auth fields (names configurable): nonce (16 random bytes), ts (4, u32be Unix
// seconds), stamp (8, u64be counter). The work is
//
//   w = BLAKE2b-256("netaio-hashcash-v1" || nonce || ts || u16be(len(uri)) || uri || content || stamp)
//
// (crypto_generichash) and a message carries enough work when w starts with at
// least difficulty_bits zero bits. The body is the body as framed at this layer.
// The counter comes last so that make() hashes the body once and then only the
// 8 counter bytes per attempt (the BLAKE2b state is copied after the body).
//
// make() tries counters 0, 1, 2, ... and gives up after max_attempts (default
// 64 * 2^difficulty_bits: failing that often has probability about e^-64),
// throwing errc::insufficient_work; it never loops unboundedly. Expected cost:
// 2^difficulty_bits attempts (16 bits: about 65,000, tens of milliseconds).
//
// check() verifies field lengths and the freshness window, computes w once
// (errc::insufficient_work when too few zero bits) and records w in the replay
// cache, so a stamped message is accepted once.
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/detail/modern_plugin_support.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Settings of HashcashAuthPlugin (defaults from RELIABILITY.md §5).
struct hashcash_auth_options {
    /// Leading zero bits required of the work hash (0-40). Each extra bit doubles
    /// the sender's cost; the receiver's stays one hash.
    unsigned difficulty_bits = 16;
    /// make() gives up (errc::insufficient_work) after this many counters; 0 means
    /// 64 * 2^difficulty_bits.
    std::uint64_t max_attempts = 0;

    std::string nonce_field = "nonce";  ///< auth field carrying the 16-byte nonce
    std::string ts_field = "ts";        ///< auth field carrying the 4-byte timestamp
    std::string stamp_field = "stamp";  ///< auth field carrying the 8-byte counter

    /// Accept only ts within [now - window, now + window]; nullopt disables the check.
    std::optional<std::chrono::seconds> freshness_window = std::chrono::seconds{60};
    /// Replay-cache capacity in messages; 0 disables replay detection (needs the window).
    std::size_t replay_cache_capacity = replay_cache::default_capacity;
    /// Use this cache instead of a private one.
    std::shared_ptr<replay_cache> shared_replay_cache;

    random_source random;  ///< nonces
    clock_source clock;    ///< ts for make(), "now" for the window

    /// Read the settings from JSON: "difficulty_bits", "max_attempts",
    /// "replay_cache_capacity" (count); "nonce_field", "ts_field", "stamp_field"
    /// (text); "freshness_window" (seconds or null).
    /// Throws netaio::error(errc::bad_plugin_config).
    static hashcash_auth_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "HashcashAuthPlugin");
        hashcash_auth_options o;
        const std::uint64_t bits = detail::config_count(config, "difficulty_bits", o.difficulty_bits);
        if (bits > max_difficulty_bits) detail::bad_config("\"difficulty_bits\" must be at most 40");
        o.difficulty_bits = static_cast<unsigned>(bits);
        o.max_attempts = detail::config_count(config, "max_attempts", o.max_attempts);
        o.nonce_field = detail::config_string(config, "nonce_field", o.nonce_field);
        o.ts_field = detail::config_string(config, "ts_field", o.ts_field);
        o.stamp_field = detail::config_string(config, "stamp_field", o.stamp_field);
        detail::config_window(config, o.freshness_window);
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        return o;
    }

    /// Largest accepted difficulty_bits (2^40 attempts is already days of work).
    static constexpr unsigned max_difficulty_bits = 40;
};

/// Hashcash proof-of-work plugin (satisfies AuthPlugin).
///
/// Copies share the replay cache. Thread-safe for concurrent make()/check() as
/// long as the random and clock sources are.
class HashcashAuthPlugin {
public:
    static constexpr std::size_t nonce_size = 16;  ///< nonce field length
    static constexpr std::size_t ts_size = 4;      ///< ts field length
    static constexpr std::size_t stamp_size = 8;   ///< stamp (counter) field length
    static constexpr std::size_t work_size = 32;   ///< BLAKE2b output length
    /// Domain-separation label at the start of the hashed input.
    static constexpr std::string_view label = "netaio-hashcash-v1";

    using work_digest = std::array<std::uint8_t, work_size>;

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit HashcashAuthPlugin(hashcash_auth_options options) : options_(validated(std::move(options))) {
        detail::ensure_sodium();
        if (options_.max_attempts == 0) options_.max_attempts = std::uint64_t{64} << options_.difficulty_bits;
        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }

    /// Configure from JSON (see hashcash_auth_options::from_json).
    explicit HashcashAuthPlugin(const nlohmann::json& config) : HashcashAuthPlugin(hashcash_auth_options::from_json(config)) {}

    /// Find a stamp for `body` and add nonce, ts and stamp. An existing 16-byte
    /// nonce and 4-byte ts are reused (layers sharing the names agree). Costs
    /// about 2^difficulty_bits hashes. Throws netaio::error: errc::insufficient_work
    /// when max_attempts counters all fail, errc::field_too_large for a uri over
    /// 65535 bytes, errc::bad_auth_field_length for a clock outside u32.
    void make(AuthFields& fields, const Body& body, const plugin_context& = {}) const {
        if (body.uri.size() > 0xFFFF) throw netaio::error(errc::field_too_large, "HashcashAuthPlugin: uri over 65535 bytes");
        const bytes nonce = detail::nonce_for_make(fields, options_.nonce_field, nonce_size, options_.random);
        const auto ts = detail::ts_for_make(fields, options_.ts_field, options_.clock, "HashcashAuthPlugin");
        const crypto_generichash_state prefix = absorb_prefix(nonce, bytes_view(ts), body);
        std::uint8_t stamp[stamp_size];
        for (std::uint64_t counter = 0; counter < options_.max_attempts; ++counter) {
            put_u64be(stamp, counter);
            if (leading_zero_bits(finish(prefix, bytes_view(stamp, stamp_size))) >= options_.difficulty_bits) {
                fields.set(options_.nonce_field, nonce);
                fields.set(options_.ts_field, bytes_view(ts));
                fields.set(options_.stamp_field, bytes_view(stamp, stamp_size));
                return;
            }
        }
        throw netaio::error(errc::insufficient_work, "HashcashAuthPlugin: no stamp found within max_attempts");
    }

    /// Check the stamp. Empty error_code when the work suffices, else, in the order
    /// checked: missing_auth_field, bad_auth_field_length (16/4/8),
    /// stale_timestamp / future_timestamp, insufficient_work, replayed /
    /// replay_cache_full. Costs one hash of the body.
    std::error_code check(const AuthFields& fields, const Body& body, const plugin_context& = {}) const {
        const auto nonce = fields.get_bytes(options_.nonce_field);
        const auto ts = fields.get_bytes(options_.ts_field);
        const auto stamp = fields.get_bytes(options_.stamp_field);
        if (!nonce || !ts || !stamp) return make_error_code(errc::missing_auth_field);
        if (nonce->size() != nonce_size || ts->size() != ts_size || stamp->size() != stamp_size)
            return make_error_code(errc::bad_auth_field_length);

        std::int64_t now = 0;
        if (options_.freshness_window) {
            now = options_.clock.now();
            if (std::error_code ec = detail::check_freshness(*ts, now, *options_.freshness_window)) return ec;
        }

        if (body.uri.size() > 0xFFFF) return make_error_code(errc::insufficient_work);
        const work_digest w = finish(absorb_prefix(*nonce, *ts, body), *stamp);
        if (leading_zero_bits(w) < options_.difficulty_bits) return make_error_code(errc::insufficient_work);

        // Replay: keyed by the work hash, which names nonce, ts, body and stamp.
        if (!replay_) return {};
        bytes replay_key(w.begin(), w.end());
        detail::append(replay_key, as_bytes_view(options_.stamp_field));
        const std::int64_t ts_seconds = detail::get_u32be(ts->data());
        return replay_->insert(replay_key, ts_seconds + options_.freshness_window->count(), now);
    }

    /// The AUTH_ERROR reply: uri "ERROR", content "Hashcash auth failed".
    Message error() const { return make_error_msg("Hashcash auth failed"); }

    /// The work does not depend on the peer.
    bool is_peer_specific() const noexcept { return false; }

    /// The settings in use (max_attempts resolved).
    const hashcash_auth_options& options() const noexcept { return options_; }
    /// The replay cache in use, or nullptr when replay detection is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

    /// The work hash w for the given fields and body (see the header comment).
    static work_digest work(bytes_view nonce, bytes_view ts, const Body& body, bytes_view stamp) {
        detail::ensure_sodium();
        return finish(absorb_prefix(nonce, ts, body), stamp);
    }

    /// Number of leading zero bits of `digest` (0-256).
    static unsigned leading_zero_bits(const work_digest& digest) noexcept {
        unsigned bits = 0;
        for (std::uint8_t byte : digest) {
            if (byte == 0) {
                bits += 8;
                continue;
            }
            for (std::uint8_t mask = 0x80; (byte & mask) == 0; mask = static_cast<std::uint8_t>(mask >> 1)) ++bits;
            break;
        }
        return bits;
    }

private:
    static hashcash_auth_options validated(hashcash_auth_options o) {
        if (o.difficulty_bits > hashcash_auth_options::max_difficulty_bits)
            detail::bad_config("HashcashAuthPlugin: difficulty_bits must be at most 40");
        if (o.nonce_field.empty() || o.ts_field.empty() || o.stamp_field.empty())
            detail::bad_config("HashcashAuthPlugin: auth field names must not be empty");
        if (o.nonce_field == o.ts_field || o.nonce_field == o.stamp_field || o.ts_field == o.stamp_field)
            detail::bad_config("HashcashAuthPlugin: nonce, ts and stamp fields must differ");
        detail::validate_window(o.freshness_window, o.shared_replay_cache || o.replay_cache_capacity > 0,
                                "HashcashAuthPlugin");
        return o;
    }

    static void put_u64be(std::uint8_t* p, std::uint64_t v) noexcept {
        for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
    }

    static void update(crypto_generichash_state& s, bytes_view part) noexcept {
        if (!part.empty()) crypto_generichash_update(&s, part.data(), part.size());
    }

    // BLAKE2b state after label || nonce || ts || u16be(len uri) || uri || content.
    // Callers ensure the uri length fits 16 bits.
    static crypto_generichash_state absorb_prefix(bytes_view nonce, bytes_view ts, const Body& body) noexcept {
        crypto_generichash_state s;
        crypto_generichash_init(&s, nullptr, 0, work_size);
        std::uint8_t uri_length[2];
        detail::put_u16be(uri_length, static_cast<std::uint16_t>(body.uri.size()));
        update(s, as_bytes_view(label));
        update(s, nonce);
        update(s, ts);
        update(s, bytes_view(uri_length, 2));
        update(s, body.uri);
        update(s, body.content);
        return s;
    }

    // w from a copy of the prefix state (BLAKE2b states are plain data).
    static work_digest finish(const crypto_generichash_state& prefix, bytes_view stamp) noexcept {
        crypto_generichash_state s = prefix;
        update(s, stamp);
        work_digest w{};
        crypto_generichash_final(&s, w.data(), w.size());
        return w;
    }

    hashcash_auth_options options_;
    std::shared_ptr<replay_cache> replay_;
};

static_assert(AuthPlugin<HashcashAuthPlugin>);

NETAIO_END_NAMESPACE
