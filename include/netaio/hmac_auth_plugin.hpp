// netaio/hmac_auth_plugin.hpp - netaio's HMACAuthPlugin (PROTOCOL.md §6), hardened.
//
// Wire behaviour is byte-exact with Python netaio 0.0.9:
//   S   = sha256(secret)
//   mac = crypto::hmac(S, nonce, ts4 || u16be(len(uri)) || uri || content)
//   auth fields: nonce (16 random bytes), ts (u32be Unix seconds), hmac (32 bytes)
// and an existing 16-byte nonce and an existing ts are reused, so two auth layers
// sharing the field names sign with the same nonce/ts (§6 "reuse rule").
//
// Receiving goes beyond Python (RELIABILITY.md §2, §3.4), each check switchable:
//   - strict lengths: nonce 16, ts 4, hmac 32 bytes, all bytes-typed, checked
//     before any MAC is computed (closes the ts/body boundary shift);
//   - a freshness window on ts (default ±60 s, injected clock);
//   - a bounded replay cache, filled only after the MAC verified, failing closed.
// hmac_auth_options::python_semantics() turns all of them off, which reproduces
// exactly what Python accepts (the golden vectors use that).
//
// The xmac extension (opt-in, RELIABILITY.md §2 rows 3 and 5). netaio's MAC covers
// nonce, ts and the body but neither the message type nor any other auth field, so
// an on-path attacker can re-type an authenticated UPDATE_URI into a DELETE_URI, or
// swap a stream cipher's iv. With send_xmac, make() also writes the auth field
// `xmac` (32 bytes):
//
//   xmac = crypto_auth_hmacsha256(M, key = S)   standard HMAC-SHA256 (RFC 2104,
//                                               64-byte block), S = sha256(secret)
//   M = "netaio-xmac-v1"                        14 ASCII bytes (domain separation)
//     || type                                   1 byte: plugin_context::message_type
//     || u16be(n) || entry_1 || ... || entry_n  the covered auth fields, sorted by name (bytewise)
//     || u16be(len(uri)) || uri || content      the body as framed at this layer
//
//   entry = u16be(len(name)) || name || kind || u16be(len(value)) || value
//     kind 0x00: value is the field's bytes
//     kind 0x01: value is the packify encoding of a non-bytes field value
//
// Covered = every auth field except xmac itself and the names in
// xmac_unsigned_fields, after make() wrote nonce, ts and hmac: so the nonce, ts and
// hmac, and an iv written by a cipher of this layer or an inner one (the outer
// cipher encrypts before the outer auth makes) are all bound, as are the type and
// the body. Every part is length-prefixed, so M determines them unambiguously (the
// entry encoding is Ed25519AuthPlugin's: detail/covered_fields.hpp). xmac_unsigned_fields exists because auth
// fields accumulate across layers (PROTOCOL §9.1): as an inner layer, list the
// fields the outer layers add after this one ran (e.g. {"hmac", "xmac", "iv"}, with
// the inner layer's own hmac_field and xmac_field renamed).
//
// check() verifies a present xmac (bytes, exactly 32) after the cheap checks and
// after the compatible MAC, and only then fills the replay cache; require_xmac
// makes it mandatory. Compatibility: Python netaio 0.0.9's HMAC check reads only
// its nonce, ts and hmac fields and ignores every other auth field (PROTOCOL.md §6
// check(): "It does NOT check ... the message type, or any other auth field"; the
// golden vector "extra auth fields are ignored" in tests/vectors/hmac_auth.json,
// recorded by running Python, is accepted with an extra field present). So a
// Python peer accepts frames carrying xmac, ignores it (and is not protected by
// it); with require_xmac, frames from a Python peer fail (missing_auth_field).
// Defaults (send_xmac, require_xmac off) leave the bytes exactly netaio's.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/crypto.hpp>
#include <netaio/detail/covered_fields.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/packify.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Settings of HMACAuthPlugin. The first four mirror Python's config dict; the
/// rest are the C++ hardening (defaults from RELIABILITY.md §5).
struct hmac_auth_options {
    /// The shared secret (Python "secret": str is UTF-8 encoded, bytes used as is).
    bytes secret;
    std::string hmac_field = "hmac";    ///< auth field carrying the MAC
    std::string nonce_field = "nonce";  ///< auth field carrying the 16-byte nonce
    std::string ts_field = "ts";        ///< auth field carrying the 4-byte timestamp

