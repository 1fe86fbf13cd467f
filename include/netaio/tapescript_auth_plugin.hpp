// netaio/tapescript_auth_plugin.hpp - netaio's TapescriptAuthPlugin (PROTOCOL.md
// §8.2), on the fail-closed tapescript subset of <netaio/tapescript.hpp>.
//
// Wire behaviour is byte-exact with Python netaio 0.0.9 + tapescript 0.7.2:
//   sigfields = (body bytes, nonce, ts as 4 bytes big-endian)
//   make:  nonce = the existing nonce field (any length) or 16 random bytes;
//          ts = the existing ts (int or big-endian bytes) or now, re-encoded to 4 bytes;
//          witness = witness_func(seed, sigfields)
//   check: ts of 0 is refused; run witness then lock on one stack; accept iff the
//          run has no error and leaves exactly [ff].
// The lock is the configured one, or with use_peer_lock the "lock" entry of the
// remote peer's data when the node knows the peer.
//
// Beyond Python, both off by default so the plugin accepts exactly what Python
// accepts: a freshness window on ts and a bounded replay cache keyed by what the
// witness signs (field name, ts, nonce, body) rather than by the witness bytes,
// which a relay could re-encode. with_replay_protection() turns them on. The
// interpreter is bounded either way (tapescript::limits).
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/tapescript.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Makes the witness for one message from the plugin's 32-byte seed and the
/// sigfields (Python's witness_func). Returns the witness bytecode; may throw.
using tapescript_witness_function = std::function<bytes(bytes_view seed, const tapescript::sigfields& fields)>;

namespace tapescript {

/// The default witness: a single signature by the seed (make_single_sig_witness).
inline tapescript_witness_function single_sig_witness(std::uint8_t sigflag = 0) {
    return [sigflag](bytes_view seed, const sigfields& fields) { return make_single_sig_witness(seed, fields, sigflag); };
}

/// Taproot key path for a lock made with make_taproot_lock(V, committed_script),
/// the seed being V's (netaio's README witness_func).
inline tapescript_witness_function taproot_keyspend_witness(bytes committed_script, std::uint8_t sigflag = 0) {
    return [script = std::move(committed_script), sigflag](bytes_view seed, const sigfields& fields) {
        return make_taproot_witness_keyspend(seed, fields, script, sigflag);
    };
}

/// Taproot script path for a committed single-sig script: a signature by the
/// seed (the committed script's key, e.g. an admin's), then push(S), push(V).
inline tapescript_witness_function taproot_scriptspend_witness(verify_key internal_key, bytes committed_script,
                                                               std::uint8_t sigflag = 0) {
    return [internal_key, script = std::move(committed_script), sigflag](bytes_view seed, const sigfields& fields) {
        bytes witness = make_single_sig_witness(seed, fields, sigflag);
        detail::append(witness, make_taproot_witness_scriptspend(internal_key, script));
        return witness;
    };
}

}  // namespace tapescript

/// Settings of TapescriptAuthPlugin. The first seven mirror Python's config dict;
/// the rest are the C++ additions.
struct tapescript_auth_options {
    /// The 32-byte Ed25519 seed that signs (Python "seed"; required).
    bytes seed;
    /// The locking script incoming witnesses must satisfy (Python "lock"; required).
    bytes lock;
    std::string nonce_field = "nonce";      ///< auth field of the nonce
    std::string ts_field = "ts";            ///< auth field of the 4-byte timestamp
    std::string witness_field = "witness";  ///< auth field of the witness script
    /// Check against the "lock" in the remote peer's data when the node knows the
    /// peer and its data has one; the configured lock otherwise.
    bool use_peer_lock = false;
    /// Makes witnesses; empty means tapescript::single_sig_witness().
    tapescript_witness_function witness_func;

    /// Bounds on each check's script run.
    tapescript::limits limits;
    /// Accept only ts within [now - window, now + window]; nullopt (the default,
    /// as Python) disables the check.
    std::optional<std::chrono::seconds> freshness_window;
    /// Replay-cache capacity in messages; 0 (the default, as Python) disables it.
    /// Needs the freshness window, which expires the entries.
    std::size_t replay_cache_capacity = 0;
    /// Use this cache instead of a private one (shared between plugins or nodes).
    std::shared_ptr<replay_cache> shared_replay_cache;

