// netaio/message.hpp - netaio's message: header, auth fields and body (PROTOCOL §1).
//
//     frame = header (9 bytes) || auth data (packify dict) || body
//     header = u8 type || u16be auth_length || u16be body_length || u32be crc32(body)
//     body   = u16be uri_length || uri || content
//
//     Message m = Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI);
//     bytes wire = m.encode();          // 07 0003 000b 9b359cb3 | 4d4000 | 0004 "echo" "hello"
//     Message back = Message::decode(wire);
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/detail/crc32.hpp>
#include <netaio/errors.hpp>
#include <netaio/message_type.hpp>
#include <netaio/version.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

NETAIO_BEGIN_NAMESPACE

/// Size of the fixed header.
inline constexpr std::size_t header_size = 9;
/// netaio's fixed allowance for IP/UDP encapsulation in the body size limit.
inline constexpr std::size_t encapsulation_allowance = 104;

/// Largest len(uri) + len(content) that Body::prepare accepts (65422 with overhead 0).
constexpr std::size_t max_body_payload(std::size_t overhead = 0) noexcept {
    constexpr std::size_t limit = 65536 - header_size - encapsulation_allowance;  // exclusive bound
    return overhead >= limit ? 0 : limit - overhead - 1;
}

/// Anything that is bytes: text (taken as UTF-8), std::string, bytes, a bytes view.
/// Used for uri/content parameters so callers can pass "echo" or a buffer alike.
struct byte_source {
    bytes_view view;
    byte_source(const char* text) : view(as_bytes_view(text)) {}              // NOLINT
    byte_source(std::string_view text) : view(as_bytes_view(text)) {}         // NOLINT
    byte_source(const std::string& text) : view(as_bytes_view(text)) {}       // NOLINT
    byte_source(const bytes& data) : view(data) {}                            // NOLINT
    byte_source(bytes_view data) : view(data) {}                              // NOLINT
    bytes to_bytes() const { return bytes(view.begin(), view.end()); }
};

struct Header {
    MessageType message_type = MessageType::REQUEST_URI;
    std::uint16_t auth_length = 0;
    std::uint16_t body_length = 0;
    std::uint32_t checksum = 0;

    void encode_into(std::uint8_t* out) const noexcept {
        out[0] = static_cast<std::uint8_t>(message_type);
        detail::put_u16be(out + 1, auth_length);
        detail::put_u16be(out + 3, body_length);
        detail::put_u32be(out + 5, checksum);
    }
    bytes encode() const {
        bytes out(header_size);
        encode_into(out.data());
        return out;
    }
    /// Decode the first 9 bytes; the type must be in `types` (errc::unknown_message_type).
    static Header decode(bytes_view data, const message_type_set& types, std::error_code& ec) {
        Header h;
        if (data.size() < header_size) {
            ec = make_error_code(errc::truncated_frame);
            return h;
        }
        if (!types.contains(data[0])) {
            ec = make_error_code(errc::unknown_message_type);
            return h;
        }
        h.message_type = static_cast<MessageType>(data[0]);
        h.auth_length = detail::get_u16be(data.data() + 1);
        h.body_length = detail::get_u16be(data.data() + 3);
        h.checksum = detail::get_u32be(data.data() + 5);
        ec.clear();
        return h;
    }
    friend bool operator==(const Header&, const Header&) = default;
};

struct Body {
    // Constructors rather than aggregate initialisation: GCC 12 destroys aggregate
    // temporaries twice inside co_await expressions.
    Body() = default;
    Body(bytes u, bytes c) : uri(std::move(u)), content(std::move(c)) {}

    bytes uri;
    bytes content;

    std::size_t size() const noexcept { return 2 + uri.size() + content.size(); }

