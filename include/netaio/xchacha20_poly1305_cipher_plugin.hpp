// netaio/xchacha20_poly1305_cipher_plugin.hpp - XChaCha20-Poly1305 AEAD cipher (modern, opt-in).
//
// Not part of Python netaio 0.0.9 (RELIABILITY.md §3 "Modern opt-in plugins"); a
// Python peer cannot decrypt it. Where the compatible Sha256StreamCipherPlugin is
// malleable and leaves the IV and the type unauthenticated, this cipher
// authenticates everything it depends on, so on its own it stops tampering,
// type swaps, reflection and (with the window and cache) replay.
//
// Auth fields (names configurable): xn (24 random bytes, never reused), ts (4,
// u32be Unix seconds), and in the peer role xs (the sender id).
//
//   plaintext = u16be(len(uri)) || uri || content    (encrypt_uri, the default:
//               sent as content, with an empty uri)
//             = content                              (encrypt_uri = false: the uri
//               stays in clear for routing and goes into the AD instead)
//   content   = crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, AD, xn, key)
//               (ciphertext || 16-byte tag)
//   AD        = "netaio-aead-v1" || type (1 byte) || u8 len(direction) || direction
//               || ts (4) [|| u16be(len(uri)) || uri, when encrypt_uri = false]
//
// Direction and keys, by role (configure each node with its role):
//   client: sends "c2s" under k_c2s, accepts only "s2c" under k_s2c (a TCP client)
//   server: sends "s2c" under k_s2c, accepts only "c2s" under k_c2s (a TCP server)
//   peer:   direction = the sender id (field xs), one group key k_peer for all
//           members (UDP); a frame carrying our own id is refused (reflected).
//           Any holder of k_peer can claim any id: the id separates directions,
//           it does not authenticate members.
// k_c2s, k_s2c, k_peer = crypto_kdf_derive_from_key(master_key, id 1 / 2 / 3,
// context "netaioae"), or for client/server, crypto_kx session keys from X25519
// key pairs (k_c2s = the client's tx = the server's rx).
//
// decrypt() checks field lengths, the tag length and the freshness window before
// any decryption, writes the replay cache (keyed by xn) only after the tag
// verified, and leaves the message unchanged on any failure. In the client and
// server roles a frame that fails is tried once more under our own sending key:
// if it opens, it is our frame sent back to us (errc::reflected).
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

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Which side of an exchange an XChaCha20Poly1305CipherPlugin is on (its direction label).
enum class aead_role : std::uint8_t {
    client,  ///< sends c2s, accepts s2c (TCPClient)
    server,  ///< sends s2c, accepts c2s (TCPServer)
    peer,    ///< sends under its sender id, accepts any other id (UDPNode)
};

/// Settings of XChaCha20Poly1305CipherPlugin. Give either master_key or, for the
/// client and server roles, the three kx keys.
struct xchacha20_poly1305_cipher_options {
    /// 32-byte master key shared by both sides; per-direction keys are derived from it.
    bytes master_key;
    /// This node's X25519 key pair (crypto_kx, 32 bytes each) and the other side's
    /// public key: session keys per direction without a shared secret.
    bytes kx_public_key;
    bytes kx_secret_key;
    bytes kx_peer_public_key;

    aead_role role = aead_role::peer;  ///< must match the node: client, server or peer
    /// peer role: this node's id (1-255 bytes), sent in `sender_field` and in the AD.
    bytes sender_id;

    std::string nonce_field = "xn";   ///< auth field carrying the 24-byte nonce
    std::string ts_field = "ts";      ///< auth field carrying the 4-byte timestamp
    std::string sender_field = "xs";  ///< peer role: auth field carrying the sender id
    /// Encrypt the uri too (wire uri empty). Turn off for an inner layer, whose uri
    /// the node must read to route; it is then authenticated through the AD.
    bool encrypt_uri = true;

    /// Accept only ts within [now - window, now + window]; nullopt disables the check.
    std::optional<std::chrono::seconds> freshness_window = std::chrono::seconds{60};
    /// Replay-cache capacity in messages; 0 disables replay detection (needs the window).
    std::size_t replay_cache_capacity = replay_cache::default_capacity;
    /// Use this cache instead of a private one.
    std::shared_ptr<replay_cache> shared_replay_cache;

