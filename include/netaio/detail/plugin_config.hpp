// netaio/detail/plugin_config.hpp - reading plugin settings from a JSON object.
//
// Python netaio configures plugins with a dict such as {"secret": "...",
// "hmac_field": "mac"}. The C++ plugins accept the same keys in an
// nlohmann::json object. Python lets a secret be str (UTF-8 encoded) or bytes;
// JSON has no bytes, so bytes are given as an array of numbers 0-255 or as a
// json::binary value. Every malformed setting throws
// netaio::error(errc::bad_plugin_config) naming the key. The freshness window
// every replay-protected plugin takes is read and validated here too.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

NETAIO_BEGIN_NAMESPACE
namespace detail {

[[noreturn]] inline void bad_config(const std::string& what) { throw error(errc::bad_plugin_config, what); }

inline void require_config_object(const nlohmann::json& config, const char* plugin) {
    if (!config.is_object()) bad_config(std::string(plugin) + ": configuration must be a JSON object");
}

/// A text or bytes setting: string (UTF-8), array of 0-255 numbers, or json::binary.
/// Returns nullopt when the key is absent.
inline std::optional<bytes> config_bytes(const nlohmann::json& config, const char* key) {
    auto it = config.find(key);
    if (it == config.end()) return std::nullopt;
    if (it->is_string()) return to_bytes(it->get_ref<const std::string&>());
    if (it->is_binary()) return bytes(it->get_binary().begin(), it->get_binary().end());
    if (it->is_array()) {
        bytes out;
        out.reserve(it->size());
        for (const auto& element : *it) {
            if (!element.is_number_integer() || element.get<std::int64_t>() < 0 || element.get<std::int64_t>() > 255)
                bad_config(std::string("\"") + key + "\": bytes must be numbers 0-255");
            out.push_back(static_cast<std::uint8_t>(element.get<std::int64_t>()));
        }
        return out;
    }
    bad_config(std::string("\"") + key + "\" must be text, a byte array or binary");
}

/// A text setting (an auth field name); `fallback` when absent. Empty names are refused.
inline std::string config_string(const nlohmann::json& config, const char* key, const std::string& fallback) {
    auto it = config.find(key);
    if (it == config.end()) return fallback;
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
        bad_config(std::string("\"") + key + "\" must be a non-empty string");
    return it->get<std::string>();
}

/// A boolean setting; `fallback` when absent.
inline bool config_bool(const nlohmann::json& config, const char* key, bool fallback) {
    auto it = config.find(key);
    if (it == config.end()) return fallback;
    if (!it->is_boolean()) bad_config(std::string("\"") + key + "\" must be true or false");
    return it->get<bool>();
}

/// A non-negative integer setting; `fallback` when absent.
inline std::uint64_t config_count(const nlohmann::json& config, const char* key, std::uint64_t fallback) {
    auto it = config.find(key);
    if (it == config.end()) return fallback;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer() && it->get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(it->get<std::int64_t>());
    bad_config(std::string("\"") + key + "\" must be a non-negative integer");
}

/// Refuse a freshness window outside [0, 2^32 - 1] s (now +/- window must not overflow)
/// and a replay cache without a window (entries expire when their ts leaves it).
inline void validate_window(const std::optional<std::chrono::seconds>& window, bool replay_cache_on, const char* plugin) {
    if (window && (window->count() < 0 || window->count() > 0xFFFFFFFF))
        bad_config(std::string(plugin) + ": freshness_window must be between 0 and 2^32 - 1 seconds");
    if (replay_cache_on && !window)
        bad_config(std::string(plugin) + ": the replay cache needs a freshness window to expire entries");
}

/// Read "freshness_window" (seconds, or null to disable) into `window` when present.
inline void config_window(const nlohmann::json& config, std::optional<std::chrono::seconds>& window) {
    auto it = config.find("freshness_window");
    if (it == config.end()) return;
    if (it->is_null()) {
        window.reset();
        return;
    }
    window = std::chrono::seconds{static_cast<std::chrono::seconds::rep>(config_count(config, "freshness_window", 0))};
}

}  // namespace detail
NETAIO_END_NAMESPACE
