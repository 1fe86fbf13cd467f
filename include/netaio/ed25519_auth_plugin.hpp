// netaio/ed25519_auth_plugin.hpp - Ed25519 signature authentication (modern, opt-in).
//
// Not part of Python netaio 0.0.9 (RELIABILITY.md §3 "Modern opt-in plugins"): it
// uses ordinary auth fields, so frames stay well formed for a Python peer, which
// simply fails auth. Unlike the compatible HMAC it binds the message type, needs
// no shared secret (each node signs with its own key), and the verifier can only
// verify, never forge.
//
// Auth fields (names configurable): sig (64 bytes), vk (32, the signer's
// verification key), nonce (16 random bytes), ts (4, u32be Unix seconds).
//
// The signature is crypto_sign_detached (pure Ed25519) over
//
//   M = "netaio-ed25519-v1"                  17 ASCII bytes (domain separation)
//     || type                                1 byte: the message type
//     || u16be(n) || entry_1 || ... || entry_n
//     || u16be(len(uri)) || uri || content   the body as framed at this layer
//
//   entry = u16be(len(key)) || key || kind || u16be(len(value)) || value
//     kind 0x00: value is the field's bytes
//     kind 0x01: value is the packify encoding of a non-bytes field value
//
// over the covered auth fields sorted by key (bytewise). Covered = every auth field
// except sig itself and the names in `unsigned_fields`; vk, nonce and ts are always
// covered. Every part is length-prefixed, so M determines the fields and body
// unambiguously.
//
// unsigned_fields exists because auth fields accumulate across layers (PROTOCOL
// §9.1): fields an OUTER layer adds after this one has signed (under the outer
// HMAC + stream cipher: "hmac" and "iv") are present when this layer checks, and
// must be left out on both sides. As the outermost auth layer the default (cover
// everything) is right.
//
// check() does the cheap things first - field presence and lengths, the type,
// the freshness window, reflection (our own key) and whether the key is
// acceptable - and only then verifies the signature; the replay cache and the
// TOFU pin table are written only after the signature verified.
//
// Acceptable keys: `allowed_keys`, and with `trust_peer_data` the key a peer
// advertises in its peer data (a packify dict, key "vk"), pinned to the peer id
// the first time a message from that peer verifies (trust on first use). The peer
// is plugin_context::peer, except for ADVERTISE_PEER, PEER_DISCOVERED and
// DISCONNECT, whose content is the sender's own (id, data) record: such a message
// signed with the key its record advertises introduces the peer, so discovery
// needs no allow-list, and once an id is pinned, adverts and DISCONNECTs for it
// must be signed by the pinned key (spoofed ones fail). A later advert carrying
// another key does not move the pin: the peer must be unpinned. (The record is
// read from the body this layer sees: with a cipher at the same layer it is
// ciphertext, and only known peers verify.)
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/detail/covered_fields.hpp>
#include <netaio/detail/modern_plugin_support.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/packify.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/replay_cache.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Size of an Ed25519 seed (the private key input, crypto_sign_SEEDBYTES).
inline constexpr std::size_t ed25519_seed_size = crypto_sign_SEEDBYTES;
/// Size of an Ed25519 verification key (crypto_sign_PUBLICKEYBYTES).
inline constexpr std::size_t ed25519_key_size = crypto_sign_PUBLICKEYBYTES;
/// Size of an Ed25519 signature (crypto_sign_BYTES).
inline constexpr std::size_t ed25519_signature_size = crypto_sign_BYTES;

/// A fresh random seed for ed25519_auth_options::seed.
inline bytes ed25519_new_seed(const random_source& random = {}) { return random.random_bytes(ed25519_seed_size); }

/// The verification key of `seed` (what other nodes put in allowed_keys or expect
/// under "vk" in this node's peer data). Throws errc::bad_plugin_config unless the
/// seed is 32 bytes.
inline bytes ed25519_verify_key(bytes_view seed) {
    if (seed.size() != ed25519_seed_size) throw netaio::error(errc::bad_plugin_config, "Ed25519: the seed must be 32 bytes");
    detail::ensure_sodium();
    bytes pk(ed25519_key_size);
    detail::wiped_key<crypto_sign_SECRETKEYBYTES> sk;
    crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
    return pk;
}

