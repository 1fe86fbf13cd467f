// netaio/detail/modern_plugin_support.hpp - what the modern opt-in plugins
// (Ed25519AuthPlugin, XChaCha20Poly1305CipherPlugin, HashcashAuthPlugin) share:
// the ts/nonce reuse rule, the freshness check, fixed-size keys read from JSON,
// and key storage that is wiped when the plugin dies. Reading and validating the
// freshness window (config_window, validate_window) is in plugin_config.hpp,
// shared with the older plugins.
//
// Reuse rule: make()/encrypt() keep an existing ts of exactly 4 bytes (and an
// existing 16-byte nonce where the plugin has one) instead of drawing new ones,
// as HMACAuthPlugin does (PROTOCOL §6). Layers that share the field names
// ("nonce", "ts") then agree on the values, so an outer layer never invalidates
// what an inner layer signed.
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/detail/plugin_config.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/random.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Length of the ts auth field of the modern plugins (u32be Unix seconds).
inline constexpr std::size_t modern_ts_size = 4;

/// A fixed-size secret zeroed (sodium_memzero) when destroyed or overwritten.
template <std::size_t N>
class wiped_key {
public:
    wiped_key() noexcept { bytes_.fill(0); }
    wiped_key(const wiped_key& other) noexcept : bytes_(other.bytes_) {}
    wiped_key& operator=(const wiped_key& other) noexcept {
        bytes_ = other.bytes_;
        return *this;
    }
    ~wiped_key() { sodium_memzero(bytes_.data(), bytes_.size()); }

    std::uint8_t* data() noexcept { return bytes_.data(); }
    const std::uint8_t* data() const noexcept { return bytes_.data(); }
    static constexpr std::size_t size() noexcept { return N; }
    bytes_view view() const noexcept { return bytes_view(bytes_.data(), N); }

private:
    std::array<std::uint8_t, N> bytes_;
};

/// The ts make() writes: an existing `field` holding exactly 4 bytes is reused
/// (reuse rule), otherwise the clock's time. Throws netaio::error
/// (errc::bad_auth_field_length) when the clock is outside the u32 range.
inline std::array<std::uint8_t, modern_ts_size> ts_for_make(const AuthFields& fields, std::string_view field,
                                                            const clock_source& clock, const char* plugin) {
    std::array<std::uint8_t, modern_ts_size> ts{};
    if (auto existing = fields.get_bytes(field); existing && existing->size() == modern_ts_size) {
        std::copy(existing->begin(), existing->end(), ts.begin());
        return ts;
    }
    const std::int64_t now = clock.now();
    if (now < 0 || now > 0xFFFFFFFF)
        throw error(errc::bad_auth_field_length, std::string(plugin) + ": clock outside the u32 ts range");
    put_u32be(ts.data(), static_cast<std::uint32_t>(now));
    return ts;
}

/// The nonce make() writes: an existing `field` of exactly `size` bytes (reuse
/// rule), otherwise `size` fresh random bytes.
inline bytes nonce_for_make(const AuthFields& fields, std::string_view field, std::size_t size,
                            const random_source& random) {
    if (auto existing = fields.get_bytes(field); existing && existing->size() == size)
        return bytes(existing->begin(), existing->end());
    return random.random_bytes(size);
}

/// Whether a received ts (4 bytes, u32be) is within [now - window, now + window].
/// `now` is the caller's clock reading, so one reading serves the window and the
/// replay cache.
inline std::error_code check_freshness(bytes_view ts, std::int64_t now, std::chrono::seconds window) noexcept {
    const std::int64_t t = get_u32be(ts.data());
    if (t < now - window.count()) return make_error_code(errc::stale_timestamp);
    if (t > now + window.count()) return make_error_code(errc::future_timestamp);
    return {};
}

/// A key of exactly `size` bytes from a JSON value: hex text (2 * size digits), an
/// array of byte values or json::binary. Keys are random bytes, so unlike secrets
/// they are never read as UTF-8 text. Throws errc::bad_plugin_config naming `what`.
inline bytes key_from_json(const nlohmann::json& value, std::size_t size, const std::string& what) {
    bytes out;
    if (value.is_string()) {
        try {
            out = from_hex(value.get_ref<const std::string&>());
        } catch (const std::invalid_argument&) {
            bad_config(what + " must be hexadecimal text");
        }
    } else if (value.is_binary()) {
        out.assign(value.get_binary().begin(), value.get_binary().end());
    } else if (value.is_array()) {
        for (const auto& element : value) {
            if (!element.is_number_integer() || element.get<std::int64_t>() < 0 || element.get<std::int64_t>() > 255)
                bad_config(what + ": bytes must be numbers 0-255");
            out.push_back(static_cast<std::uint8_t>(element.get<std::int64_t>()));
        }
    } else {
        bad_config(what + " must be hexadecimal text, a byte array or binary");
    }
    if (out.size() != size) bad_config(what + " must be " + std::to_string(size) + " bytes");
    return out;
}

/// The optional key setting `key` of `config` (see key_from_json).
inline std::optional<bytes> config_key(const nlohmann::json& config, const char* key, std::size_t size) {
    auto it = config.find(key);
    if (it == config.end()) return std::nullopt;
    return key_from_json(*it, size, std::string("\"") + key + "\"");
}

}  // namespace detail
NETAIO_END_NAMESPACE