    random_source random;  ///< nonces
    clock_source clock;    ///< ts for encrypt(), "now" for the window

    /// A fresh random master key (crypto_kdf_keygen).
    static bytes new_master_key() {
        detail::ensure_sodium();
        bytes key(crypto_kdf_KEYBYTES);
        crypto_kdf_keygen(key.data());
        return key;
    }
    /// A fresh crypto_kx key pair: {public key, secret key}.
    static std::pair<bytes, bytes> new_kx_keypair() {
        detail::ensure_sodium();
        bytes pk(crypto_kx_PUBLICKEYBYTES), sk(crypto_kx_SECRETKEYBYTES);
        crypto_kx_keypair(pk.data(), sk.data());
        return {std::move(pk), std::move(sk)};
    }

    /// Read the settings from JSON: "master_key", "kx_public_key", "kx_secret_key",
    /// "kx_peer_public_key" (hex text, byte array or json::binary, 32 bytes);
    /// "role" ("client", "server" or "peer"); "sender_id" (text or bytes);
    /// "nonce_field", "ts_field", "sender_field" (text); "encrypt_uri" (bool);
    /// "freshness_window" (seconds or null); "replay_cache_capacity" (count).
    /// Throws netaio::error(errc::bad_plugin_config).
    static xchacha20_poly1305_cipher_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "XChaCha20Poly1305CipherPlugin");
        xchacha20_poly1305_cipher_options o;
        if (auto k = detail::config_key(config, "master_key", crypto_kdf_KEYBYTES)) o.master_key = std::move(*k);
        if (auto k = detail::config_key(config, "kx_public_key", crypto_kx_PUBLICKEYBYTES)) o.kx_public_key = std::move(*k);
        if (auto k = detail::config_key(config, "kx_secret_key", crypto_kx_SECRETKEYBYTES)) o.kx_secret_key = std::move(*k);
        if (auto k = detail::config_key(config, "kx_peer_public_key", crypto_kx_PUBLICKEYBYTES))
            o.kx_peer_public_key = std::move(*k);
        const std::string role = detail::config_string(config, "role", "peer");
        if (role == "client")
            o.role = aead_role::client;
        else if (role == "server")
            o.role = aead_role::server;
        else if (role == "peer")
            o.role = aead_role::peer;
        else
            detail::bad_config("\"role\" must be \"client\", \"server\" or \"peer\"");
        if (auto id = detail::config_bytes(config, "sender_id")) o.sender_id = std::move(*id);
        o.nonce_field = detail::config_string(config, "nonce_field", o.nonce_field);
        o.ts_field = detail::config_string(config, "ts_field", o.ts_field);
        o.sender_field = detail::config_string(config, "sender_field", o.sender_field);
        o.encrypt_uri = detail::config_bool(config, "encrypt_uri", o.encrypt_uri);
        detail::config_window(config, o.freshness_window);
        o.replay_cache_capacity =
            static_cast<std::size_t>(detail::config_count(config, "replay_cache_capacity", o.replay_cache_capacity));
        return o;
    }
};

/// XChaCha20-Poly1305-IETF cipher plugin (satisfies CipherPlugin).
///
/// Copies share the replay cache. Thread-safe for concurrent encrypt()/decrypt()
/// as long as the random and clock sources are.
class XChaCha20Poly1305CipherPlugin {
public:
    static constexpr std::size_t nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  ///< 24
    static constexpr std::size_t tag_size = crypto_aead_xchacha20poly1305_ietf_ABYTES;       ///< 16
    static constexpr std::size_t ts_size = 4;                                                ///< ts field length
    /// Domain-separation label at the start of the AD.
    static constexpr std::string_view label = "netaio-aead-v1";
    /// crypto_kdf context of the derived keys (8 bytes).
    static constexpr char kdf_context[crypto_kdf_CONTEXTBYTES + 1] = "netaioae";

    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit XChaCha20Poly1305CipherPlugin(xchacha20_poly1305_cipher_options options)
        : options_(validated(std::move(options))) {
        detail::ensure_sodium();
        derive_keys();
        // Only the derived keys are needed from here on.
        for (bytes* secret : {&options_.master_key, &options_.kx_secret_key}) {
            sodium_memzero(secret->data(), secret->size());
            secret->clear();
        }
        if (options_.shared_replay_cache)
            replay_ = options_.shared_replay_cache;
        else if (options_.replay_cache_capacity > 0)
            replay_ = std::make_shared<replay_cache>(options_.replay_cache_capacity);
    }