    /// Python's Body.prepare: fails (errc::content_too_long) when
    /// len(content) + len(uri) > max_body_payload(overhead).
    static Body prepare(byte_source content, byte_source uri, std::size_t overhead, std::error_code& ec) {
        if (content.view.size() + uri.view.size() > max_body_payload(overhead)) {
            ec = make_error_code(errc::content_too_long);
            return {};
        }
        ec.clear();
        return Body{uri.to_bytes(), content.to_bytes()};
    }
    static Body prepare(byte_source content, byte_source uri = std::string_view(), std::size_t overhead = 0) {
        std::error_code ec;
        Body b = prepare(content, uri, overhead, ec);
        detail::throw_if(ec);
        return b;
    }

    /// Append u16be uri_length || uri || content. The uri must fit 16 bits.
    void encode_into(bytes& out) const {
        detail::append_u16be(out, static_cast<std::uint16_t>(uri.size()));
        detail::append(out, uri);
        detail::append(out, content);
    }
    bytes encode() const {
        bytes out;
        out.reserve(size());
        encode_into(out);
        return out;
    }
    /// Decode a whole body: at least 2 bytes, uri_length within it (errc::malformed_body).
    static Body decode(bytes_view data, std::error_code& ec) {
        Body b;
        b.assign(data, ec);
        return b;
    }
    /// Decode a whole body into this one, reusing the capacity of uri and content
    /// (the receive path decodes every frame into one recycled message). On error
    /// this body is left unchanged.
    void assign(bytes_view data, std::error_code& ec) {
        const std::size_t uri_length = data.size() < 2 ? 0 : detail::get_u16be(data.data());
        if (data.size() < 2 || uri_length > data.size() - 2) {
            ec = make_error_code(errc::malformed_body);
            return;
        }
        ec.clear();
        const auto uri_begin = data.begin() + 2;
        const auto uri_end = uri_begin + static_cast<std::ptrdiff_t>(uri_length);
        uri.assign(uri_begin, uri_end);
        content.assign(uri_end, data.end());
    }
    friend bool operator==(const Body&, const Body&) = default;
};

namespace detail {

/// Set a body's uri and content to copies of the views, reusing its buffers. The
/// views may point into the body itself (then the copies go through new buffers).
inline void assign_body(Body& body, bytes_view uri, bytes_view content) {
    if (overlaps(uri, body.uri) || overlaps(uri, body.content) || overlaps(content, body.uri) ||
        overlaps(content, body.content)) {
        Body copy(bytes(uri.begin(), uri.end()), bytes(content.begin(), content.end()));
        std::swap(body, copy);
        return;
    }
    body.uri.assign(uri.begin(), uri.end());
    body.content.assign(content.begin(), content.end());
}

}  // namespace detail

struct Message {
    Message() = default;  // not an aggregate (see Body)
    Message(Header h, AuthFields a, Body b) : header(h), auth_data(std::move(a)), body(std::move(b)) {}

    Header header;
    AuthFields auth_data;
    Body body;

    /// Python's Message.prepare: header computed from the body.
    static Message prepare(Body body, MessageType type, AuthFields auth_data = {}) {
        Message m{Header{type, 0, 0, 0}, std::move(auth_data), std::move(body)};
        m.header.body_length = static_cast<std::uint16_t>(m.body.size());
        m.header.checksum = m.body_checksum();
        return m;
    }
    template <message_type_enum E>
    static Message prepare(Body body, E type, AuthFields auth_data = {}) {
        return prepare(std::move(body), static_cast<MessageType>(static_cast<std::uint8_t>(type)), std::move(auth_data));
    }

    MessageType type() const noexcept { return header.message_type; }
    /// The type as a custom enum.
    template <message_type_enum E>
    E type_as() const noexcept {
        return static_cast<E>(static_cast<std::uint8_t>(header.message_type));
    }

    /// CRC-32 of the body bytes as they are framed (u16 uri length, uri, content).
    std::uint32_t body_checksum() const noexcept {
        std::uint8_t len[2];
        detail::put_u16be(len, static_cast<std::uint16_t>(body.uri.size()));
        std::uint32_t crc = detail::crc32(bytes_view(len, 2));
        crc = detail::crc32(body.uri, crc);
        return detail::crc32(body.content, crc);
    }

