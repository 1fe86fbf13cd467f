// netaio/sha256_stream_cipher_plugin.hpp - netaio's Sha256StreamCipherPlugin (PROTOCOL.md §7).
//
// Byte-exact with Python netaio 0.0.9:
//   Kc        = sha256(key)
//   plaintext = [u16be(len(uri)) || uri, when encrypt_uri] || content
//   ct        = plaintext XOR keystream(Kc, iv), iv = 16 random bytes in auth field "iv"
//   encrypt_uri: the wire uri/content are ct split at a random point in [1, len(ct) - 1]
//   otherwise:   the uri stays in clear and content = ct
// The cipher is UNAUTHENTICATED (no MAC, IV outside any MAC): pair it with an auth
// plugin. Decryption is stricter than Python: a missing or non-16-byte iv, a
// ciphertext too short for the uri length, or a decrypted uri length running past
// the plaintext is errc::decrypt_failed (Python slices silently).
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/crypto.hpp>
#include <netaio/detail/cipher_body.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/errors.hpp>
#include <netaio/message.hpp>
#include <netaio/plugin.hpp>
#include <netaio/random.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Settings of Sha256StreamCipherPlugin (Python's config dict plus C++ knobs).
struct sha256_stream_cipher_options {
    /// The shared key (Python "key": str is UTF-8 encoded, bytes used as is).
    bytes key;
    std::string iv_field = "iv";  ///< auth field carrying the 16-byte IV
    bool encrypt_uri = true;      ///< encrypt the uri too (it then carries ciphertext)
    /// Refuse shorter keys at construction (errc::bad_plugin_config); 0 accepts any.
    std::size_t min_key_length = 16;
    random_source random;  ///< IVs and the uri/content split point

    /// Accept any key length, as Python does.
    sha256_stream_cipher_options& python_semantics() & {
        min_key_length = 0;
        return *this;
    }
    sha256_stream_cipher_options&& python_semantics() && { return std::move(python_semantics()); }

    /// Read Python's config keys ("key" required; "iv_field", "encrypt_uri") plus
    /// "python_semantics" (bool, applied first) and "min_key_length" (count). The
    /// key may be text, an array of byte values or json::binary.
    /// Throws netaio::error(errc::bad_plugin_config).
    static sha256_stream_cipher_options from_json(const nlohmann::json& config) {
        detail::require_config_object(config, "Sha256StreamCipherPlugin");
        sha256_stream_cipher_options o;
        if (detail::config_bool(config, "python_semantics", false)) o.python_semantics();
        std::optional<bytes> key = detail::config_bytes(config, "key");
        if (!key) detail::bad_config("Sha256StreamCipherPlugin: \"key\" is required");
        o.key = std::move(*key);
        o.iv_field = detail::config_string(config, "iv_field", o.iv_field);
        o.encrypt_uri = detail::config_bool(config, "encrypt_uri", o.encrypt_uri);
        o.min_key_length = static_cast<std::size_t>(detail::config_count(config, "min_key_length", o.min_key_length));
        return o;
    }
};

/// netaio's SHA-256 keystream cipher plugin (satisfies CipherPlugin).
class Sha256StreamCipherPlugin {
public:
    /// Throws netaio::error(errc::bad_plugin_config) for an invalid configuration.
    explicit Sha256StreamCipherPlugin(sha256_stream_cipher_options options)
        : options_(validated(std::move(options))), key_(crypto::sha256(options_.key)), prepared_(key_) {
        // Only Kc is needed from here on; do not keep the raw key around.
        sodium_memzero(options_.key.data(), options_.key.size());
        options_.key.clear();
    }
    Sha256StreamCipherPlugin(const Sha256StreamCipherPlugin&) = default;
    Sha256StreamCipherPlugin(Sha256StreamCipherPlugin&&) = default;
    Sha256StreamCipherPlugin& operator=(const Sha256StreamCipherPlugin&) = default;
    Sha256StreamCipherPlugin& operator=(Sha256StreamCipherPlugin&&) = default;
    /// Kc is wiped, not just freed (prepared_ wipes itself).
    ~Sha256StreamCipherPlugin() { sodium_memzero(key_.data(), key_.size()); }

    /// Configure from a Python-style dict (see sha256_stream_cipher_options::from_json).
    explicit Sha256StreamCipherPlugin(const nlohmann::json& config)
        : Sha256StreamCipherPlugin(sha256_stream_cipher_options::from_json(config)) {}