    /// Configure from JSON (see xchacha20_poly1305_cipher_options::from_json).
    explicit XChaCha20Poly1305CipherPlugin(const nlohmann::json& config)
        : XChaCha20Poly1305CipherPlugin(xchacha20_poly1305_cipher_options::from_json(config)) {}

    /// Encrypt the body in place and set xn, ts (an existing 4-byte ts is reused,
    /// see the reuse rule) and, in the peer role, xs. Throws netaio::error:
    /// errc::content_too_long when the sealed body would exceed Body::prepare's
    /// limit (checked before any randomness is drawn), errc::field_too_large for a
    /// uri over 65535 bytes, errc::bad_auth_field_length for a clock outside u32.
    void encrypt(Message& message, const plugin_context& = {}) const {
        Body& body = message.body;
        if (body.uri.size() > 0xFFFF)
            throw netaio::error(errc::field_too_large, "XChaCha20Poly1305CipherPlugin: uri over 65535 bytes");
        const std::size_t plaintext_size = options_.encrypt_uri ? 2 + body.uri.size() + body.content.size() : body.content.size();
        const std::size_t wire_payload = plaintext_size + tag_size + (options_.encrypt_uri ? 0 : body.uri.size());
        if (wire_payload > max_body_payload())
            throw netaio::error(errc::content_too_long, "Content + uri is too long for encapsulation");

        const auto ts = detail::ts_for_make(message.auth_data, options_.ts_field, options_.clock,
                                            "XChaCha20Poly1305CipherPlugin");
        std::uint8_t nonce[nonce_size];
        options_.random.fill_bytes(std::span<std::uint8_t>(nonce, nonce_size));

        bytes plaintext;
        if (options_.encrypt_uri) {
            plaintext.reserve(plaintext_size);
            body.encode_into(plaintext);
        }
        const bytes_view pt = options_.encrypt_uri ? bytes_view(plaintext) : bytes_view(body.content);
        const bytes ad = additional_data(static_cast<std::uint8_t>(message.type()), send_direction(), bytes_view(ts), body.uri);
        bytes ct(pt.size() + tag_size);
        unsigned long long ct_size = 0;
        crypto_aead_xchacha20poly1305_ietf_encrypt(ct.data(), &ct_size, pt.data(), pt.size(), ad.data(), ad.size(),
                                                   nullptr, nonce, send_key_.data());
        ct.resize(static_cast<std::size_t>(ct_size));
        if (!plaintext.empty()) sodium_memzero(plaintext.data(), plaintext.size());

        if (options_.encrypt_uri) body.uri.clear();
        body.content = std::move(ct);
        message.auth_data.set(options_.nonce_field, bytes_view(nonce, nonce_size));
        message.auth_data.set(options_.ts_field, bytes_view(ts));
        if (options_.role == aead_role::peer) message.auth_data.set(options_.sender_field, options_.sender_id);
        refresh_header(message);
    }