/// Settings of Ed25519AuthPlugin (defaults from RELIABILITY.md §5).
struct ed25519_auth_options {
    /// This node's 32-byte signing seed. Empty: the plugin only verifies, and
    /// make() throws errc::bad_plugin_config.
    bytes seed;
    /// Verification keys (32 bytes each) accepted from any sender.
    std::vector<bytes> allowed_keys;
    /// Also accept the key a known peer (plugin_context::peer) advertises in its
    /// peer data under `peer_data_key`, pinned to its id on first verified use.
    bool trust_peer_data = false;
    std::string peer_data_key = "vk";  ///< key of the verification key in peer data
    /// Capacity of the TOFU pin table; a new peer beyond it is refused
    /// (errc::peer_table_full, fail closed).
    std::size_t max_pins = 1024;
    /// Refuse messages signed with this node's own key (errc::reflected): a frame
    /// of ours sent back to us. Give every node its own seed.
    bool refuse_own_key = true;

    std::string sig_field = "sig";      ///< auth field carrying the 64-byte signature
    std::string vk_field = "vk";        ///< auth field carrying the 32-byte verification key
    std::string nonce_field = "nonce";  ///< auth field carrying the 16-byte nonce
    std::string ts_field = "ts";        ///< auth field carrying the 4-byte timestamp
    /// Auth fields left out of the signature: those written by layers outside this
    /// one (e.g. {"hmac", "iv"} under the compatible outer HMAC + stream cipher).
    /// Sender and receiver must agree. vk, nonce and ts cannot be listed.
    std::vector<std::string> unsigned_fields;

    /// Accept only ts within [now - window, now + window]; nullopt disables the check.
    std::optional<std::chrono::seconds> freshness_window = std::chrono::seconds{60};
    /// Replay-cache capacity in messages; 0 disables replay detection (needs the window).
    std::size_t replay_cache_capacity = replay_cache::default_capacity;
    /// Use this cache instead of a private one (several nodes that must not accept
    /// the same frame twice).
    std::shared_ptr<replay_cache> shared_replay_cache;

    random_source random;  ///< nonces
    clock_source clock;    ///< ts for make(), "now" for the window

    /// Read the settings from JSON: "seed" and each of "allowed_keys" as hex text,
    /// a byte array or json::binary; "trust_peer_data", "refuse_own_key" (bool);
    /// "peer_data_key", "sig_field", "vk_field", "nonce_field", "ts_field" (text);
    /// "unsigned_fields" (array of text); "max_pins", "replay_cache_capacity"
    /// (count); "freshness_window" (seconds or null).
    /// Throws netaio::error(errc::bad_plugin_config).
    static ed25519_auth_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "Ed25519AuthPlugin");
        ed25519_auth_options o;
        if (auto seed = detail::config_key(config, "seed", ed25519_seed_size)) o.seed = std::move(*seed);
        if (auto it = config.find("allowed_keys"); it != config.end()) {
            if (!it->is_array()) detail::bad_config("\"allowed_keys\" must be an array of keys");
            for (const auto& key : *it) o.allowed_keys.push_back(detail::key_from_json(key, ed25519_key_size, "\"allowed_keys\" entry"));
        }
        o.trust_peer_data = detail::config_bool(config, "trust_peer_data", o.trust_peer_data);
        o.peer_data_key = detail::config_string(config, "peer_data_key", o.peer_data_key);
        o.max_pins = static_cast<std::size_t>(detail::config_count(config, "max_pins", o.max_pins));
        o.refuse_own_key = detail::config_bool(config, "refuse_own_key", o.refuse_own_key);
        o.sig_field = detail::config_string(config, "sig_field", o.sig_field);
        o.vk_field = detail::config_string(config, "vk_field", o.vk_field);
        o.nonce_field = detail::config_string(config, "nonce_field", o.nonce_field);
        o.ts_field = detail::config_string(config, "ts_field", o.ts_field);
        if (auto it = config.find("unsigned_fields"); it != config.end()) {
            if (!it->is_array()) detail::bad_config("\"unsigned_fields\" must be an array of field names");
            for (const auto& name : *it) {
                if (!name.is_string()) detail::bad_config("\"unsigned_fields\" must be an array of field names");
                o.unsigned_fields.push_back(name.get<std::string>());
            }
        }
        detail::config_window(config, o.freshness_window);
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        return o;
    }
};

