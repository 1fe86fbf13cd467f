// netaio/x25519_cipher_plugin.hpp - netaio's X25519CipherPlugin (PROTOCOL.md §8.1), hardened.
//
// Byte-exact with Python netaio 0.0.9 (PyNaCl Box):
//   own keys  = the X25519 pair of the 32-byte "seed" (detail/seed_keys.hpp)
//   peer key  = the 32-byte "pubkey" entry of the remote peer's data (a packify dict)
//   plaintext = [u16be(len(uri)) || uri, when encrypt_uri] || content
//   box       = nonce(24 random bytes) || crypto_box_easy(plaintext)   (40 bytes overhead)
//   encrypt_uri: the box is split at a random point into the wire uri/content (§7);
//   otherwise:   the uri stays in clear and content = box.
// No auth field is added. The box authenticates the body (Poly1305) but not the
// message type or the auth fields.
//
// Beyond Python (RELIABILITY.md §2 row 6, §3.5 D6-D8), each part switchable:
//   - the crypto_box_beforenm key per peer is cached (bounded LRU) instead of one
//     X25519 multiplication per frame;
//   - reflection guard: crypto_box keys are symmetric, so a frame we sent to B
//     also opens for us as "from B"; nonces we sent recently are refused
//     (errc::reflected);
//   - replay guard: the nonce of every frame that opened is remembered for
//     replay_window seconds; the same frame again is errc::replayed. Without a
//     timestamp in the frame this cannot be complete: a capture replayed after the
//     window opens again. Pair the cipher with HMACAuthPlugin (freshness window and
//     replay cache over the whole frame) for full replay protection.
// x25519_cipher_options::python_semantics() turns both guards off.
//
// Peers exchange keys through peer data: publish peer_data() (a packify dict with
// "pubkey") as the node's local peer, and the nodes find the remote peer's key via
// plugin_context{peer, peer_plugin} (PROTOCOL §9). The key distribution itself is
// not authenticated (anyone can advertise any pubkey); pin keys out of band or
// carry the adverts under an authenticated outer layer.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/cipher_body.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/seed_keys.hpp>
#include <netaio/detail/sent_nonce_history.hpp>
#include <netaio/detail/shared_key_cache.hpp>
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
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Settings of X25519CipherPlugin: Python's config dict ("seed", "encrypt_uri")
/// plus the C++ guards, with their defaults.
struct x25519_cipher_options {
    /// The 32-byte seed of the node's key pairs (Python "seed"; required).
    bytes seed{};
    /// Encrypt the uri too (Python's default: false, unlike the Sha256 cipher).
    bool encrypt_uri = false;

    /// Precomputed shared keys kept (one per peer public key, LRU); 0 disables the cache.
    std::size_t shared_key_cache_capacity = detail::shared_key_cache::default_capacity;

    /// Refuse incoming frames carrying a nonce we sent (errc::reflected).
    bool reflection_guard = true;
    /// Sent nonces remembered at most, 1..2^24 (the oldest is forgotten first;
    /// about 40 bytes each, taken at the first send) ...
    std::size_t sent_nonce_capacity = 65536;
    /// ... and for at most this long.
    std::chrono::seconds sent_nonce_retention = std::chrono::seconds{300};

    /// Received nonces remembered (replay guard); 0 disables the guard. When the
    /// cache is full, frames are refused (errc::replay_cache_full, fail closed):
    /// size it at least peak frames per second x replay_window.
    std::size_t replay_cache_capacity = replay_cache::default_capacity;
    /// How long a received nonce is remembered (seconds).
    std::chrono::seconds replay_window = std::chrono::seconds{60};
    /// Use this cache instead of a private one (capacity then comes from it).
    std::shared_ptr<replay_cache> shared_replay_cache{};

    random_source random{};  ///< nonces and the encrypt_uri split point
    clock_source clock{};    ///< expiry of remembered nonces