    /// Decrypt the body in place (the auth fields stay). On failure the message is
    /// unchanged and the reason is: decrypt_failed (xn, ts or xs missing or of the
    /// wrong length, ciphertext shorter than the tag, tag does not verify: tampering,
    /// wrong key, wrong type or direction in the AD), reflected (our own frame),
    /// stale_timestamp / future_timestamp, replayed / replay_cache_full.
    std::error_code decrypt(Message& message, const plugin_context& = {}) const {
        const AuthFields& fields = message.auth_data;
        const auto nonce = fields.get_bytes(options_.nonce_field);
        const auto ts = fields.get_bytes(options_.ts_field);
        if (!nonce || nonce->size() != nonce_size || !ts || ts->size() != ts_size)
            return make_error_code(errc::decrypt_failed);
        Body& body = message.body;
        if (body.content.size() < tag_size) return make_error_code(errc::decrypt_failed);
        if (options_.encrypt_uri && !body.uri.empty()) return make_error_code(errc::decrypt_failed);

        // The direction the frame claims. Peer role: its sender id, never ours.
        bytes_view direction = receive_direction();
        if (options_.role == aead_role::peer) {
            const auto sender = fields.get_bytes(options_.sender_field);
            if (!sender || sender->empty() || sender->size() > 255) return make_error_code(errc::decrypt_failed);
            if (sender->size() == options_.sender_id.size() &&
                std::equal(sender->begin(), sender->end(), options_.sender_id.begin()))
                return make_error_code(errc::reflected);
            direction = *sender;
        }

        std::int64_t now = 0;
        if (options_.freshness_window) {
            now = options_.clock.now();
            if (std::error_code ec = detail::check_freshness(*ts, now, *options_.freshness_window)) return ec;
        }

        const std::uint8_t type = static_cast<std::uint8_t>(message.type());
        bytes pt;
        if (!open(pt, body.content, additional_data(type, direction, *ts, body.uri), *nonce, recv_key_)) {
            // Client/server: is it our own frame coming back? One more tag check, on failure only.
            if (options_.role != aead_role::peer &&
                open(pt, body.content, additional_data(type, send_direction(), *ts, body.uri), *nonce, send_key_)) {
                sodium_memzero(pt.data(), pt.size());
                return make_error_code(errc::reflected);
            }
            return make_error_code(errc::decrypt_failed);
        }
        std::size_t uri_length = 0;
        if (options_.encrypt_uri) {
            // Authentic, so only a broken sender gets here; still never read past the end.
            if (pt.size() < 2 || detail::get_u16be(pt.data()) > pt.size() - 2) return make_error_code(errc::decrypt_failed);
            uri_length = detail::get_u16be(pt.data());
        }

        // Replay: only authentic frames reach the cache. xn is random per encryption.
        if (replay_) {
            bytes replay_key(nonce->begin(), nonce->end());
            detail::append(replay_key, as_bytes_view(options_.nonce_field));
            const std::int64_t ts_seconds = detail::get_u32be(ts->data());
            if (std::error_code ec = replay_->insert(replay_key, ts_seconds + options_.freshness_window->count(), now))
                return ec;
        }

        if (options_.encrypt_uri) {
            body.uri.assign(pt.begin() + 2, pt.begin() + 2 + static_cast<std::ptrdiff_t>(uri_length));
            pt.erase(pt.begin(), pt.begin() + 2 + static_cast<std::ptrdiff_t>(uri_length));
        }
        body.content = std::move(pt);
        refresh_header(message);
        return {};
    }

    /// The keys do not depend on the peer (they are fixed by the configuration).
    bool is_peer_specific() const noexcept { return false; }

    /// The settings in use (master and kx secret keys are not retained).
    const xchacha20_poly1305_cipher_options& options() const noexcept { return options_; }
    /// The replay cache in use, or nullptr when replay detection is off.
    const std::shared_ptr<replay_cache>& replay() const noexcept { return replay_; }

    /// AD = label || type || u8 len(direction) || direction || ts [|| u16be len(uri) || uri].
    bytes additional_data(std::uint8_t type, bytes_view direction, bytes_view ts, bytes_view uri) const {
        bytes ad;
        ad.reserve(label.size() + 2 + direction.size() + ts.size() + (options_.encrypt_uri ? 0 : 2 + uri.size()));
        detail::append(ad, as_bytes_view(label));
        ad.push_back(type);
        ad.push_back(static_cast<std::uint8_t>(direction.size()));
        detail::append(ad, direction);
        detail::append(ad, ts);
        if (!options_.encrypt_uri) {
            detail::append_u16be(ad, static_cast<std::uint16_t>(uri.size()));
            detail::append(ad, uri);
        }
        return ad;
    }

private:
    using key = detail::wiped_key<crypto_aead_xchacha20poly1305_ietf_KEYBYTES>;