    random_source random;  ///< nonces
    clock_source clock;    ///< ts for make(), "now" for the freshness window

    /// Turn on the freshness window and the replay cache (as HMACAuthPlugin's defaults).
    tapescript_auth_options& with_replay_protection(std::chrono::seconds window = std::chrono::seconds{60},
                                                    std::size_t capacity = replay_cache::default_capacity) & {
        freshness_window = window;
        replay_cache_capacity = capacity;
        return *this;
    }
    tapescript_auth_options&& with_replay_protection(std::chrono::seconds window = std::chrono::seconds{60},
                                                     std::size_t capacity = replay_cache::default_capacity) && {
        return std::move(with_replay_protection(window, capacity));
    }

    /// Read Python's config keys: "seed" and "lock" (required; bytes as an array of
    /// 0-255, json::binary or text, or hex through "seed_hex" / "lock_hex"),
    /// "nonce_field", "ts_field", "witness_field", "use_peer_lock"; "contracts" and
    /// "plugins" only when empty (the subset has no contracts or plugins). C++
    /// keys: "freshness_window" (seconds or null), "replay_cache_capacity".
    /// witness_func cannot come from JSON: set it on the result. Throws
    /// netaio::error(errc::bad_plugin_config).
    static tapescript_auth_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "TapescriptAuthPlugin");
        tapescript_auth_options o;
        o.seed = required_bytes(config, "seed");
        o.lock = required_bytes(config, "lock");
        o.nonce_field = detail::config_string(config, "nonce_field", o.nonce_field);
        o.ts_field = detail::config_string(config, "ts_field", o.ts_field);
        o.witness_field = detail::config_string(config, "witness_field", o.witness_field);
        o.use_peer_lock = detail::config_bool(config, "use_peer_lock", o.use_peer_lock);
        for (const char* key : {"contracts", "plugins"}) {
            auto it = config.find(key);
            if (it != config.end() && !(it->is_object() && it->empty()))
                detail::bad_config(std::string("TapescriptAuthPlugin: \"") + key +
                                   "\" is not supported by the tapescript subset (only {} is accepted)");
        }
        if (config.contains("witness_func"))
            detail::bad_config("TapescriptAuthPlugin: \"witness_func\" cannot come from JSON; set witness_func in C++");
        detail::config_window(config, o.freshness_window);
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        return o;
    }

private:
    static bytes required_bytes(const nlohmann::json& config, const std::string& key) {
        const std::string hex_key = key + "_hex";
        const bool plain = config.contains(key);
        const bool hexed = config.contains(hex_key);
        if (plain == hexed)
            detail::bad_config("TapescriptAuthPlugin: exactly one of \"" + key + "\" and \"" + hex_key + "\" is required");
        if (plain) return *detail::config_bytes(config, key.c_str());
        const auto& value = config.at(hex_key);
        if (!value.is_string()) detail::bad_config("TapescriptAuthPlugin: \"" + hex_key + "\" must be hex text");
        try {
            return from_hex(value.get<std::string>());
        } catch (const std::invalid_argument&) {
            detail::bad_config("TapescriptAuthPlugin: \"" + hex_key + "\" is not valid hex");
        }
    }
};

/// netaio's tapescript authentication plugin (satisfies AuthPlugin).
///
/// Copies share the replay cache. Thread-safe for concurrent make()/check() as
/// long as the random and clock sources and the witness function are.
class TapescriptAuthPlugin {
public:
    /// Nonce length make() draws when the message has none.
    static constexpr std::size_t nonce_size = 16;
    /// Timestamp length make() writes and the signature covers.
    static constexpr std::size_t ts_size = 4;

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit TapescriptAuthPlugin(tapescript_auth_options options)
        : options_(validated(std::move(options))), keys_(std::make_shared<const signing_keys>(options_.seed)) {
        sodium_memzero(options_.seed.data(), options_.seed.size());
        options_.seed.clear();
        default_witness_ = !options_.witness_func;
        if (default_witness_) options_.witness_func = tapescript::single_sig_witness();
        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }

    /// Configure from a Python-style dict (see tapescript_auth_options::from_json).
    explicit TapescriptAuthPlugin(const nlohmann::json& config)
        : TapescriptAuthPlugin(tapescript_auth_options::from_json(config)) {}

    /// Add nonce, ts and witness fields for `body` (PROTOCOL.md §8.2 make).
    ///
    /// Reuses an existing nonce of any length and an existing ts (int, or bytes
    /// read as a big-endian unsigned integer). Throws netaio::error:
    /// bad_auth_field_length when ts does not fit 4 bytes (Python: OverflowError),
    /// missing_auth_field when nonce or ts has another type, field_too_large for
    /// a uri over 65535 bytes; whatever the witness function throws.
    void make(AuthFields& fields, const Body& body, const plugin_context& = {}) const {
        if (body.uri.size() > 0xFFFF)
            throw netaio::error(errc::field_too_large, "TapescriptAuthPlugin: uri over 65535 bytes");
        bytes nonce;
        if (const packify::value* existing = fields.get(options_.nonce_field)) {
            const bytes* b = existing->get_if<bytes>();
            if (!b) throw netaio::error(errc::missing_auth_field, "TapescriptAuthPlugin: nonce must be bytes");
            nonce = *b;
        } else {
            nonce = options_.random.random_bytes(nonce_size);
        }
        std::uint8_t ts4[ts_size];
        detail::put_u32be(ts4, timestamp_for_make(fields));

        const bytes body_bytes = body.encode();
        const auto sf = tapescript::sigfields::for_message(body_bytes, nonce, bytes_view(ts4, ts_size));
        const bytes witness = default_witness_ ? single_sig_witness(sf) : options_.witness_func(keys_->seed_view(), sf);

        fields.set(options_.nonce_field, nonce);
        fields.set(options_.ts_field, bytes_view(ts4, ts_size));
        fields.set(options_.witness_field, witness);
    }

    /// Verify the fields make() wrote. Empty error_code when the witness satisfies
    /// the lock, else: missing_auth_field (nonce, ts or witness absent, empty or
    /// of another type; ts of 0), bad_auth_field_length (ts over 4 bytes' range,
    /// witness over limits.max_script_size), stale_timestamp / future_timestamp
    /// (window), the peer-data error with use_peer_lock (missing_peer_data,
    /// packify_*), auth_failed (script error or result other than [ff]),
    /// replayed / replay_cache_full (cache). Never throws for bad input.
    std::error_code check(const AuthFields& fields, const Body& body, const plugin_context& ctx = {}) const {
        // 1. Presence, types and sizes: nothing expensive yet.
        std::uint32_t ts = 0;
        if (std::error_code ec = received_timestamp(fields, ts)) return ec;
        const auto nonce = fields.get_bytes(options_.nonce_field);
        const auto witness = fields.get_bytes(options_.witness_field);
        if (!nonce || nonce->empty() || !witness || witness->empty()) return make_error_code(errc::missing_auth_field);
        if (witness->size() > options_.limits.max_script_size) return make_error_code(errc::bad_auth_field_length);
        if (body.uri.size() > 0xFFFF) return make_error_code(errc::auth_failed);

        // 2. Freshness, before any signature is verified.
        std::int64_t now = 0;
        if (options_.freshness_window) {
            now = options_.clock.now();
            const std::int64_t window = options_.freshness_window->count();
            if (std::int64_t{ts} < now - window) return make_error_code(errc::stale_timestamp);
            if (std::int64_t{ts} > now + window) return make_error_code(errc::future_timestamp);
        }

        // 3. The lock: the configured one, or the peer's.
        bytes_view lock = options_.lock;
        packify::value peer_data;
        if (options_.use_peer_lock && ctx.peer && ctx.peer_plugin) {
            std::error_code ec;
            peer_data = ctx.peer_plugin->parse_data(*ctx.peer, ec);
            if (ec) return ec;
            if (const packify::dict* d = peer_data.get_if<packify::dict>()) {
                if (const packify::value* peer_lock = d->find(packify::value(std::string("lock")))) {
                    const bytes* b = peer_lock->get_if<bytes>();
                    if (!b) return make_error_code(errc::auth_failed);
                    lock = *b;
                }
            }
        }

        // 4. Witness, then lock, on one stack.
        std::uint8_t ts4[ts_size];
        detail::put_u32be(ts4, ts);
        const bytes body_bytes = body.encode();
        const auto sf = tapescript::sigfields::for_message(body_bytes, *nonce, bytes_view(ts4, ts_size));
        if (!tapescript::run_auth_scripts({*witness, lock}, sf, options_.limits).ok())
            return make_error_code(errc::auth_failed);

        // 5. Replay: only authenticated messages reach the cache. The key names
        //    what the witness signs, not the witness bytes (a relay could re-push
        //    the same signature differently), plus the witness field so an inner
        //    and an outer layer sharing nonce and ts stay distinct.
        if (!replay_) return {};
        return replay_->insert(replay_key(sf), std::int64_t{ts} + options_.freshness_window->count(), now);
    }

