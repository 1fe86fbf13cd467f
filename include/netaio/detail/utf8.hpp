// netaio/detail/utf8.hpp - strict UTF-8 validation and lenient decoding, as Python's
// 'utf-8' codec applies them.
#pragma once

#include <netaio/version.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// True iff `text` is well-formed UTF-8: no overlong forms, no surrogates (U+D800-DFFF),
/// nothing above U+10FFFF. Python rejects exactly these when decoding str.
inline bool is_valid_utf8(std::string_view text) noexcept {
    const auto* p = reinterpret_cast<const std::uint8_t*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        std::uint8_t c = *p;
        if (c < 0x80) {
            ++p;
            continue;
        }
        std::size_t extra;
        std::uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0) lo = 0xA0;  // overlong
            if (c == 0xED) hi = 0x9F;  // surrogates
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0) lo = 0x90;  // overlong
            if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) <= extra) return false;
        if (p[1] < lo || p[1] > hi) return false;
        for (std::size_t i = 2; i <= extra; ++i)
            if ((p[i] & 0xC0) != 0x80) return false;
        p += extra + 1;
    }
    return true;
}

/// `data` decoded as Python's `data.decode('utf-8', errors='replace')` does, re-encoded
/// as UTF-8: each maximal ill-formed subsequence (an invalid byte, or the valid start
/// of a sequence cut short) becomes one U+FFFD.
inline std::string utf8_replacing_invalid(std::span<const std::uint8_t> data) {
    static constexpr char replacement[] = "\xEF\xBF\xBD";  // U+FFFD
    std::string out;
    out.reserve(data.size());
    std::size_t i = 0;
    while (i < data.size()) {
        const std::uint8_t c = data[i];
        if (c < 0x80) {
            out.push_back(static_cast<char>(c));
            ++i;
            continue;
        }
        std::size_t extra = 0;
        std::uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the first continuation byte
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {
            out += replacement;  // a byte that starts no sequence
            ++i;
            continue;
        }
        std::size_t n = 1;  // bytes of the sequence that are valid so far
        while (n <= extra && i + n < data.size()) {
            const std::uint8_t b = data[i + n];
            const bool ok = n == 1 ? (b >= lo && b <= hi) : (b & 0xC0) == 0x80;
            if (!ok) break;
            ++n;
        }
        if (n == extra + 1) {
            out.append(reinterpret_cast<const char*>(data.data() + i), n);
        } else {
            out += replacement;  // the valid prefix of a broken sequence: one U+FFFD
        }
        i += n;
    }
    return out;
}

}  // namespace detail
NETAIO_END_NAMESPACE
