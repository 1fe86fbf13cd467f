// netaio/detail/python_int_size.hpp - packify 0.3.1's byte count for big ints (quirk Q1).
//
// For |n| >= 2^32 packify writes a size byte s and then |n| in s bytes, where Python
// computes s = ceil(math.log(n, 2) / 8) in double precision. That is usually the
// minimal byte count, but not always: just below some powers of two it is one byte
// too many (Python then pads with a leading zero byte), and at exact powers of 256
// (and just above some of them) it is too small and Python raises OverflowError.
// To be byte-exact we reproduce the computation: CPython's math.log on an int first
// rounds the int to the nearest double (round half to even); ints too large for a
// double are split as m * 2^e with m in [0.5, 1) and log(m) + log(2) * e is used.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/version.hpp>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <optional>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// CPython's natural log of a positive big-endian magnitude (math.log(n)).
inline double python_log_of_magnitude(bytes_view magnitude_be) {
    // Bit length of the magnitude.
    std::size_t first = 0;
    while (first < magnitude_be.size() && magnitude_be[first] == 0) ++first;
    bytes_view mag = magnitude_be.subspan(first);
    int top_bits = 0;
    for (unsigned b = mag[0]; b != 0; b >>= 1) ++top_bits;
    const std::int64_t bit_length = static_cast<std::int64_t>(mag.size() - 1) * 8 + top_bits;
    auto bit = [&](std::int64_t i) -> unsigned {  // i counts from the least significant bit
        std::size_t byte_index = mag.size() - 1 - static_cast<std::size_t>(i / 8);
        return (mag[byte_index] >> (i % 8)) & 1u;
    };

    // Round to 53 significant bits, half to even, exactly like _PyLong_Frexp.
    std::uint64_t mantissa = 0;
    const std::int64_t keep = bit_length < 53 ? bit_length : 53;
    for (std::int64_t i = bit_length - 1; i >= bit_length - keep; --i) mantissa = (mantissa << 1) | bit(i);
    std::int64_t exponent = bit_length;  // value ~ mantissa * 2^(bit_length - keep)
    if (bit_length > 53) {
        const std::int64_t guard_index = bit_length - 54;
        const unsigned guard = bit(guard_index);
        bool sticky = false;
        for (std::int64_t i = guard_index - 1; i >= 0 && !sticky; --i) sticky = bit(i) != 0;
        if (guard && (sticky || (mantissa & 1u))) {
            ++mantissa;
            if (mantissa == (std::uint64_t{1} << 53)) {  // carried into a new bit
                mantissa >>= 1;
                ++exponent;
            }
        }
    }
    // x in [0.5, 1) with n ~ x * 2^exponent.
    const double x = std::ldexp(static_cast<double>(mantissa), -static_cast<int>(keep));
    if (exponent <= DBL_MAX_EXP) return std::log(std::ldexp(x, static_cast<int>(exponent)));
    return std::log(x) + std::log(2.0) * static_cast<double>(exponent);
}

/// The size byte packify 0.3.1 would write for a magnitude >= 2^32, or nullopt
/// when Python fails (OverflowError: the size is too small; struct.error: above 255).
inline std::optional<std::size_t> python_big_int_size(bytes_view magnitude_be) {
    const double log2n = python_log_of_magnitude(magnitude_be) / std::log(2.0);
    const double size = std::ceil(log2n / 8.0);
    std::size_t minimal = magnitude_be.size();
    for (std::size_t i = 0; i < magnitude_be.size() && magnitude_be[i] == 0; ++i) --minimal;
    if (size < static_cast<double>(minimal) || size > 255.0) return std::nullopt;
    return static_cast<std::size_t>(size);
}

}  // namespace detail
NETAIO_END_NAMESPACE