    /// Append the frame to `out`. Lengths and checksum are recomputed from the auth
    /// data and body (as Python does); errc::field_too_large when either part
    /// exceeds 65535 bytes.
    void encode_into(bytes& out, std::error_code& ec) const {
        const std::size_t start = out.size();
        out.resize(start + header_size);
        auth_data.encode_into(out, ec);
        if (ec) {
            out.resize(start);
            return;
        }
        const std::size_t auth_length = out.size() - start - header_size;
        if (auth_length > 0xFFFF || body.uri.size() > 0xFFFF || body.size() > 0xFFFF) {
            out.resize(start);
            ec = make_error_code(errc::field_too_large);
            return;
        }
        const std::size_t body_start = out.size();
        body.encode_into(out);
        // One CRC pass over the contiguous encoded body (not three over its parts).
        const std::uint32_t checksum = detail::crc32(bytes_view(out).subspan(body_start));
        Header h{header.message_type, static_cast<std::uint16_t>(auth_length), static_cast<std::uint16_t>(body.size()),
                 checksum};
        h.encode_into(out.data() + start);
    }
    bytes encode() const {
        bytes out;
        out.reserve(header_size + 64 + body.size());
        std::error_code ec;
        encode_into(out, ec);
        detail::throw_if(ec);
        return out;
    }

    /// Decode exactly one whole frame (see decode_frame): the whole buffer must be
    /// the frame. Python's helper of the same name ignores body_length and takes
    /// all remaining bytes as the body; here a length that disagrees with the
    /// buffer is an error (errc::truncated_frame or errc::trailing_bytes).
    static Message decode(bytes_view data, std::error_code& ec, const message_type_set& types = {});
    static Message decode(bytes_view data, const message_type_set& types = {}) {
        std::error_code ec;
        Message m = decode(data, ec, types);
        detail::throw_if(ec);
        return m;
    }

    friend bool operator==(const Message&, const Message&) = default;
};

/// Caps applied to frames from the network, checked from the header before any
/// allocation. Defaults accept everything netaio 0.0.9 can produce except auth data
/// above 8 KiB (its plugins use under 300 bytes).
struct frame_limits {
    std::size_t max_auth_bytes = 8192;    ///< auth_length cap (protocol maximum 65535)
    std::size_t max_body_bytes = 65535;   ///< body_length cap
    std::size_t max_frame_bytes = header_size + 65535 + 65535;  ///< 9 + auth + body cap
    packify::decode_options auth_decoding = auth_decode_options();
};

namespace detail {

/// Check a decoded header against the limits and the protocol's own minimums
/// (auth data is at least the 3 bytes of an empty dict; a body at least its
/// 2-byte uri length). These need no more bytes than the header.
inline std::error_code check_header(const Header& h, const frame_limits& limits) {
    if (h.auth_length > limits.max_auth_bytes) return make_error_code(errc::auth_too_large);
    if (h.body_length > limits.max_body_bytes) return make_error_code(errc::body_too_large);
    if (header_size + h.auth_length + h.body_length > limits.max_frame_bytes) return make_error_code(errc::frame_too_large);
    if (h.auth_length == 0) return make_error_code(errc::malformed_auth);
    if (h.body_length < 2) return make_error_code(errc::malformed_body);
    return {};
}

}  // namespace detail