    /// Require nonce/ts/hmac to be bytes of exactly 16/4/32 bytes on receipt.
    bool strict_lengths = true;
    /// Accept only ts within [now - window, now + window]; nullopt disables the check.
    std::optional<std::chrono::seconds> freshness_window = std::chrono::seconds{60};
    /// Replay-cache capacity in messages; 0 disables replay detection. Needs the
    /// freshness window (entries are forgotten once their ts leaves the window).
    std::size_t replay_cache_capacity = replay_cache::default_capacity;
    /// Use this cache instead of a private one (e.g. several servers that must not
    /// accept the same frame twice). Capacity then comes from the shared cache.
    std::shared_ptr<replay_cache> shared_replay_cache;
    /// Refuse shorter secrets at construction (errc::bad_plugin_config); 0 accepts any.
    std::size_t min_secret_length = 16;

    /// make() also writes the `xmac_field` auth field, binding the message type and
    /// every other auth field (see the top of this header). Needs
    /// plugin_context::message_type (the node pipeline sets it). A Python peer
    /// ignores the field.
    bool send_xmac = false;
    /// check() refuses a message without an xmac (errc::missing_auth_field), so
    /// re-typed frames and swapped ivs cannot pass. Python peers then fail.
    bool require_xmac = false;
    /// check() verifies an xmac that is present even when not required (a wrong one
    /// fails). python_semantics() turns this off, as Python ignores the field.
    bool verify_xmac = true;
    std::string xmac_field = "xmac";  ///< auth field carrying the 32-byte xmac
    /// Auth fields left out of the xmac: those written by layers outside this one
    /// (as an inner layer, e.g. {"hmac", "xmac", "iv"}). Sender and receiver must
    /// agree. nonce, ts, hmac and xmac fields of this plugin cannot be listed.
    std::vector<std::string> xmac_unsigned_fields;

    random_source random;  ///< nonces
    clock_source clock;    ///< ts for make(), "now" for the freshness window

    /// Switch off every check Python netaio 0.0.9 does not make (lengths, window,
    /// replay, secret length, xmac), so check() accepts exactly what Python accepts.
    hmac_auth_options& python_semantics() & {
        strict_lengths = false;
        freshness_window.reset();
        replay_cache_capacity = 0;
        shared_replay_cache.reset();
        min_secret_length = 0;
        require_xmac = false;
        verify_xmac = false;
        return *this;
    }
    hmac_auth_options&& python_semantics() && { return std::move(python_semantics()); }

    /// Read Python's config keys ("secret" required; "hmac_field", "nonce_field",
    /// "ts_field") plus the C++ ones: "python_semantics" (bool, applied first),
    /// "strict_lengths" (bool), "freshness_window" (seconds, or null to disable),
    /// "replay_cache_capacity" (count, 0 disables), "min_secret_length" (count),
    /// "xmac" (bool: send_xmac), "require_xmac", "verify_xmac" (bool),
    /// "xmac_field" (text), "xmac_unsigned_fields" (array of text).
    /// The secret may be text, an array of byte values or json::binary.
    /// Throws netaio::error(errc::bad_plugin_config).
    static hmac_auth_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "HMACAuthPlugin");
        hmac_auth_options o;
        if (detail::config_bool(config, "python_semantics", false)) o.python_semantics();
        std::optional<bytes> secret = detail::config_bytes(config, "secret");
        if (!secret) detail::bad_config("HMACAuthPlugin: \"secret\" is required");
        o.secret = std::move(*secret);
        o.hmac_field = detail::config_string(config, "hmac_field", o.hmac_field);
        o.nonce_field = detail::config_string(config, "nonce_field", o.nonce_field);
        o.ts_field = detail::config_string(config, "ts_field", o.ts_field);
        o.strict_lengths = detail::config_bool(config, "strict_lengths", o.strict_lengths);
        detail::config_window(config, o.freshness_window);
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        o.min_secret_length =
            static_cast<std::size_t>(detail::config_count(config, "min_secret_length", o.min_secret_length));
        o.send_xmac = detail::config_bool(config, "xmac", o.send_xmac);
        o.require_xmac = detail::config_bool(config, "require_xmac", o.require_xmac);
        o.verify_xmac = detail::config_bool(config, "verify_xmac", o.verify_xmac);
        o.xmac_field = detail::config_string(config, "xmac_field", o.xmac_field);
        if (auto it = config.find("xmac_unsigned_fields"); it != config.end()) {
            if (!it->is_array()) detail::bad_config("HMACAuthPlugin: \"xmac_unsigned_fields\" must be an array of field names");
            for (const auto& name : *it) {
                if (!name.is_string())
                    detail::bad_config("HMACAuthPlugin: \"xmac_unsigned_fields\" must be an array of field names");
                o.xmac_unsigned_fields.push_back(name.get<std::string>());
            }
        }
        return o;
    }
};

