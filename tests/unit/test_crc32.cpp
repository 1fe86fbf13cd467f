// The body checksum: our CRC-32 (slicing-by-8, carry-less multiplication) must
// equal zlib's for every length, alignment and starting value.
#include <netaio/detail/crc32.hpp>

#include <catch2/catch.hpp>

#include <zlib.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {

std::uint32_t zlib_crc(const std::uint8_t* p, std::size_t n, std::uint32_t seed) {
    return static_cast<std::uint32_t>(::crc32(seed, n == 0 ? Z_NULL : p, static_cast<uInt>(n)));
}

}  // namespace

TEST_CASE("crc32 equals zlib for every length up to 1 KiB, every alignment and several seeds", "[crc32]") {
    std::mt19937 rng(7);
    std::vector<std::uint8_t> data(1024 + 16);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    for (std::size_t offset = 0; offset < 16; offset += 5) {
        for (std::size_t n = 1; n <= 1024; ++n) {
            for (std::uint32_t seed : {0u, 0xFFFFFFFFu, 0x9b359cb3u}) {
                const netaio::bytes_view view(data.data() + offset, n);
                REQUIRE(netaio::detail::crc32(view, seed) == zlib_crc(view.data(), n, seed));
            }
        }
    }
}

TEST_CASE("crc32 of large bodies and chained calls equals zlib", "[crc32]") {
    std::mt19937 rng(11);
    std::vector<std::uint8_t> data(65535);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    for (std::size_t n : {2047u, 2048u, 4096u, 16384u, 65535u}) {
        const netaio::bytes_view view(data.data(), n);
        CHECK(netaio::detail::crc32(view) == zlib_crc(data.data(), n, 0));
        // Split anywhere: crc(a || b) = crc(b, crc(a)).
        const std::size_t cut = n / 3;
        CHECK(netaio::detail::crc32(view.subspan(cut), netaio::detail::crc32(view.first(cut))) == zlib_crc(data.data(), n, 0));
    }
    CHECK(netaio::detail::crc32(netaio::bytes_view()) == 0);
    CHECK(netaio::detail::crc32(netaio::bytes_view(), 0x12345678u) == 0x12345678u);
}