/// Ed25519 signature authentication plugin (satisfies AuthPlugin).
///
/// Copies share the replay cache and the pin table. Thread-safe for concurrent
/// make()/check() as long as the random and clock sources are.
class Ed25519AuthPlugin {
public:
    static constexpr std::size_t nonce_size = 16;  ///< nonce field length
    static constexpr std::size_t ts_size = 4;      ///< ts field length
    /// Domain-separation label at the start of every signed message.
    static constexpr std::string_view label = "netaio-ed25519-v1";

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit Ed25519AuthPlugin(ed25519_auth_options options)
        : options_(validated(std::move(options))), pins_(std::make_shared<pin_table>(options_.max_pins)) {
        detail::ensure_sodium();
        if (!options_.seed.empty()) {
            crypto_sign_seed_keypair(vk_.data(), sk_.data(), options_.seed.data());
            has_key_ = true;
            // Only the expanded secret key is needed from here on.
            sodium_memzero(options_.seed.data(), options_.seed.size());
            options_.seed.clear();
        }
        for (const bytes& key : options_.allowed_keys) {
            std::array<std::uint8_t, ed25519_key_size> k{};
            std::copy(key.begin(), key.end(), k.begin());
            allowed_.insert(k);
        }
        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }

    /// Configure from JSON (see ed25519_auth_options::from_json).
    explicit Ed25519AuthPlugin(const nlohmann::json& config)
        : Ed25519AuthPlugin(ed25519_auth_options::from_json(config)) {}

    /// Add nonce, ts, vk and sig. An existing 16-byte nonce and 4-byte ts are
    /// reused (layers sharing the names agree). Needs ctx.message_type (the node
    /// pipeline sets it). Throws netaio::error: errc::bad_plugin_config (no seed, no
    /// message type), errc::field_too_large (uri, a field or the field count over
    /// 65535), errc::bad_auth_field_length (clock outside the u32 range).
    void make(AuthFields& fields, const Body& body, const plugin_context& ctx = {}) const {
        if (!has_key_) throw netaio::error(errc::bad_plugin_config, "Ed25519AuthPlugin: no seed, this plugin only verifies");
        if (!ctx.message_type)
            throw netaio::error(errc::bad_plugin_config, "Ed25519AuthPlugin: plugin_context::message_type is required to sign");
        if (body.uri.size() > 0xFFFF) throw netaio::error(errc::field_too_large, "Ed25519AuthPlugin: uri over 65535 bytes");
        const bytes nonce = detail::nonce_for_make(fields, options_.nonce_field, nonce_size, options_.random);
        const auto ts = detail::ts_for_make(fields, options_.ts_field, options_.clock, "Ed25519AuthPlugin");
        fields.set(options_.nonce_field, nonce);
        fields.set(options_.ts_field, bytes_view(ts));
        fields.set(options_.vk_field, bytes_view(vk_));
        fields.erase(options_.sig_field);  // an old signature is not covered anyway; keep the set clean

        std::error_code ec;
        const bytes m = signing_input(*ctx.message_type, fields, body, ec);
        if (ec) throw netaio::error(ec, "Ed25519AuthPlugin: auth fields cannot be signed");
        std::array<std::uint8_t, ed25519_signature_size> sig{};
        crypto_sign_detached(sig.data(), nullptr, m.data(), m.size(), sk_.data());
        fields.set(options_.sig_field, bytes_view(sig));
    }