    /// The AUTH_ERROR reply: uri "ERROR", content "tapescript auth failed".
    Message error() const { return make_error_msg("tapescript auth failed"); }

    /// Locks may depend on the peer (use_peer_lock), so broadcasts prepare per peer.
    bool is_peer_specific() const noexcept { return true; }

    /// The verify key of the plugin's seed.
    tapescript::verify_key verify_key() const { return keys_->verify_key; }
    /// The configured lock.
    const bytes& lock() const noexcept { return options_.lock; }
    /// The settings in use (the seed itself is held apart and wiped on destruction).
    const tapescript_auth_options& options() const noexcept { return options_; }
    /// The replay cache in use, or nullptr when replay detection is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

private:
    // The seed expanded once (crypto_sign_seed_keypair) rather than on every
    // make(): libsodium's 64-byte secret key is seed || verify key, so it serves
    // both the default witness and witness functions that want the seed. Shared
    // by copies (immutable, so concurrent make() calls need no lock) and wiped
    // when the last copy goes.
    struct signing_keys {
        std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> secret_key{};
        tapescript::verify_key verify_key{};

        explicit signing_keys(bytes_view seed) {
            detail::ensure_sodium();
            crypto_sign_seed_keypair(verify_key.data(), secret_key.data(), seed.data());
        }
        signing_keys(const signing_keys&) = delete;
        signing_keys& operator=(const signing_keys&) = delete;
        ~signing_keys() { sodium_memzero(secret_key.data(), secret_key.size()); }

        bytes_view seed_view() const noexcept { return bytes_view(secret_key.data(), crypto_sign_SEEDBYTES); }
    };
    static_assert(crypto_sign_SECRETKEYBYTES == crypto_sign_SEEDBYTES + crypto_sign_PUBLICKEYBYTES);