/// netaio's HMAC authentication plugin (satisfies AuthPlugin).
///
/// Copies share the replay cache. Thread-safe for concurrent make()/check() as
/// long as the random and clock sources are.
class HMACAuthPlugin {
public:
    /// Nonce length written by make() and required by strict check().
    static constexpr std::size_t nonce_size = 16;
    /// Timestamp length written by make() and required by strict check().
    static constexpr std::size_t ts_size = 4;
    /// Domain-separation label at the start of the xmac input M.
    static constexpr std::string_view xmac_label = "netaio-xmac-v1";

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit HMACAuthPlugin(hmac_auth_options options)
        : options_(validated(std::move(options))), key_(crypto::sha256(options_.secret)), prepared_(key_) {
        // Only S is needed from here on; do not keep the raw secret around.
        sodium_memzero(options_.secret.data(), options_.secret.size());
        options_.secret.clear();

        // The xmac's HMAC state with S and the label absorbed, copied for each message.
        detail::ensure_sodium();
        crypto_auth_hmacsha256_init(&xmac_base_, key_.data(), key_.size());
        crypto_auth_hmacsha256_update(&xmac_base_, reinterpret_cast<const unsigned char*>(xmac_label.data()),
                                      xmac_label.size());

        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }
    HMACAuthPlugin(const HMACAuthPlugin&) = default;
    HMACAuthPlugin(HMACAuthPlugin&&) = default;
    HMACAuthPlugin& operator=(const HMACAuthPlugin&) = default;
    HMACAuthPlugin& operator=(HMACAuthPlugin&&) = default;
    /// S and the keyed xmac state are wiped, not just freed (prepared_ wipes itself).
    ~HMACAuthPlugin() {
        sodium_memzero(key_.data(), key_.size());
        sodium_memzero(&xmac_base_, sizeof xmac_base_);
    }

    /// Configure from a Python-style dict (see hmac_auth_options::from_json).
    explicit HMACAuthPlugin(const nlohmann::json& config) : HMACAuthPlugin(hmac_auth_options::from_json(config)) {}

    /// Add nonce, ts and hmac fields authenticating `body` (PROTOCOL.md §6 make),
    /// and with send_xmac then the xmac field over ctx.message_type, the other auth
    /// fields and `body` (see the top of this header).
    ///
    /// Reuses an existing 16-byte nonce and an existing ts (int, or bytes read as a
    /// big-endian unsigned integer). Throws netaio::error: errc::bad_auth_field_length
    /// when ts does not fit 4 bytes (Python: OverflowError), errc::missing_auth_field
    /// when ts has another type, errc::field_too_large for a uri over 65535 bytes;
    /// with send_xmac, errc::bad_plugin_config when ctx has no message type, and
    /// field_too_large (or a packify error) for auth fields the xmac cannot encode.
    void make(AuthFields& fields, const Body& body, const plugin_context& ctx = {}) const {
        if (body.uri.size() > 0xFFFF) throw netaio::error(errc::field_too_large, "HMACAuthPlugin: uri over 65535 bytes");
        if (options_.send_xmac && !ctx.message_type)
            throw netaio::error(errc::bad_plugin_config, "HMACAuthPlugin: send_xmac needs plugin_context::message_type");
        // Nonce and ts are built on the stack; set() then copies them into the
        // storage the fields already have, so signing allocates nothing once warm.
        std::array<std::uint8_t, nonce_size> nonce;
        if (auto existing = fields.get_bytes(options_.nonce_field); existing && existing->size() == nonce_size)
            std::copy(existing->begin(), existing->end(), nonce.begin());
        else
            options_.random.fill_bytes(nonce);

        std::uint8_t ts4[ts_size];
        detail::put_u32be(ts4, timestamp_for_make(fields));

        const crypto::digest mac = mac_of(nonce, bytes_view(ts4, ts_size), body);
        fields.set(options_.nonce_field, bytes_view(nonce));
        fields.set(options_.ts_field, bytes_view(ts4, ts_size));
        fields.set(options_.hmac_field, bytes_view(mac));

        if (options_.send_xmac) {
            crypto::digest xmac;
            if (std::error_code ec = xmac_of(*ctx.message_type, fields, body, xmac))
                throw netaio::error(ec, "HMACAuthPlugin: the auth fields cannot be covered by the xmac");
            fields.set(options_.xmac_field, bytes_view(xmac));
        }
    }