    /// Verify the fields make() wrote. Empty error_code when authentic, else, in
    /// the order checked: missing_auth_field, bad_auth_field_length (16/4/32/64),
    /// auth_failed (no message type in ctx), stale_timestamp / future_timestamp,
    /// reflected (our own key), auth_failed (key not acceptable) or
    /// missing_peer_data (TOFU: no peer, or no key in its data), auth_failed (bad
    /// signature), peer_table_full (pin table full), replayed / replay_cache_full.
    std::error_code check(const AuthFields& fields, const Body& body, const plugin_context& ctx = {}) const {
        // 1. Presence, types and lengths: nothing expensive yet.
        const auto sig = fields.get_bytes(options_.sig_field);
        const auto vk = fields.get_bytes(options_.vk_field);
        const auto nonce = fields.get_bytes(options_.nonce_field);
        const auto ts = fields.get_bytes(options_.ts_field);
        if (!sig || !vk || !nonce || !ts) return make_error_code(errc::missing_auth_field);
        if (sig->size() != ed25519_signature_size || vk->size() != ed25519_key_size || nonce->size() != nonce_size ||
            ts->size() != ts_size)
            return make_error_code(errc::bad_auth_field_length);
        if (!ctx.message_type) return make_error_code(errc::auth_failed);

        // 2. Freshness: old captures die before any curve arithmetic.
        std::int64_t now = 0;
        if (options_.freshness_window) {
            now = options_.clock.now();
            if (std::error_code ec = detail::check_freshness(*ts, now, *options_.freshness_window)) return ec;
        }

        // 3. Whose key: ours (a reflection), allowed, or the peer's advertised one.
        std::array<std::uint8_t, ed25519_key_size> key{};
        std::copy(vk->begin(), vk->end(), key.begin());
        if (has_key_ && options_.refuse_own_key && key == vk_) return make_error_code(errc::reflected);
        std::optional<Peer> record;    // the sender's own record, for peer messages
        const bytes* pin_id = nullptr;  // set when the key is to be pinned after verifying
        if (!allowed_.contains(key)) {
            if (!options_.trust_peer_data) return make_error_code(errc::auth_failed);
            const DefaultPeerPlugin& peer_plugin = ctx.peer_plugin ? *ctx.peer_plugin : default_peer_plugin();
            const Peer* peer = claimant(*ctx.message_type, body, ctx.peer, peer_plugin, record);
            if (!peer || !peer->id) return make_error_code(errc::missing_peer_data);
            if (auto pinned = pins_->find(*peer->id)) {
                if (*pinned != key) return make_error_code(errc::auth_failed);
            } else {
                if (std::error_code ec = advertised_key_matches(*peer, peer_plugin, key)) return ec;
                pin_id = &*peer->id;  // pinned below, once the signature verified
            }
        }

        // 4. The signature (the expensive step).
        std::error_code ec;
        const bytes m = signing_input(*ctx.message_type, fields, body, ec);
        if (ec) return make_error_code(errc::auth_failed);
        if (crypto_sign_verify_detached(sig->data(), m.data(), m.size(), key.data()) != 0)
            return make_error_code(errc::auth_failed);

        // 5. State changes, only for authentic messages: the pin, then the replay cache
        //    keyed by the signature (Ed25519 is deterministic and libsodium refuses
        //    non-canonical signatures, so one signed message has one signature).
        if (pin_id) {
            if (std::error_code pin_ec = pins_->pin(*pin_id, key)) return pin_ec;
        }
        if (!replay_) return {};
        bytes replay_key(sig->begin(), sig->end());
        detail::append(replay_key, as_bytes_view(options_.sig_field));
        const std::int64_t ts_seconds = detail::get_u32be(ts->data());
        return replay_->insert(replay_key, ts_seconds + options_.freshness_window->count(), now);
    }