    /// Exactly what Python netaio 0.0.9 accepts: no reflection or replay guard.
    x25519_cipher_options& python_semantics() & {
        reflection_guard = false;
        replay_cache_capacity = 0;
        shared_replay_cache.reset();
        return *this;
    }
    x25519_cipher_options&& python_semantics() && { return std::move(python_semantics()); }

    /// Read Python's config keys ("seed" required, exactly 32 bytes; "encrypt_uri")
    /// plus "python_semantics" (bool, applied first), "shared_key_cache_capacity",
    /// "reflection_guard", "sent_nonce_capacity", "sent_nonce_retention" (seconds),
    /// "replay_cache_capacity" (0 disables) and "replay_window" (seconds). The seed
    /// may be text, an array of byte values or json::binary, as for the other
    /// plugins. Throws netaio::error(errc::bad_plugin_config).
    static x25519_cipher_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "X25519CipherPlugin");
        x25519_cipher_options o;
        if (detail::config_bool(config, "python_semantics", false)) o.python_semantics();
        std::optional<bytes> seed = detail::config_bytes(config, "seed");
        if (!seed) detail::bad_config("X25519CipherPlugin: \"seed\" is required");
        o.seed = std::move(*seed);
        o.encrypt_uri = detail::config_bool(config, "encrypt_uri", o.encrypt_uri);
        o.shared_key_cache_capacity = static_cast<std::size_t>(
            detail::config_count(config, "shared_key_cache_capacity", o.shared_key_cache_capacity));
        o.reflection_guard = detail::config_bool(config, "reflection_guard", o.reflection_guard);
        o.sent_nonce_capacity =
            static_cast<std::size_t>(detail::config_count(config, "sent_nonce_capacity", o.sent_nonce_capacity));
        o.sent_nonce_retention = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(
            detail::config_count(config, "sent_nonce_retention", static_cast<std::uint64_t>(o.sent_nonce_retention.count())))};
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        o.replay_window = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(
            detail::config_count(config, "replay_window", static_cast<std::uint64_t>(o.replay_window.count())))};
        return o;
    }
};

/// netaio's X25519 (crypto_box) cipher plugin (satisfies CipherPlugin).
///
/// Peer-specific: encrypt() and decrypt() need the remote peer and the node's
/// peer plugin in the plugin_context, and the peer's data must hold "pubkey".
/// Copies share the key cache and both guards. Thread-safe for concurrent
/// encrypt()/decrypt() as long as the random and clock sources are.
class X25519CipherPlugin {
public:
    static constexpr std::size_t nonce_size = crypto_box_NONCEBYTES;  ///< 24
    static constexpr std::size_t mac_size = crypto_box_MACBYTES;      ///< 16
    static constexpr std::size_t overhead = nonce_size + mac_size;    ///< 40 bytes added to the plaintext
    static constexpr std::size_t key_size = crypto_box_PUBLICKEYBYTES;  ///< 32
    /// The peer-data key holding a node's X25519 public key.
    static constexpr const char* pubkey_data_key = "pubkey";
    /// The conventional peer-data key of the Ed25519 verify key (optional).
    static constexpr const char* vkey_data_key = "vkey";

    using public_key_type = std::array<std::uint8_t, 32>;

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration
    /// (a seed that is not 32 bytes, a guard with zero capacity or retention).
    explicit X25519CipherPlugin(x25519_cipher_options options)
        : options_(validated(std::move(options))),
          keys_(std::make_shared<const detail::seed_keys>(detail::derive_seed_keys(options_.seed))) {
        // Only the derived keys are needed from here on.
        sodium_memzero(options_.seed.data(), options_.seed.size());
        options_.seed.clear();
        if (options_.shared_key_cache_capacity > 0)
            shared_keys_ = std::make_shared<detail::shared_key_cache>(options_.shared_key_cache_capacity);
        if (options_.reflection_guard)
            sent_ = std::make_shared<detail::sent_nonce_history>(options_.sent_nonce_capacity,
                                                                 options_.sent_nonce_retention.count());
        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }

    /// Configure from a Python-style dict (see x25519_cipher_options::from_json).
    explicit X25519CipherPlugin(const nlohmann::json& config)
        : X25519CipherPlugin(x25519_cipher_options::from_json(config)) {}

    /// Box the body for `ctx.peer` in place (PROTOCOL §8.1 encrypt). Auth fields are untouched.
    ///
    /// Throws netaio::error, leaving the message unchanged and drawing no randomness:
    /// errc::missing_peer_data (no peer or peer plugin, no peer data, no "pubkey"),
    /// errc::encrypt_failed (the pubkey is not 32 bytes or is a low-order point),
    /// errc::content_too_long (the boxed body would exceed Body::prepare's limit),
    /// errc::field_too_large (encrypt_uri with a uri over 65535 bytes).
    void encrypt(Message& message, const plugin_context& ctx = {}) const {
        Body& body = message.body;
        if (options_.encrypt_uri && body.uri.size() > 0xFFFF)
            throw netaio::error(errc::field_too_large, "X25519CipherPlugin: uri over 65535 bytes");
        const std::size_t plaintext_size = (options_.encrypt_uri ? 2 + body.uri.size() : 0) + body.content.size();
        const std::size_t wire_payload = plaintext_size + overhead + (options_.encrypt_uri ? 0 : body.uri.size());
        if (wire_payload > max_body_payload())
            throw netaio::error(errc::content_too_long, "Content + uri is too long for encapsulation");

        detail::key32 shared;
        switch (shared_key_for(ctx, shared)) {
            case key_status::ok: break;
            case key_status::no_peer:
                throw netaio::error(errc::missing_peer_data, "peer and peer_plugin must be provided");
            case key_status::no_pubkey: throw netaio::error(errc::missing_peer_data, "peer pubkey not found");
            case key_status::bad_pubkey:
                throw netaio::error(errc::encrypt_failed, "X25519CipherPlugin: peer pubkey is not a usable X25519 key");
        }

        // box = nonce || MAC || ciphertext, encrypted in place behind the nonce.
        bytes box(overhead + plaintext_size);
        options_.random.fill_bytes(std::span<std::uint8_t>(box.data(), nonce_size));
        std::uint8_t* plain = box.data() + overhead;
        if (options_.encrypt_uri) {
            detail::put_u16be(plain, static_cast<std::uint16_t>(body.uri.size()));
            plain += 2;
            plain = std::copy(body.uri.begin(), body.uri.end(), plain);
        }
        std::copy(body.content.begin(), body.content.end(), plain);
        const int rc = crypto_box_easy_afternm(box.data() + nonce_size, box.data() + overhead, plaintext_size, box.data(),
                                               shared.data());
        sodium_memzero(shared.data(), shared.size());
        if (rc != 0) throw netaio::error(errc::encrypt_failed, "X25519CipherPlugin: crypto_box failed");

        if (sent_) sent_->insert(nonce_of(box), options_.clock.now());
        if (options_.encrypt_uri)
            detail::split_ciphertext_into(body, std::move(box), options_.random);  // len(box) >= 42
        else
            body.content = std::move(box);
        refresh_header(message);
    }