    /// Verify the fields make() wrote. Empty error_code when authentic, else:
    /// missing_auth_field (absent, wrong type, or a ts of integer 0 as in Python;
    /// an xmac that is required but absent, or not bytes), bad_auth_field_length
    /// (strict lengths; an xmac not of 32 bytes), stale_timestamp / future_timestamp
    /// (window), auth_failed (MAC differs; xmac differs, or no message type in
    /// ctx to check it against), replayed / replay_cache_full (cache).
    std::error_code check(const AuthFields& fields, const Body& body, const plugin_context& ctx = {}) const {
        // 1. Presence and types.
        const packify::value* ts_value = fields.get(options_.ts_field);
        if (!ts_value) return make_error_code(errc::missing_auth_field);
        const auto nonce = fields.get_bytes(options_.nonce_field);
        const auto mac = fields.get_bytes(options_.hmac_field);
        if (!nonce || nonce->empty() || !mac || mac->empty()) return make_error_code(errc::missing_auth_field);
        const bytes* xmac = nullptr;  // set when an xmac is to be verified
        if (options_.verify_xmac) {
            if (const packify::value* x = fields.get(options_.xmac_field)) {
                xmac = x->get_if<bytes>();
                if (!xmac) return make_error_code(errc::missing_auth_field);
            } else if (options_.require_xmac) {
                return make_error_code(errc::missing_auth_field);
            }
        }

        std::uint8_t int_ts[ts_size];
        bytes_view ts;
        if (const bytes* b = ts_value->get_if<bytes>()) {
            ts = *b;
        } else if (const packify::integer* n = ts_value->get_if<packify::integer>(); n && !options_.strict_lengths) {
            // Python accepts an int ts: 0 counts as missing, others are to_bytes(4).
            if (n->is_zero()) return make_error_code(errc::missing_auth_field);
            const auto v = n->to_uint64();
            if (n->is_negative() || !v || *v > 0xFFFFFFFFu) return make_error_code(errc::bad_auth_field_length);
            detail::put_u32be(int_ts, static_cast<std::uint32_t>(*v));
            ts = bytes_view(int_ts, ts_size);
        } else {
            return make_error_code(errc::missing_auth_field);
        }

        // 2. Lengths, before spending anything on the MAC.
        if (options_.strict_lengths &&
            (nonce->size() != nonce_size || ts.size() != ts_size || mac->size() != crypto::mac_size))
            return make_error_code(errc::bad_auth_field_length);
        if (xmac && xmac->size() != crypto::mac_size) return make_error_code(errc::bad_auth_field_length);

        // 3. Freshness (cheap; rejects old captures before the MAC is computed).
        std::int64_t now = 0;
        std::int64_t ts_seconds = 0;
        if (options_.freshness_window) {
            now = options_.clock.now();
            ts_seconds = timestamp_value(ts);
            const std::int64_t window = options_.freshness_window->count();
            if (ts_seconds < now - window) return make_error_code(errc::stale_timestamp);
            if (ts_seconds > now + window) return make_error_code(errc::future_timestamp);
        }

        // 4. The MAC, compared in constant time.
        if (body.uri.size() > 0xFFFF) return make_error_code(errc::auth_failed);
        const crypto::digest expected = mac_of(*nonce, ts, body);
        if (mac->size() != crypto::mac_size || sodium_memcmp(expected.data(), mac->data(), crypto::mac_size) != 0)
            return make_error_code(errc::auth_failed);

        // 4b. The xmac (type, other auth fields, body), only once the cheaper
        //     compatible MAC has verified; also compared in constant time.
        if (xmac) {
            if (!ctx.message_type) return make_error_code(errc::auth_failed);
            crypto::digest expected_xmac;
            if (xmac_of(*ctx.message_type, fields, body, expected_xmac) ||
                sodium_memcmp(expected_xmac.data(), xmac->data(), crypto::mac_size) != 0)
                return make_error_code(errc::auth_failed);
        }

        // 5. Replay: only authenticated messages reach the cache. The key is the
        //    MAC (it names the signed nonce, ts and body) plus the MAC's field name,
        //    not the nonce: the inner and outer layers of one frame share the nonce
        //    on purpose, and must still both pass when they share one cache (even
        //    with the same secret). An entry is kept until its ts leaves the window,
        //    after which the window itself rejects a replay.
        if (!replay_) return {};
        return replay_->insert(replay_key(*mac), ts_seconds + options_.freshness_window->count(), now);
    }