    /// The AUTH_ERROR reply: uri "ERROR", content "Ed25519 auth failed".
    Message error() const { return make_error_msg("Ed25519 auth failed"); }

    /// Signatures do not depend on the peer (only their acceptance does).
    bool is_peer_specific() const noexcept { return false; }

    /// This node's verification key (32 bytes), empty for a verify-only plugin.
    bytes verify_key() const { return has_key_ ? bytes(vk_.begin(), vk_.end()) : bytes(); }
    /// The key pinned to `peer_id`, if any.
    std::optional<bytes> pinned_key(bytes_view peer_id) const {
        if (auto k = pins_->find(peer_id)) return bytes(k->begin(), k->end());
        return std::nullopt;
    }
    /// Forget the pin of `peer_id` (a peer that rotated its key); false if none.
    bool unpin(bytes_view peer_id) { return pins_->erase(peer_id); }
    /// Number of pinned peers.
    std::size_t pin_count() const { return pins_->size(); }
    /// The settings in use (the seed is not retained).
    const ed25519_auth_options& options() const noexcept { return options_; }
    /// The replay cache in use, or nullptr when replay detection is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

    /// The message M that is signed (see the header comment) for `type`, the auth
    /// fields (sig and unsigned_fields left out) and the body. `ec` is
    /// errc::field_too_large when a length does not fit 16 bits, or the packify
    /// error of a non-bytes field that cannot be encoded.
    bytes signing_input(std::uint8_t type, const AuthFields& fields, const Body& body, std::error_code& ec) const {
        ec.clear();
        if (body.uri.size() > 0xFFFF) {
            ec = make_error_code(errc::field_too_large);
            return {};
        }
        bytes m;
        m.reserve(label.size() + 3 + 96 * fields.size() + body.size());
        detail::append(m, as_bytes_view(label));
        m.push_back(type);
        ec = detail::encode_covered_fields(
            fields, [this](std::string_view name) { return is_covered(name); },
            [&m](bytes_view piece) { detail::append(m, piece); });
        if (ec) return {};
        body.encode_into(m);
        return m;
    }

private:
    using key_array = std::array<std::uint8_t, ed25519_key_size>;

    /// Bounded peer id -> key pins, shared by copies of the plugin.
    class pin_table {
    public:
        explicit pin_table(std::size_t capacity) : capacity_(capacity) {}
        std::optional<key_array> find(bytes_view id) const {
            std::lock_guard lock(mutex_);
            auto it = pins_.find(bytes(id.begin(), id.end()));
            if (it == pins_.end()) return std::nullopt;
            return it->second;
        }
        /// Pin `key` to `id`. A concurrent pin of another key wins (auth_failed here).
        std::error_code pin(const bytes& id, const key_array& key) {
            std::lock_guard lock(mutex_);
            if (auto it = pins_.find(id); it != pins_.end())
                return it->second == key ? std::error_code() : make_error_code(errc::auth_failed);
            if (pins_.size() >= capacity_) return make_error_code(errc::peer_table_full);
            pins_.emplace(id, key);
            return {};
        }
        bool erase(bytes_view id) {
            std::lock_guard lock(mutex_);
            return pins_.erase(bytes(id.begin(), id.end())) > 0;
        }
        std::size_t size() const {
            std::lock_guard lock(mutex_);
            return pins_.size();
        }

    private:
        const std::size_t capacity_;
        mutable std::mutex mutex_;
        std::map<bytes, key_array> pins_;
    };

