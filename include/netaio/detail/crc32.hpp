// netaio/detail/crc32.hpp - CRC-32 (zlib/PNG polynomial) of the body, as netaio checks it.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/version.hpp>

#include <zlib.h>

#include <cstdint>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// CRC-32 of `data`, continuing from `crc` (0 to start).
inline std::uint32_t crc32(bytes_view data, std::uint32_t crc = 0) noexcept {
    // zlib takes uInt lengths; bodies are at most 65535 bytes, but stay general.
    uLong value = crc;
    const Bytef* p = data.data();
    std::size_t left = data.size();
    while (left > 0) {
        const uInt chunk = left > 0x40000000u ? 0x40000000u : static_cast<uInt>(left);
        value = ::crc32(value, p, chunk);
        p += chunk;
        left -= chunk;
    }
    return static_cast<std::uint32_t>(value);
}

}  // namespace detail
NETAIO_END_NAMESPACE
