// netaio/bytes.hpp - the byte-string vocabulary used throughout netaio.
#pragma once

#include <netaio/version.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// An owned byte string (Python `bytes`).
using bytes = std::vector<std::uint8_t>;
/// A borrowed, read-only view of bytes.
using bytes_view = std::span<const std::uint8_t>;

/// Bytes of a text, unchanged (no encoding is applied: std::string is UTF-8 by convention).
inline bytes to_bytes(std::string_view text) { return bytes(text.begin(), text.end()); }

/// View a text as bytes without copying.
inline bytes_view as_bytes_view(std::string_view text) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

/// Bytes as a text, unchanged.
inline std::string to_string(bytes_view data) { return std::string(data.begin(), data.end()); }

/// Lower-case hexadecimal form of `data`.
inline std::string to_hex(bytes_view data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(data.size() * 2);
    for (std::uint8_t b : data) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0f]);
    }
    return out;
}

/// Parse hexadecimal text (either case, no separators). Throws std::invalid_argument.
inline bytes from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    if (hex.size() % 2 != 0) throw std::invalid_argument("netaio::from_hex: odd number of digits");
    bytes out(hex.size() / 2);
    for (std::size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(hex[2 * i]);
        int lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) throw std::invalid_argument("netaio::from_hex: not a hex digit");
        out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
    }
    return out;
}

namespace detail {

/// Whether `view` points into `buffer`'s bytes (copying one into the other needs care).
inline bool overlaps(bytes_view view, const bytes& buffer) noexcept {
    return !view.empty() && !buffer.empty() && view.data() < buffer.data() + buffer.size() &&
           buffer.data() < view.data() + view.size();
}

// Big-endian (network order) integer helpers. Callers check lengths first.
inline void put_u16be(std::uint8_t* p, std::uint16_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void put_u32be(std::uint8_t* p, std::uint32_t v) noexcept {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}
inline std::uint16_t get_u16be(const std::uint8_t* p) noexcept {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t get_u32be(const std::uint8_t* p) noexcept {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}
inline void append_u16be(bytes& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
inline void append_u32be(bytes& out, std::uint32_t v) {
    std::uint8_t tmp[4];
    put_u32be(tmp, v);
    out.insert(out.end(), tmp, tmp + 4);
}
inline void append(bytes& out, bytes_view data) { out.insert(out.end(), data.begin(), data.end()); }

}  // namespace detail

NETAIO_END_NAMESPACE