    static ed25519_auth_options validated(ed25519_auth_options o) {
        if (!o.seed.empty() && o.seed.size() != ed25519_seed_size)
            detail::bad_config("Ed25519AuthPlugin: the seed must be 32 bytes");
        for (const bytes& key : o.allowed_keys)
            if (key.size() != ed25519_key_size) detail::bad_config("Ed25519AuthPlugin: allowed keys must be 32 bytes");
        if (o.allowed_keys.empty() && !o.trust_peer_data)
            detail::bad_config("Ed25519AuthPlugin: no key would verify; set allowed_keys or trust_peer_data");
        if (o.trust_peer_data && o.max_pins == 0)
            detail::bad_config("Ed25519AuthPlugin: trust_peer_data needs max_pins > 0");
        if (o.peer_data_key.empty()) detail::bad_config("Ed25519AuthPlugin: peer_data_key must not be empty");
        const std::array<const std::string*, 4> names{&o.sig_field, &o.vk_field, &o.nonce_field, &o.ts_field};
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i]->empty()) detail::bad_config("Ed25519AuthPlugin: auth field names must not be empty");
            for (std::size_t j = i + 1; j < names.size(); ++j)
                if (*names[i] == *names[j]) detail::bad_config("Ed25519AuthPlugin: sig, vk, nonce and ts fields must differ");
        }
        for (const std::string& name : o.unsigned_fields)
            if (name == o.vk_field || name == o.nonce_field || name == o.ts_field)
                detail::bad_config("Ed25519AuthPlugin: vk, nonce and ts are always signed; \"" + name +
                                   "\" cannot be in unsigned_fields");
        detail::validate_window(o.freshness_window, o.shared_replay_cache || o.replay_cache_capacity > 0,
                                "Ed25519AuthPlugin");
        return o;
    }

    bool is_covered(std::string_view name) const noexcept {
        if (name == options_.sig_field) return false;
        return std::find(options_.unsigned_fields.begin(), options_.unsigned_fields.end(), name) ==
               options_.unsigned_fields.end();
    }

    static const DefaultPeerPlugin& default_peer_plugin() {
        static const DefaultPeerPlugin plugin;
        return plugin;
    }

    // TOFU: who claims the key. ADVERTISE_PEER, PEER_DISCOVERED and DISCONNECT carry
    // their sender's record (id, data) as content: that record, signed with the key
    // it advertises, introduces the peer (a self-certifying advert; this is how an
    // unknown peer's first advert can verify). Other messages come from ctx.peer.
    static const Peer* claimant(std::uint8_t type, const Body& body, const Peer* known, const DefaultPeerPlugin& plugin,
                                std::optional<Peer>& record) {
        if (type == static_cast<std::uint8_t>(MessageType::ADVERTISE_PEER) ||
            type == static_cast<std::uint8_t>(MessageType::PEER_DISCOVERED) ||
            type == static_cast<std::uint8_t>(MessageType::DISCONNECT)) {
            std::error_code ec;
            Peer p = plugin.unpack(body.content, ec);
            if (!ec && p.id) {
                record = std::move(p);
                return &*record;
            }
        }
        return known;
    }

    // TOFU: the key must be the one the peer advertises in its data ("vk").
    std::error_code advertised_key_matches(const Peer& peer, const DefaultPeerPlugin& plugin, const key_array& key) const {
        std::error_code ec;
        const packify::value data = plugin.parse_data(peer, ec);
        if (ec) return make_error_code(errc::missing_peer_data);
        const packify::dict* d = data.get_if<packify::dict>();
        const packify::value* advertised = d ? d->find(packify::value(options_.peer_data_key)) : nullptr;
        const bytes* advertised_key = advertised ? advertised->get_if<bytes>() : nullptr;
        if (!advertised_key) return make_error_code(errc::missing_peer_data);
        if (advertised_key->size() != ed25519_key_size || !std::equal(key.begin(), key.end(), advertised_key->begin()))
            return make_error_code(errc::auth_failed);
        return {};
    }

    ed25519_auth_options options_;
    bool has_key_ = false;
    key_array vk_{};
    detail::wiped_key<crypto_sign_SECRETKEYBYTES> sk_;
    std::set<key_array> allowed_;  // public keys: ordinary comparison is fine
    std::shared_ptr<pin_table> pins_;
    std::shared_ptr<replay_cache> replay_;
};

static_assert(AuthPlugin<Ed25519AuthPlugin>);

NETAIO_END_NAMESPACE