    /// Open the box from `ctx.peer` in place (PROTOCOL §8.1 decrypt). On failure the
    /// message is unchanged and the reason is returned:
    /// - errc::decrypt_failed: ciphertext shorter than 40 bytes, a MAC that does not
    ///   verify (tampering, wrong keys), a peer pubkey that is not 32 bytes or is a
    ///   low-order point, or (encrypt_uri) a plaintext whose uri length runs past it;
    /// - errc::missing_peer_data: no peer or peer plugin, no peer data, no "pubkey";
    /// - errc::reflected: the nonce is one we sent (reflection guard);
    /// - errc::replayed / errc::replay_cache_full: the replay guard refused it.
    std::error_code decrypt(Message& message, const plugin_context& ctx = {}) const {
        Body& body = message.body;
        // 1. Length, before anything costs.
        const std::size_t box_size = options_.encrypt_uri ? body.uri.size() + body.content.size() : body.content.size();
        if (box_size < overhead) return make_error_code(errc::decrypt_failed);
        bytes joined;
        if (options_.encrypt_uri) joined = detail::joined_ciphertext(body);
        const bytes_view box = options_.encrypt_uri ? bytes_view(joined) : bytes_view(body.content);
        const detail::nonce24 nonce = nonce_of(box);

        // 2. Our own nonce coming back (a cheap lookup, before any key work).
        std::int64_t now = 0;
        if (sent_ || replay_) now = options_.clock.now();
        if (sent_ && sent_->contains(nonce, now)) return make_error_code(errc::reflected);

        // 3. The peer's key and the shared key.
        detail::key32 shared;
        public_key_type peer_key{};
        switch (shared_key_for(ctx, shared, &peer_key)) {
            case key_status::ok: break;
            case key_status::no_peer:
            case key_status::no_pubkey: return make_error_code(errc::missing_peer_data);
            case key_status::bad_pubkey: return make_error_code(errc::decrypt_failed);
        }

        // 4. Verify and decrypt.
        bytes plain(box_size - overhead);
        const int rc = crypto_box_open_easy_afternm(plain.data(), box.data() + nonce_size, box_size - nonce_size,
                                                    box.data(), shared.data());
        sodium_memzero(shared.data(), shared.size());
        if (rc != 0) return make_error_code(errc::decrypt_failed);

        Body opened;
        if (options_.encrypt_uri) {
            if (!detail::restore_uri_plaintext(opened, std::move(plain))) return make_error_code(errc::decrypt_failed);
        } else {
            opened.uri = body.uri;
            opened.content = std::move(plain);
        }

        // 5. Replay: only frames that authenticated are remembered.
        if (replay_) {
            bytes replay_key(nonce.begin(), nonce.end());
            replay_key.insert(replay_key.end(), peer_key.begin(), peer_key.end());
            if (std::error_code ec = replay_->insert(replay_key, now + options_.replay_window.count(), now)) return ec;
        }

        body = std::move(opened);
        refresh_header(message);
        return {};
    }

    /// The box depends on the peer: broadcasts are prepared per recipient (§9.7).
    bool is_peer_specific() const noexcept { return true; }

    /// This node's X25519 public key: what peers need as our "pubkey".
    const public_key_type& public_key() const noexcept { return keys_->x25519_public; }
    /// This node's Ed25519 verify key (the conventional "vkey", same seed).
    const public_key_type& verify_key() const noexcept { return keys_->ed25519_public; }

    /// Peer data to advertise: `extra` with "pubkey" set to public_key(). Add
    /// {"vkey", verify_key()} or a name to `extra` as needed.
    packify::dict peer_data_dict(packify::dict extra = {}) const {
        extra.set(packify::value(std::string(pubkey_data_key)), packify::value(bytes(public_key().begin(), public_key().end())));
        return extra;
    }
    /// peer_data_dict() encoded as DefaultPeerPlugin::encode_data does (Peer::data).
    bytes peer_data(packify::dict extra = {}) const { return packify::pack(packify::value(peer_data_dict(std::move(extra)))); }
    /// A local peer (e.g. for tcp_server_options::local_peer) advertising our key.
    Peer local_peer(byte_source id, packify::dict extra = {}) const {
        Peer p;
        p.id = id.to_bytes();
        p.data = peer_data(std::move(extra));
        return p;
    }

    /// The settings in use (the seed itself is not retained).
    const x25519_cipher_options& options() const noexcept { return options_; }
    /// The shared-key cache, or nullptr when disabled.
    const std::shared_ptr<detail::shared_key_cache>& shared_keys() const noexcept { return shared_keys_; }
    /// The sent-nonce history of the reflection guard, or nullptr when disabled.
    const std::shared_ptr<detail::sent_nonce_history>& sent_nonces() const noexcept { return sent_; }
    /// The replay cache in use, or nullptr when the replay guard is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

private:
    enum class key_status { ok, no_peer, no_pubkey, bad_pubkey };

