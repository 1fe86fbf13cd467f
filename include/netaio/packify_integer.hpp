// netaio/packify_integer.hpp - arbitrary-precision integers as packify carries them.
//
// Python ints have no size limit and packify encodes magnitudes of up to 255 bytes,
// so a C++ int64 is not enough. `packify::integer` stores a sign and the minimal
// big-endian magnitude; it converts to and from built-in integers and decimal text.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

NETAIO_BEGIN_NAMESPACE
namespace packify {

class integer {
public:
    integer() = default;

    template <std::integral T>
        requires(!std::same_as<T, bool>)
    integer(T v) {  // NOLINT(google-explicit-constructor): ints convert implicitly, as in Python
        if constexpr (std::is_signed_v<T>) {
            negative_ = v < 0;
            // Magnitude of the most negative value without overflow.
            std::uint64_t mag = negative_ ? std::uint64_t(0) - static_cast<std::uint64_t>(static_cast<std::int64_t>(v))
                                          : static_cast<std::uint64_t>(v);
            set_u64(mag);
        } else {
            set_u64(static_cast<std::uint64_t>(v));
        }
    }

    /// From a sign and a big-endian magnitude (leading zeros allowed; -0 becomes 0).
    static integer from_magnitude(bool negative, bytes_view magnitude_be) {
        integer out;
        auto first = std::find_if(magnitude_be.begin(), magnitude_be.end(), [](std::uint8_t b) { return b != 0; });
        out.magnitude_.assign(first, magnitude_be.end());
        out.negative_ = negative && !out.magnitude_.empty();
        return out;
    }

    /// From decimal text such as "-18446744073709551615". Throws std::invalid_argument.
    static integer from_string(std::string_view text) {
        bool negative = false;
        if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
            negative = text.front() == '-';
            text.remove_prefix(1);
        }
        if (text.empty()) throw std::invalid_argument("packify::integer: empty number");
        bytes mag;  // big-endian, built by mag = mag * 10 + digit
        for (char c : text) {
            if (c < '0' || c > '9') throw std::invalid_argument("packify::integer: not a decimal digit");
            unsigned carry = static_cast<unsigned>(c - '0');
            for (auto it = mag.rbegin(); it != mag.rend(); ++it) {
                unsigned v = unsigned{*it} * 10 + carry;
                *it = static_cast<std::uint8_t>(v & 0xff);
                carry = v >> 8;
            }
            while (carry != 0) {
                mag.insert(mag.begin(), static_cast<std::uint8_t>(carry & 0xff));
                carry >>= 8;
            }
        }
        return from_magnitude(negative, mag);
    }

    bool is_negative() const noexcept { return negative_; }
    bool is_zero() const noexcept { return magnitude_.empty(); }
    /// Minimal big-endian magnitude; empty for zero.
    const bytes& magnitude() const noexcept { return magnitude_; }
    /// Number of significant bits of the magnitude (0 for zero).
    std::size_t bit_length() const noexcept {
        if (magnitude_.empty()) return 0;
        unsigned top = magnitude_.front();
        std::size_t bits = 0;
        while (top != 0) {
            ++bits;
            top >>= 1;
        }
        return (magnitude_.size() - 1) * 8 + bits;
    }

    /// The magnitude as uint64 when it fits.
    std::optional<std::uint64_t> magnitude_u64() const noexcept {
        if (magnitude_.size() > 8) return std::nullopt;
        std::uint64_t v = 0;
        for (std::uint8_t b : magnitude_) v = (v << 8) | b;
        return v;
    }

    std::optional<std::int64_t> to_int64() const noexcept {
        auto mag = magnitude_u64();
        if (!mag) return std::nullopt;
        constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (!negative_) {
            if (*mag > max) return std::nullopt;
            return static_cast<std::int64_t>(*mag);
        }
        if (*mag > max + 1) return std::nullopt;
        return static_cast<std::int64_t>(std::uint64_t(0) - *mag);
    }

    std::optional<std::uint64_t> to_uint64() const noexcept {
        if (negative_) return std::nullopt;
        return magnitude_u64();
    }

    /// Decimal text, as Python's str(int).
    std::string to_string() const {
        if (magnitude_.empty()) return "0";
        bytes work = magnitude_;
        std::string digits;
        while (!work.empty()) {  // repeated division by 10
            unsigned rem = 0;
            for (auto& b : work) {
                unsigned cur = (rem << 8) | b;
                b = static_cast<std::uint8_t>(cur / 10);
                rem = cur % 10;
            }
            digits.push_back(static_cast<char>('0' + rem));
            auto nz = std::find_if(work.begin(), work.end(), [](std::uint8_t b) { return b != 0; });
            work.erase(work.begin(), nz);
        }
        if (negative_) digits.push_back('-');
        std::reverse(digits.begin(), digits.end());
        return digits;
    }

    friend bool operator==(const integer&, const integer&) = default;

private:
    void set_u64(std::uint64_t mag) {
        magnitude_.clear();
        for (int shift = 56; shift >= 0; shift -= 8) {
            auto b = static_cast<std::uint8_t>(mag >> shift);
            if (b != 0 || !magnitude_.empty()) magnitude_.push_back(b);
        }
        if (magnitude_.empty()) negative_ = false;
    }

    bool negative_ = false;
    bytes magnitude_;
};

}  // namespace packify
NETAIO_END_NAMESPACE