/// Decode one frame that occupies exactly `data` (a datagram, or a buffer holding
/// one frame). Errors, in the order they are detected: truncated_frame,
/// unknown_message_type, auth_too_large / body_too_large / frame_too_large,
/// malformed_auth, malformed_body, truncated_frame / trailing_bytes (length
/// mismatch), checksum_mismatch.
inline Message decode_frame(bytes_view data, const frame_limits& limits, const message_type_set& types,
                            std::error_code& ec, std::error_code* auth_cause = nullptr) {
    Message m;
    m.header = Header::decode(data, types, ec);
    if (ec) return {};
    if ((ec = detail::check_header(m.header, limits))) return {};
    const std::size_t auth_end = header_size + m.header.auth_length;
    const std::size_t frame_end = auth_end + m.header.body_length;
    if (data.size() < auth_end) {
        ec = make_error_code(errc::truncated_frame);
        return {};
    }
    m.auth_data = AuthFields::decode(data.subspan(header_size, m.header.auth_length), limits.auth_decoding, ec, auth_cause);
    if (ec) return {};
    if (data.size() != frame_end) {
        ec = make_error_code(data.size() < frame_end ? errc::truncated_frame : errc::trailing_bytes);
        return {};
    }
    m.body = Body::decode(data.subspan(auth_end), ec);
    if (ec) return {};
    if (detail::crc32(data.subspan(auth_end)) != m.header.checksum) {
        ec = make_error_code(errc::checksum_mismatch);
        return {};
    }
    ec.clear();
    return m;
}

inline Message Message::decode(bytes_view data, std::error_code& ec, const message_type_set& types) {
    return decode_frame(data, frame_limits{}, types, ec);
}

// ---- message helpers (Python: make_ok_msg, make_error_msg, ...) -----------------

/// OK with optional content and uri.
inline Message make_ok_msg(byte_source content = std::string_view(), byte_source uri = std::string_view()) {
    return Message::prepare(Body::prepare(content, uri), MessageType::OK);
}

/// RESPOND_URI carrying `content` for `uri`.
inline Message make_respond_uri_msg(byte_source content, byte_source uri) {
    return Message::prepare(Body::prepare(content, uri), MessageType::RESPOND_URI);
}

/// Turn a received message into a reply of `type` in place, keeping its uri, content
/// and buffers (auth fields are cleared: the reply's plugins add their own). For a
/// handler that takes `Message&`, this echo allocates nothing once warm:
///
///     server.on({MessageType::REQUEST_URI, "echo"},
///               [](netaio::Message& m) { return netaio::reply_in_place(m, netaio::MessageType::RESPOND_URI); });
inline Message reply_in_place(Message& m, MessageType type) {
    m.auth_data.clear();
    m.header = Header{type, 0, static_cast<std::uint16_t>(m.body.size()), m.body_checksum()};
    return std::move(m);
}

/// The error type Python infers from an error text: "not found" -> NOT_FOUND, else
/// "auth" -> AUTH_ERROR, else "not permitted" -> NOT_PERMITTED, else ERROR
/// (case-sensitive byte substrings, in that order).
inline MessageType infer_error_type(bytes_view text) noexcept {
    const std::string_view s(reinterpret_cast<const char*>(text.data()), text.size());
    if (s.find("not found") != std::string_view::npos) return MessageType::NOT_FOUND;
    if (s.find("auth") != std::string_view::npos) return MessageType::AUTH_ERROR;
    if (s.find("not permitted") != std::string_view::npos) return MessageType::NOT_PERMITTED;
    return MessageType::ERROR;
}

/// An error reply, uri "ERROR" by default; the type is inferred from the text unless
/// given. (Python also treats an explicit type 0 as "not given"; here an explicit
/// REQUEST_URI is honoured.)
inline Message make_error_msg(byte_source text, byte_source uri = "ERROR",
                              std::optional<MessageType> type = std::nullopt) {
    return Message::prepare(Body::prepare(text, uri), type.value_or(infer_error_type(text.view)));
}

/// NOT_FOUND, uri "" by default (the TCP server's default reply).
inline Message make_not_found_msg(byte_source text = "not found", byte_source uri = std::string_view()) {
    return Message::prepare(Body::prepare(text, uri), MessageType::NOT_FOUND);
}

/// NOT_PERMITTED, uri "" by default.
inline Message make_not_permitted_msg(byte_source text = "not permitted", byte_source uri = std::string_view()) {
    return Message::prepare(Body::prepare(text, uri), MessageType::NOT_PERMITTED);
}

NETAIO_END_NAMESPACE