    /// Encrypt the body in place and set the iv field (overwriting any old value).
    ///
    /// Throws netaio::error(errc::content_too_long) when the resulting body would
    /// exceed Body::prepare's limit (checked before any randomness is drawn), or
    /// errc::field_too_large for a uri over 65535 bytes.
    void encrypt(Message& message, const plugin_context& = {}) const {
        Body& body = message.body;
        const std::size_t wire_payload =
            options_.encrypt_uri ? 2 + body.uri.size() + body.content.size() : body.uri.size() + body.content.size();
        if (options_.encrypt_uri && body.uri.size() > 0xFFFF)
            throw netaio::error(errc::field_too_large, "Sha256StreamCipherPlugin: uri over 65535 bytes");
        if (wire_payload > max_body_payload())
            throw netaio::error(errc::content_too_long, "Content + uri is too long for encapsulation");

        // Random draws in Python's order (iv, then the split point), all before the
        // body changes, so a throwing random source leaves the message as it was.
        std::array<std::uint8_t, crypto::iv_size> iv;
        options_.random.fill_bytes(iv);
        if (options_.encrypt_uri) {
            // The plaintext has a 2-byte prefix, so wire_payload >= 2 and [1, len-1] is never empty.
            const std::size_t split = detail::draw_split_point(wire_payload, options_.random);
            detail::move_uri_into_content(body);
            crypto::symcrypt_in_place(prepared_, iv, body.content);
            detail::cut_content_at(body, split);
        } else {
            crypto::symcrypt_in_place(prepared_, iv, body.content);
        }
        message.auth_data.set(options_.iv_field, bytes_view(iv));
        refresh_header(message);
    }

    /// Decrypt the body in place (the iv field stays). Returns errc::decrypt_failed
    /// and leaves the message unchanged when the iv is missing or not 16 bytes, or
    /// (encrypt_uri) the plaintext is shorter than 2 bytes or its uri length runs past it.
    std::error_code decrypt(Message& message, const plugin_context& = {}) const {
        const auto iv = message.auth_data.get_bytes(options_.iv_field);
        if (!iv || iv->size() != crypto::iv_size) return make_error_code(errc::decrypt_failed);
        Body& body = message.body;
        if (options_.encrypt_uri) {
            if (body.uri.size() + body.content.size() < 2) return make_error_code(errc::decrypt_failed);
            // Decrypted in the content buffer; the wire uri stays until the plaintext checks out.
            detail::join_uri_into_content(body);
            crypto::symcrypt_in_place(prepared_, *iv, body.content);
            if (!detail::restore_uri_from_content(body)) {
                undo_join(body, *iv);
                return make_error_code(errc::decrypt_failed);
            }
        } else {
            crypto::symcrypt_in_place(prepared_, *iv, body.content);
        }
        refresh_header(message);
        return {};
    }

    /// The keystream does not depend on the peer.
    bool is_peer_specific() const noexcept { return false; }

    /// Kc = sha256(key), the key handed to crypto::symcrypt.
    const crypto::digest& plugin_key() const noexcept { return key_; }
    /// The settings in use (the key itself is not retained).
    const sha256_stream_cipher_options& options() const noexcept { return options_; }

private:
    static sha256_stream_cipher_options validated(sha256_stream_cipher_options o) {
        if (o.key.size() < o.min_key_length)
            detail::bad_config("Sha256StreamCipherPlugin: key shorter than min_key_length (" +
                               std::to_string(o.min_key_length) + " bytes); use a longer key or set min_key_length = 0");
        if (o.iv_field.empty()) detail::bad_config("Sha256StreamCipherPlugin: iv_field must not be empty");
        return o;
    }

    // Back to the received body after a failed decryption: the keystream XOR is its
    // own inverse, and the content then starts with the (unchanged) wire uri.
    void undo_join(Body& body, bytes_view iv) const {
        crypto::symcrypt_in_place(prepared_, iv, body.content);
        body.content.erase(body.content.begin(), body.content.begin() + static_cast<std::ptrdiff_t>(body.uri.size()));
    }

    // Keep the header describing the body, as Python's Message.prepare does for the
    // message it returns. (Encoding recomputes these anyway.)
    static void refresh_header(Message& message) noexcept {
        message.header.body_length = static_cast<std::uint16_t>(message.body.size());
        message.header.checksum = message.body_checksum();
    }

    sha256_stream_cipher_options options_;
    crypto::digest key_;             // Kc = sha256(key)
    crypto::prepared_key prepared_;  // Kc with sha256(Kc) cached
};

static_assert(CipherPlugin<Sha256StreamCipherPlugin>);

NETAIO_END_NAMESPACE