    /// The AUTH_ERROR reply: uri "ERROR", content "HMAC auth failed".
    Message error() const { return make_error_msg("HMAC auth failed"); }

    /// The MAC does not depend on the peer.
    bool is_peer_specific() const noexcept { return false; }

    /// S = sha256(secret), the key handed to crypto::hmac.
    const crypto::digest& plugin_key() const noexcept { return key_; }
    /// The settings in use (the secret itself is not retained).
    const hmac_auth_options& options() const noexcept { return options_; }
    /// The replay cache in use, or nullptr when replay detection is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

    /// The xmac of `type`, `fields` (xmac_field and xmac_unsigned_fields left out)
    /// and `body`, as make() writes it and check() expects it, in `out`. Returns
    /// errc::field_too_large when a length does not fit 16 bits, or the packify
    /// error of a non-bytes field value that cannot be encoded.
    std::error_code xmac_of(std::uint8_t type, const AuthFields& fields, const Body& body, crypto::digest& out) const {
        if (body.uri.size() > 0xFFFF) return make_error_code(errc::field_too_large);
        crypto_auth_hmacsha256_state state = xmac_base_;  // S and the label already absorbed
        auto update = [&state](bytes_view part) { crypto_auth_hmacsha256_update(&state, part.data(), part.size()); };
        auto update_u16 = [&update](std::size_t n) {
            std::uint8_t be[2];
            detail::put_u16be(be, static_cast<std::uint16_t>(n));
            update(bytes_view(be, 2));
        };
        update(bytes_view(&type, 1));
        const std::error_code ec =
            detail::encode_covered_fields(fields, [this](std::string_view name) { return xmac_covers(name); }, update);
        if (!ec) {
            update_u16(body.uri.size());
            update(body.uri);
            update(body.content);
            crypto_auth_hmacsha256_final(&state, out.data());
        }
        sodium_memzero(&state, sizeof state);
        return ec;
    }

private:
    bool xmac_covers(std::string_view name) const noexcept {
        if (name == options_.xmac_field) return false;
        for (const std::string& skip : options_.xmac_unsigned_fields)
            if (name == skip) return false;
        return true;
    }

