// netaio/detail/pipeline.hpp - applying the plugin layers in netaio's order (PROTOCOL §9.1).
//
//   send:    inner cipher encrypt, inner auth make, outer cipher encrypt, outer auth make
//   receive: outer auth check, outer cipher decrypt, inner auth check, inner cipher decrypt
//
// Each auth layer covers the body as it exists at that layer, so the outer MAC
// covers the outer ciphertext; auth fields accumulate across layers.
#pragma once

#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/plugin.hpp>
#include <netaio/version.hpp>

#include <cctype>
#include <cstdint>
#include <optional>
#include <string_view>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// `ctx` with plugin_context::message_type set to `m`'s type: auth plugins see only
/// the fields and the body, and some bind the type (Ed25519AuthPlugin).
inline plugin_context typed_context(const plugin_context& ctx, const Message& m) noexcept {
    plugin_context typed = ctx;
    typed.message_type = static_cast<std::uint8_t>(m.type());
    return typed;
}

/// Apply one layer's send half (cipher, then auth). Throws netaio::error.
inline void seal_layer(Message& m, const handler_plugins& layer, const plugin_context& ctx) {
    if (layer.cipher) layer.cipher.encrypt(m, ctx);
    if (layer.auth) layer.auth.make(m.auth_data, m.body, typed_context(ctx, m));
}

/// The full send pipeline: the inner layer, then the outer one. Throws netaio::error.
inline void seal(Message& m, const handler_plugins* inner, const handler_plugins* outer, const plugin_context& ctx) {
    if (inner) seal_layer(m, *inner, ctx);
    if (outer) seal_layer(m, *outer, ctx);
}

/// What happened when one receive layer was applied.
struct open_result {
    std::error_code error;                 ///< empty: the layer verified and decrypted
    const any_auth_plugin* failed_auth = nullptr;  ///< set when the auth check failed
    explicit operator bool() const noexcept { return !error; }
};

/// Apply one layer's receive half (auth check, then decrypt) in place.
inline open_result open_layer(Message& m, const handler_plugins& layer, const plugin_context& ctx) {
    if (layer.auth) {
        if (std::error_code ec = layer.auth.check(m.auth_data, m.body, typed_context(ctx, m)))
            return {ec, &layer.auth};
    }
    if (layer.cipher) {
        if (std::error_code ec = layer.cipher.decrypt(m, ctx)) return {ec, nullptr};
    }
    return {};
}

/// Name of a type value in the enum E ("" if unnamed).
template <message_type_enum E>
std::string_view message_type_name(std::uint8_t value) {
    for (const auto& e : message_type_traits<E>::entries)
        if (entry_value(e) == value) return e.name;
    return {};
}

inline bool contains_error_ignoring_case(std::string_view name) {
    constexpr std::string_view needle = "error";
    if (name.size() < needle.size()) return false;
    for (std::size_t i = 0; i + needle.size() <= name.size(); ++i) {
        bool match = true;
        for (std::size_t j = 0; j < needle.size() && match; ++j)
            match = std::tolower(static_cast<unsigned char>(name[i + j])) == needle[j];
        if (match) return true;
    }
    return false;
}

}  // namespace detail

/// netaio's default auth-error handler (BEHAVIOUR B14): no reply to a message whose
/// type name contains "ERROR" (no error ping-pong), else the failing plugin's error().
template <message_type_enum E = MessageType>
std::optional<Message> default_auth_error_reply(const any_auth_plugin& failing, const Message& received) {
    if (detail::contains_error_ignoring_case(detail::message_type_name<E>(static_cast<std::uint8_t>(received.type()))))
        return std::nullopt;
    return failing.error();
}

NETAIO_END_NAMESPACE