    static x25519_cipher_options validated(x25519_cipher_options o) {
        if (o.seed.size() != detail::seed_size) detail::bad_config("X25519CipherPlugin: seed must be exactly 32 bytes");
        constexpr std::int64_t max_seconds = 0xFFFFFFFF;  // keeps now + window far from overflow
        if (o.reflection_guard &&
            (o.sent_nonce_capacity == 0 || o.sent_nonce_capacity > detail::sent_nonce_history::max_capacity ||
             o.sent_nonce_retention.count() <= 0 || o.sent_nonce_retention.count() > max_seconds))
            detail::bad_config(
                "X25519CipherPlugin: the reflection guard needs sent_nonce_capacity in 1..2^24 and a retention of 1 s to "
                "2^32 - 1 s");
        if ((o.shared_replay_cache || o.replay_cache_capacity > 0) &&
            (o.replay_window.count() <= 0 || o.replay_window.count() > max_seconds))
            detail::bad_config("X25519CipherPlugin: the replay guard needs a replay_window of 1 s to 2^32 - 1 s");
        return o;
    }

    static detail::nonce24 nonce_of(bytes_view box) noexcept {
        detail::nonce24 n;
        std::copy_n(box.begin(), n.size(), n.begin());
        return n;
    }

    // The peer's 32-byte pubkey from its data (PROTOCOL §4.3 "pubkey").
    static key_status peer_public_key(const plugin_context& ctx, public_key_type& out) {
        if (!ctx.peer || !ctx.peer_plugin) return key_status::no_peer;
        std::error_code ec;
        const packify::value data = ctx.peer_plugin->parse_data(*ctx.peer, ec);
        if (ec) return key_status::no_pubkey;
        const packify::dict* dict = data.get_if<packify::dict>();
        if (!dict) return key_status::no_pubkey;
        const packify::value* pubkey = dict->find(packify::value(std::string(pubkey_data_key)));
        if (!pubkey) return key_status::no_pubkey;
        const bytes* raw = pubkey->get_if<bytes>();
        if (!raw || raw->size() != key_size) return key_status::bad_pubkey;
        std::copy(raw->begin(), raw->end(), out.begin());
        return key_status::ok;
    }

    // crypto_box_beforenm(peer pubkey, own secret), through the cache.
    key_status shared_key_for(const plugin_context& ctx, detail::key32& shared, public_key_type* peer_out = nullptr) const {
        public_key_type peer_key;
        if (key_status s = peer_public_key(ctx, peer_key); s != key_status::ok) return s;
        if (peer_out) *peer_out = peer_key;
        if (shared_keys_ && shared_keys_->find(peer_key, shared)) return key_status::ok;
        // Fails (-1) for low-order points, whose shared secret is all zeros.
        if (crypto_box_beforenm(shared.data(), peer_key.data(), keys_->x25519_secret.data()) != 0) {
            sodium_memzero(shared.data(), shared.size());
            return key_status::bad_pubkey;
        }
        if (shared_keys_) shared_keys_->insert(peer_key, shared);
        return key_status::ok;
    }

    // Keep the header describing the body, as Python's Message.prepare does.
    static void refresh_header(Message& message) noexcept {
        message.header.body_length = static_cast<std::uint16_t>(message.body.size());
        message.header.checksum = message.body_checksum();
    }

    x25519_cipher_options options_;
    std::shared_ptr<const detail::seed_keys> keys_;
    std::shared_ptr<detail::shared_key_cache> shared_keys_;
    std::shared_ptr<detail::sent_nonce_history> sent_;
    std::shared_ptr<replay_cache> replay_;
};

static_assert(CipherPlugin<X25519CipherPlugin>);

NETAIO_END_NAMESPACE