    static hmac_auth_options validated(hmac_auth_options o) {
        if (o.secret.size() < o.min_secret_length)
            detail::bad_config("HMACAuthPlugin: secret shorter than min_secret_length (" +
                               std::to_string(o.min_secret_length) +
                               " bytes); use a longer secret or set min_secret_length = 0");
        if (o.hmac_field.empty() || o.nonce_field.empty() || o.ts_field.empty())
            detail::bad_config("HMACAuthPlugin: auth field names must not be empty");
        if (o.hmac_field == o.nonce_field || o.hmac_field == o.ts_field || o.nonce_field == o.ts_field)
            detail::bad_config("HMACAuthPlugin: hmac, nonce and ts fields must differ");
        if (o.xmac_field.empty() || o.xmac_field == o.hmac_field || o.xmac_field == o.nonce_field ||
            o.xmac_field == o.ts_field)
            detail::bad_config("HMACAuthPlugin: the xmac field must be named, and differ from the hmac, nonce and ts fields");
        if (o.require_xmac && !o.verify_xmac)
            detail::bad_config("HMACAuthPlugin: require_xmac needs verify_xmac (python_semantics() turns it off)");
        for (const std::string& name : o.xmac_unsigned_fields)
            if (name == o.xmac_field || name == o.hmac_field || name == o.nonce_field || name == o.ts_field)
                detail::bad_config("HMACAuthPlugin: xmac_unsigned_fields cannot list this plugin's own fields (\"" + name + "\")");
        detail::validate_window(o.freshness_window, o.shared_replay_cache || o.replay_cache_capacity > 0,
                                "HMACAuthPlugin");
        return o;
    }

    // mac = hmac(S, nonce, ts || u16be(len(uri)) || uri || content), hashed in parts
    // so the body is never copied. Callers ensure the uri length fits 16 bits.
    crypto::digest mac_of(bytes_view nonce, bytes_view ts, const Body& body) const {
        std::uint8_t uri_length[2];
        detail::put_u16be(uri_length, static_cast<std::uint16_t>(body.uri.size()));
        return crypto::hmac(prepared_, nonce, {ts, bytes_view(uri_length, 2), body.uri, body.content});
    }

    // MAC || hmac field name, in a per-thread buffer that keeps its capacity (the
    // cache hashes the id, so the view need only last for the insert).
    bytes_view replay_key(bytes_view mac) const {
        thread_local bytes key;
        key.assign(mac.begin(), mac.end());
        detail::append(key, as_bytes_view(options_.hmac_field));
        return key;
    }

    // The ts make() signs: the existing field (int or big-endian bytes) or the clock.
    std::uint32_t timestamp_for_make(const AuthFields& fields) const {
        const packify::value* existing = fields.get(options_.ts_field);
        if (!existing) {
            const std::int64_t now = options_.clock.now();
            if (now < 0 || now > 0xFFFFFFFF)
                throw netaio::error(errc::bad_auth_field_length, "HMACAuthPlugin: clock outside the u32 ts range");
            return static_cast<std::uint32_t>(now);
        }
        if (const packify::integer* n = existing->get_if<packify::integer>()) {
            const auto v = n->to_uint64();
            if (n->is_negative() || !v || *v > 0xFFFFFFFFu)
                throw netaio::error(errc::bad_auth_field_length, "HMACAuthPlugin: ts does not fit in 4 bytes");
            return static_cast<std::uint32_t>(*v);
        }
        if (const bytes* b = existing->get_if<bytes>()) {
            std::uint64_t v = 0;
            for (std::uint8_t byte : *b) {
                if (v > 0xFFFFFF) throw netaio::error(errc::bad_auth_field_length, "HMACAuthPlugin: ts does not fit in 4 bytes");
                v = (v << 8) | byte;
            }
            return static_cast<std::uint32_t>(v);
        }
        throw netaio::error(errc::missing_auth_field, "HMACAuthPlugin: ts must be bytes or an int");
    }

    // Received ts bytes as seconds (big-endian unsigned; saturates far in the future).
    static std::int64_t timestamp_value(bytes_view ts) noexcept {
        std::int64_t v = 0;
        for (std::uint8_t byte : ts) {
            if (v > (INT64_MAX >> 8)) return INT64_MAX;
            v = (v << 8) | byte;
        }
        return v;
    }

    hmac_auth_options options_;
    crypto::digest key_;              // S = sha256(secret)
    crypto::prepared_key prepared_;   // S with sha256(S) cached
    crypto_auth_hmacsha256_state xmac_base_{};  // HMAC-SHA256 keyed with S, label absorbed
    std::shared_ptr<replay_cache> replay_;
};

static_assert(AuthPlugin<HMACAuthPlugin>);

NETAIO_END_NAMESPACE
