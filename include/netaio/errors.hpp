// netaio/errors.hpp - the one error category of netaio.
//
// Every failure netaio reports is a `netaio::errc` value inside a std::error_code.
// Functions come in two forms: `f(args, std::error_code& ec)` never throws for
// protocol errors, and `f(args)` throws `netaio::error` (a std::system_error).
#pragma once

#include <netaio/version.hpp>

#include <string>
#include <system_error>
#include <type_traits>

NETAIO_BEGIN_NAMESPACE

enum class errc : int {
    // 1-99: frames (header, auth data, body) -------------------------------------
    truncated_frame = 1,      ///< fewer bytes than the header announces
    unknown_message_type,     ///< type byte not in the configured message-type set
    auth_too_large,           ///< auth_length above the configured maximum
    body_too_large,           ///< body_length above the configured maximum
    frame_too_large,          ///< 9 + auth_length + body_length above the maximum
    malformed_auth,           ///< auth data is not a dict of text keys (incl. auth_length 0)
    malformed_body,           ///< body shorter than 2 bytes or uri_length past its end
    checksum_mismatch,        ///< CRC-32 of the body differs from the header
    trailing_bytes,           ///< bytes after the frame in a datagram or whole-frame buffer
    content_too_long,         ///< uri + content exceed the encapsulation limit (65422)
    field_too_large,          ///< auth data or body longer than a u16 length allows
    decoder_failed,           ///< the stream decoder hit a fatal error earlier (stream desynchronised)

    // 100-199: packify --------------------------------------------------------
    packify_empty = 100,      ///< nothing to decode
    packify_truncated,        ///< a length, count or value runs past the end of the input
    packify_unknown_type,     ///< code byte names no packify type
    packify_bad_category,     ///< length category not allowed here (e.g. item category 0x05)
    packify_bad_utf8,         ///< str that is not valid UTF-8
    packify_duplicate,        ///< repeated dict key or set item (strict mode)
    packify_trailing_bytes,   ///< bytes after a value or inside an item slice (strict mode)
    packify_too_deep,         ///< nesting deeper than the configured limit
    packify_too_many_items,   ///< container count or total items above the limit
    packify_too_large,        ///< input larger than the configured limit
    packify_packable,         ///< Packable (type 20): never resolved by class name
    packify_unhashable,       ///< dict key or set item of a type Python cannot hash
    packify_not_encodable,    ///< value cannot be encoded (e.g. int over 255 bytes)
    packify_type_mismatch,    ///< the value is not of the requested type (e.g. a dict entry that is not a pair)
    packify_bad_decimal,      ///< Decimal text that Python's Decimal() would reject

    // 200-299: message types --------------------------------------------------
    invalid_message_type_class = 200,  ///< not a valid message-type set
    missing_default_message_type,      ///< a built-in name is missing
    redefined_default_message_type,    ///< a built-in name has another value
    reserved_message_type,             ///< custom value in the reserved range 0-30
    message_type_out_of_range,         ///< value above 255
    duplicate_message_type_name,       ///< a custom name equals a built-in name

    // 300-399: peers ----------------------------------------------------------
    malformed_peer = 300,     ///< peer record is not a (id, data) pair of bytes/None
    missing_peer_data,        ///< peer data absent where required
    peer_table_full,          ///< peer cap reached
    rate_limited,             ///< too many adverts from one source
    rebinding_refused,        ///< a live peer's id claimed from an address not bound to it

    // 400-499: plugins --------------------------------------------------------
    auth_failed = 400,        ///< MAC / signature / witness did not verify
    missing_auth_field,       ///< a required auth field is absent or not bytes
    bad_auth_field_length,    ///< an auth field has the wrong length
    replayed,                 ///< nonce already seen within the freshness window
    replay_cache_full,        ///< replay cache at capacity (fail closed)
    stale_timestamp,          ///< ts older than the freshness window
    future_timestamp,         ///< ts further in the future than the window allows
    decrypt_failed,           ///< ciphertext did not decrypt / authenticate
    encrypt_failed,           ///< plaintext could not be encrypted (e.g. too long, no peer key)
    reflected,                ///< our own frame came back to us
    insufficient_work,        ///< proof of work below the required difficulty
    bad_plugin_config,        ///< plugin configuration invalid

    // 500-599: network ----------------------------------------------------------
    connection_lost = 500,    ///< the connection closed while an operation waited
    timed_out,                ///< an operation exceeded its deadline
    too_many_pending,         ///< too many outstanding requests on a connection
    not_connected,            ///< no connection for that server key
    queue_full,               ///< outbound queue at capacity
    over_capacity,            ///< connection cap reached
    eof_mid_frame,            ///< the peer closed in the middle of a frame
    frame_timeout,            ///< a frame took longer than the frame deadline
    idle_timeout,             ///< no frame within the idle timeout
    write_timeout,            ///< a write did not complete within the write deadline
    message_too_large,        ///< message exceeds the transport limit (UDP payload)
    not_started,              ///< the node is not running
    stopped,                  ///< the node was stopped
    handler_failed,           ///< a handler threw; an ERROR reply was sent instead
    protocol_errors,          ///< too many bad frames in a row on one connection
    bad_option,               ///< an option value is invalid (unknown interface, bad address...)
    connection_reset,         ///< the peer reset the connection (RST) in the middle of a frame
    handler_timeout,          ///< a coroutine handler outlived its deadline; an ERROR reply was sent instead
    too_many_subscriptions,   ///< a subscription cap (per connection or total topics) refused a subscribe()
    error_reply_suppressed,   ///< an ERROR reply to a bad frame left unsent (max_error_replies per window)
};

