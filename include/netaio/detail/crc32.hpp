// netaio/detail/crc32.hpp - CRC-32 (zlib/PNG polynomial) of the body, as netaio checks it.
//
// Every frame is checksummed when it is encoded and when it is decoded, so this is
// on the hot path of every message. Most bodies are short: zlib's crc32() costs a
// library call and a setup that dominate for a few dozen bytes (it was about a
// tenth of the CPU time of 32-byte round trips), so short inputs use an inline
// slicing-by-8 loop over tables built at compile time. From 16 bytes on, x86-64
// CPUs with carry-less multiplication fold 16 bytes per instruction pair (about
// ten times zlib's speed on long inputs); elsewhere long inputs go to zlib.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/version.hpp>

#include <zlib.h>

#include <array>
#include <cstdint>

// Carry-less multiplication (PCLMULQDQ) on x86-64 with GCC or Clang, chosen at run
// time; define NETAIO_CRC32_CLMUL=0 to leave it out.
#if !defined(NETAIO_CRC32_CLMUL)
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NETAIO_CRC32_CLMUL 1
#else
#define NETAIO_CRC32_CLMUL 0
#endif
#endif
#if NETAIO_CRC32_CLMUL
#include <immintrin.h>
#endif

NETAIO_BEGIN_NAMESPACE
namespace detail {

using crc32_tables_t = std::array<std::array<std::uint32_t, 256>, 8>;

/// tables[0] is the classic byte table; tables[k][b] is the CRC of byte b followed by k zero bytes.
constexpr crc32_tables_t make_crc32_tables() noexcept {
    crc32_tables_t t{};
    for (std::uint32_t b = 0; b < 256; ++b) {
        std::uint32_t c = b;
        for (int i = 0; i < 8; ++i) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][b] = c;
    }
    for (std::size_t k = 1; k < 8; ++k)
        for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFFu];
    return t;
}

inline constexpr crc32_tables_t crc32_tables = make_crc32_tables();

/// Without carry-less multiplication, inputs at least this long go to zlib.
inline constexpr std::size_t crc32_zlib_threshold = 2048;

/// Slicing-by-8 over the pre-inverted register `c` (returns the register, not inverted).
inline std::uint32_t crc32_slice8(std::uint32_t c, const std::uint8_t* p, std::size_t left) noexcept {
    const auto& t = crc32_tables;
    while (left >= 8) {
        // Byte-wise loads: no alignment or endianness assumptions.
        const std::uint32_t lo = c ^ (std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 |
                                      std::uint32_t{p[3]} << 24);
        c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^ t[3][p[4]] ^
            t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        left -= 8;
    }
    if (left >= 4) {  // four independent lookups instead of a chain of four
        c ^= std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
        c = t[3][c & 0xFFu] ^ t[2][(c >> 8) & 0xFFu] ^ t[1][(c >> 16) & 0xFFu] ^ t[0][c >> 24];
        p += 4;
        left -= 4;
    }
    while (left-- > 0) c = t[0][(c ^ *p++) & 0xFFu] ^ (c >> 8);
    return c;
}

#if NETAIO_CRC32_CLMUL
/// One folding step: acc * (k's two halves) moved 128 bits on, plus the next block.
__attribute__((target("pclmul,sse4.1"))) inline __m128i crc32_fold(__m128i acc, __m128i k, __m128i next) noexcept {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(acc, k, 0x11), _mm_clmulepi64_si128(acc, k, 0x00)), next);
}

/// Carry-less multiplication folding (Intel, "Fast CRC Computation for Generic
/// Polynomials Using PCLMULQDQ", 2009) with the bit-reflected constants of the
/// zlib polynomial: four 128-bit lanes fold 64 bytes per step (from 64 bytes on),
/// then one lane folds 16 bytes per step, then a Barrett reduction to 32 bits.
/// `len` is a multiple of 16, at least 16; `c` is the pre-inverted register.
__attribute__((target("pclmul,sse4.1"))) inline std::uint32_t crc32_clmul(std::uint32_t c, const std::uint8_t* p,
                                                                          std::size_t len) noexcept {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);  // x^(4*128+32), x^(4*128-32) mod P
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);  // x^(128+32), x^(128-32) mod P
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);               // x^64 mod P
    const __m128i poly = _mm_set_epi64x(0x01f7011641, 0x01db710641);  // Barrett u', reflected P'
    const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);
    auto load = [](const std::uint8_t* at) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(at)); };

    __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(c)));
    if (len >= 64) {
        __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
        p += 64;
        len -= 64;
        for (; len >= 64; p += 64, len -= 64) {
            x1 = crc32_fold(x1, k1k2, load(p));
            x2 = crc32_fold(x2, k1k2, load(p + 16));
            x3 = crc32_fold(x3, k1k2, load(p + 32));
            x4 = crc32_fold(x4, k1k2, load(p + 48));
        }
        x1 = crc32_fold(x1, k3k4, x2);
        x1 = crc32_fold(x1, k3k4, x3);
        x1 = crc32_fold(x1, k3k4, x4);
    } else {
        p += 16;
        len -= 16;
    }
    for (; len >= 16; p += 16, len -= 16) x1 = crc32_fold(x1, k3k4, load(p));

    // 128 -> 64 bits.
    __m128i x2r = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2r);
    x2r = _mm_srli_si128(x1, 4);
    x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5, 0x00), x2r);
    // Barrett reduction to 32 bits.
    x2r = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly, 0x10);
    x2r = _mm_clmulepi64_si128(_mm_and_si128(x2r, low32), poly, 0x00);
    x1 = _mm_xor_si128(x1, x2r);
    return static_cast<std::uint32_t>(_mm_extract_epi32(x1, 1));
}

/// From this length on, carry-less folding beats slicing-by-8 even for one block:
/// it needs no tables, whose cache lines the kernel's work between two frames evicts.
inline constexpr std::size_t crc32_clmul_threshold = 16;

inline bool cpu_has_clmul() noexcept {
    static const bool has = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
    return has;
}
#endif

/// CRC-32 of `data`, continuing from `crc` (0 to start), same result as zlib's crc32().
inline std::uint32_t crc32(bytes_view data, std::uint32_t crc = 0) noexcept {
    const std::uint8_t* p = data.data();
    std::size_t left = data.size();
    std::uint32_t c = ~crc;
#if NETAIO_CRC32_CLMUL
    if (left >= crc32_clmul_threshold && cpu_has_clmul()) {
        const std::size_t folded = left & ~std::size_t{15};
        c = crc32_clmul(c, p, folded);
        p += folded;
        left -= folded;
        return ~crc32_slice8(c, p, left);
    }
#endif
    if (left >= crc32_zlib_threshold) {
        // zlib takes uInt lengths; bodies are at most 65535 bytes, but stay general.
        uLong value = crc;
        while (left > 0) {
            const uInt chunk = left > 0x40000000u ? 0x40000000u : static_cast<uInt>(left);
            value = ::crc32(value, p, chunk);
            p += chunk;
            left -= chunk;
        }
        return static_cast<std::uint32_t>(value);
    }
    return ~crc32_slice8(c, p, left);
}

}  // namespace detail
NETAIO_END_NAMESPACE