    static xchacha20_poly1305_cipher_options validated(xchacha20_poly1305_cipher_options o) {
        const bool kx = !o.kx_public_key.empty() || !o.kx_secret_key.empty() || !o.kx_peer_public_key.empty();
        if (kx == !o.master_key.empty())
            detail::bad_config("XChaCha20Poly1305CipherPlugin: give either master_key or the three kx keys");
        if (!kx && o.master_key.size() != crypto_kdf_KEYBYTES)
            detail::bad_config("XChaCha20Poly1305CipherPlugin: master_key must be 32 bytes");
        if (kx) {
            if (o.role == aead_role::peer)
                detail::bad_config("XChaCha20Poly1305CipherPlugin: kx keys need the client or server role");
            if (o.kx_public_key.size() != crypto_kx_PUBLICKEYBYTES || o.kx_secret_key.size() != crypto_kx_SECRETKEYBYTES ||
                o.kx_peer_public_key.size() != crypto_kx_PUBLICKEYBYTES)
                detail::bad_config("XChaCha20Poly1305CipherPlugin: kx keys must be 32 bytes each");
        }
        if (o.role == aead_role::peer && (o.sender_id.empty() || o.sender_id.size() > 255))
            detail::bad_config("XChaCha20Poly1305CipherPlugin: the peer role needs a sender_id of 1-255 bytes");
        if (o.nonce_field.empty() || o.ts_field.empty() || o.sender_field.empty())
            detail::bad_config("XChaCha20Poly1305CipherPlugin: auth field names must not be empty");
        if (o.nonce_field == o.ts_field || o.nonce_field == o.sender_field || o.ts_field == o.sender_field)
            detail::bad_config("XChaCha20Poly1305CipherPlugin: nonce, ts and sender fields must differ");
        detail::validate_window(o.freshness_window, o.shared_replay_cache || o.replay_cache_capacity > 0,
                                "XChaCha20Poly1305CipherPlugin");
        return o;
    }

    void derive_keys() {
        key c2s, s2c;
        if (!options_.master_key.empty()) {
            if (options_.role == aead_role::peer) {
                crypto_kdf_derive_from_key(send_key_.data(), send_key_.size(), 3, kdf_context, options_.master_key.data());
                recv_key_ = send_key_;
                return;
            }
            crypto_kdf_derive_from_key(c2s.data(), c2s.size(), 1, kdf_context, options_.master_key.data());
            crypto_kdf_derive_from_key(s2c.data(), s2c.size(), 2, kdf_context, options_.master_key.data());
        } else if (options_.role == aead_role::client) {
            // rx = k_s2c, tx = k_c2s.
            if (crypto_kx_client_session_keys(s2c.data(), c2s.data(), options_.kx_public_key.data(),
                                              options_.kx_secret_key.data(), options_.kx_peer_public_key.data()) != 0)
                detail::bad_config("XChaCha20Poly1305CipherPlugin: unusable kx_peer_public_key");
        } else {
            // rx = k_c2s, tx = k_s2c.
            if (crypto_kx_server_session_keys(c2s.data(), s2c.data(), options_.kx_public_key.data(),
                                              options_.kx_secret_key.data(), options_.kx_peer_public_key.data()) != 0)
                detail::bad_config("XChaCha20Poly1305CipherPlugin: unusable kx_peer_public_key");
        }
        const bool client = options_.role == aead_role::client;
        send_key_ = client ? c2s : s2c;
        recv_key_ = client ? s2c : c2s;
    }

    bytes_view send_direction() const noexcept {
        switch (options_.role) {
            case aead_role::client: return as_bytes_view("c2s");
            case aead_role::server: return as_bytes_view("s2c");
            case aead_role::peer: break;
        }
        return options_.sender_id;
    }
    // client/server only (the peer role reads the sender's id from the frame).
    bytes_view receive_direction() const noexcept {
        return as_bytes_view(options_.role == aead_role::client ? "s2c" : "c2s");
    }

    // Decrypt and verify `ct` into `pt`; false (pt cleared) when the tag does not verify.
    static bool open(bytes& pt, bytes_view ct, const bytes& ad, bytes_view nonce, const key& k) {
        pt.resize(ct.size() - tag_size);
        unsigned long long pt_size = 0;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt.data(), &pt_size, nullptr, ct.data(), ct.size(), ad.data(),
                                                       ad.size(), nonce.data(), k.data()) != 0) {
            pt.clear();
            return false;
        }
        pt.resize(static_cast<std::size_t>(pt_size));
        return true;
    }

    // Keep the header describing the body (as Sha256StreamCipherPlugin does).
    static void refresh_header(Message& message) noexcept {
        message.header.body_length = static_cast<std::uint16_t>(message.body.size());
        message.header.checksum = message.body_checksum();
    }

    xchacha20_poly1305_cipher_options options_;
    key send_key_;
    key recv_key_;
    std::shared_ptr<replay_cache> replay_;
};

static_assert(CipherPlugin<XChaCha20Poly1305CipherPlugin>);

NETAIO_END_NAMESPACE