namespace detail {

class error_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "netaio"; }

    std::string message(int value) const override {
        switch (static_cast<errc>(value)) {
            case errc::truncated_frame: return "frame truncated";
            case errc::unknown_message_type: return "unknown message type";
            case errc::auth_too_large: return "auth data larger than allowed";
            case errc::body_too_large: return "body larger than allowed";
            case errc::frame_too_large: return "frame larger than allowed";
            case errc::malformed_auth: return "malformed auth data";
            case errc::malformed_body: return "malformed body";
            case errc::checksum_mismatch: return "checksum mismatch";
            case errc::trailing_bytes: return "trailing bytes after the frame";
            case errc::content_too_long: return "content + uri is too long for encapsulation";
            case errc::field_too_large: return "auth data or body longer than 65535 bytes";
            case errc::decoder_failed: return "stream decoder failed earlier";
            case errc::packify_empty: return "packify: empty input";
            case errc::packify_truncated: return "packify: truncated input";
            case errc::packify_unknown_type: return "packify: unknown type code";
            case errc::packify_bad_category: return "packify: invalid length category";
            case errc::packify_bad_utf8: return "packify: invalid UTF-8 in str";
            case errc::packify_duplicate: return "packify: duplicate dict key or set item";
            case errc::packify_trailing_bytes: return "packify: trailing bytes";
            case errc::packify_too_deep: return "packify: nesting too deep";
            case errc::packify_too_many_items: return "packify: too many items";
            case errc::packify_too_large: return "packify: input too large";
            case errc::packify_packable: return "packify: Packable values are not decoded";
            case errc::packify_unhashable: return "packify: unhashable dict key or set item";
            case errc::packify_not_encodable: return "packify: value cannot be encoded";
            case errc::packify_type_mismatch: return "packify: value has another type";
            case errc::packify_bad_decimal: return "packify: invalid Decimal text";
            case errc::invalid_message_type_class: return "invalid message type class";
            case errc::missing_default_message_type: return "message type class is missing a default type";
            case errc::redefined_default_message_type: return "message type class redefines a default type";
            case errc::reserved_message_type: return "message type value in the reserved range 0-30";
            case errc::message_type_out_of_range: return "message type value above the upper limit of 255";
            case errc::duplicate_message_type_name: return "default message type cannot be overwritten";
            case errc::malformed_peer: return "malformed peer record";
            case errc::missing_peer_data: return "peer data missing";
            case errc::peer_table_full: return "peer table full";
            case errc::rate_limited: return "rate limited";
            case errc::rebinding_refused: return "peer id claimed from another address";
            case errc::auth_failed: return "authentication failed";
            case errc::missing_auth_field: return "required auth field missing";
            case errc::bad_auth_field_length: return "auth field has the wrong length";
            case errc::replayed: return "replayed message";
            case errc::replay_cache_full: return "replay cache full";
            case errc::stale_timestamp: return "timestamp too old";
            case errc::future_timestamp: return "timestamp too far in the future";
            case errc::decrypt_failed: return "decryption failed";
            case errc::encrypt_failed: return "encryption failed";
            case errc::reflected: return "reflected message";
            case errc::insufficient_work: return "insufficient proof of work";
            case errc::bad_plugin_config: return "invalid plugin configuration";
            case errc::connection_lost: return "connection lost";
            case errc::timed_out: return "timed out";
            case errc::too_many_pending: return "too many pending requests";
            case errc::not_connected: return "not connected";
            case errc::queue_full: return "outbound queue full";
            case errc::over_capacity: return "over capacity";
            case errc::eof_mid_frame: return "connection closed in the middle of a frame";
            case errc::frame_timeout: return "frame deadline exceeded";
            case errc::idle_timeout: return "idle timeout";
            case errc::write_timeout: return "write deadline exceeded";
            case errc::message_too_large: return "message too large for the transport";
            case errc::not_started: return "node not started";
            case errc::stopped: return "node stopped";
            case errc::handler_failed: return "handler failed";
            case errc::protocol_errors: return "too many bad frames in a row";
            case errc::connection_reset: return "connection reset by peer in the middle of a frame";
            case errc::bad_option: return "invalid option";
            case errc::handler_timeout: return "handler deadline exceeded";
            case errc::too_many_subscriptions: return "too many subscriptions";
            case errc::error_reply_suppressed: return "error reply suppressed (reply rate limit)";
        }
        return "netaio error " + std::to_string(value);
    }
};

}  // namespace detail

/// The netaio error category (a single instance for the whole program).
inline const std::error_category& error_category() noexcept {
    static const detail::error_category_impl instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

/// The exception thrown by the throwing forms of netaio functions.
class error : public std::system_error {
public:
    explicit error(std::error_code ec) : std::system_error(ec) {}
    error(std::error_code ec, const std::string& what) : std::system_error(ec, what) {}
    explicit error(errc e) : std::system_error(make_error_code(e)) {}
    error(errc e, const std::string& what) : std::system_error(make_error_code(e), what) {}
};

namespace detail {
/// Throw netaio::error when `ec` holds an error.
inline void throw_if(const std::error_code& ec) {
    if (ec) throw error(ec);
}
}  // namespace detail

NETAIO_END_NAMESPACE

template <>
struct std::is_error_code_enum<netaio::errc> : std::true_type {};