    // The default witness from the cached key: the same bytes as
    // tapescript::make_single_sig_witness(seed, sf) (Ed25519 signing is
    // deterministic), without re-deriving the key from the seed per message.
    bytes single_sig_witness(const tapescript::sigfields& sf) const {
        const bytes message = sf.message(0);
        detail::ed25519::signature sig;
        crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), keys_->secret_key.data());
        bytes witness;
        tapescript::append_push(witness, detail::tapescript_build::signature_bytes(sig, 0));
        return witness;
    }

    static tapescript_auth_options validated(tapescript_auth_options o) {
        if (o.seed.size() != 32) detail::bad_config("TapescriptAuthPlugin: \"seed\" must be 32 bytes");
        if (o.lock.empty()) detail::bad_config("TapescriptAuthPlugin: \"lock\" must not be empty");
        if (o.lock.size() > o.limits.max_script_size)
            detail::bad_config("TapescriptAuthPlugin: \"lock\" is longer than limits.max_script_size");
        if (o.nonce_field.empty() || o.ts_field.empty() || o.witness_field.empty())
            detail::bad_config("TapescriptAuthPlugin: auth field names must not be empty");
        if (o.nonce_field == o.ts_field || o.nonce_field == o.witness_field || o.ts_field == o.witness_field)
            detail::bad_config("TapescriptAuthPlugin: nonce, ts and witness fields must differ");
        detail::validate_window(o.freshness_window, o.shared_replay_cache || o.replay_cache_capacity > 0,
                                "TapescriptAuthPlugin");
        return o;
    }

    // The ts make() signs: the existing field (int or big-endian bytes) or the clock.
    std::uint32_t timestamp_for_make(const AuthFields& fields) const {
        const packify::value* existing = fields.get(options_.ts_field);
        if (!existing) {
            const std::int64_t now = options_.clock.now();
            if (now < 0 || now > 0xFFFFFFFF)
                throw netaio::error(errc::bad_auth_field_length, "TapescriptAuthPlugin: clock outside the u32 ts range");
            return static_cast<std::uint32_t>(now);
        }
        std::uint32_t ts = 0;
        if (std::error_code ec = timestamp_value(*existing, ts))
            throw netaio::error(ec, ec == errc::bad_auth_field_length ? "TapescriptAuthPlugin: ts does not fit in 4 bytes"
                                                                      : "TapescriptAuthPlugin: ts must be bytes or an int");
        return ts;
    }

    // A ts value as Python reads it: int, or bytes as a big-endian unsigned integer
    // of any length. bad_auth_field_length at 2^32 or above (or negative),
    // missing_auth_field for another type.
    static std::error_code timestamp_value(const packify::value& v, std::uint32_t& out) noexcept {
        if (const packify::integer* n = v.get_if<packify::integer>()) {
            const auto value = n->to_uint64();
            if (n->is_negative() || !value || *value > 0xFFFFFFFFu) return make_error_code(errc::bad_auth_field_length);
            out = static_cast<std::uint32_t>(*value);
            return {};
        }
        if (const bytes* b = v.get_if<bytes>()) {
            std::uint64_t value = 0;
            for (std::uint8_t byte : *b) {
                if (value > 0xFFFFFF) return make_error_code(errc::bad_auth_field_length);
                value = (value << 8) | byte;
            }
            out = static_cast<std::uint32_t>(value);
            return {};
        }
        return make_error_code(errc::missing_auth_field);
    }

    // The received ts: absent, of another type or 0 is missing (Python: ts == 0
    // returns False, so an all-zero ts is refused here, unlike HMAC).
    std::error_code received_timestamp(const AuthFields& fields, std::uint32_t& ts) const noexcept {
        const packify::value* value = fields.get(options_.ts_field);
        if (!value) return make_error_code(errc::missing_auth_field);
        if (std::error_code ec = timestamp_value(*value, ts)) return ec;
        if (ts == 0) return make_error_code(errc::missing_auth_field);
        return {};
    }

    // sha256(u32be(len(field)) || field || ts4 || u32be(len(nonce)) || nonce || body bytes).
    bytes replay_key(const tapescript::sigfields& sf) const {
        std::uint8_t field_length[4], nonce_length[4];
        detail::put_u32be(field_length, static_cast<std::uint32_t>(options_.witness_field.size()));
        detail::put_u32be(nonce_length, static_cast<std::uint32_t>(sf.field[1]->size()));
        const crypto::digest key = crypto::sha256_hasher{}
                                       .update(field_length)
                                       .update(as_bytes_view(options_.witness_field))
                                       .update(*sf.field[2])
                                       .update(nonce_length)
                                       .update(*sf.field[1])
                                       .update(*sf.field[0])
                                       .finish();
        return bytes(key.begin(), key.end());
    }

    tapescript_auth_options options_;
    std::shared_ptr<const signing_keys> keys_;
    bool default_witness_ = false;  // no witness_func was given: sign with keys_ directly
    std::shared_ptr<replay_cache> replay_;
};

static_assert(AuthPlugin<TapescriptAuthPlugin>);

NETAIO_END_NAMESPACE
