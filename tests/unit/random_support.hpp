// tests/unit/random_support.hpp - reproducible random inputs for differential tests.
#pragma once

#include <netaio/bytes.hpp>

#include <cstddef>
#include <cstdint>
#include <random>

namespace netaio_test {

/// Between 0 and `max` bytes (uniform length), each drawn from `rng`.
inline netaio::bytes random_bytes(std::mt19937& rng, std::size_t max) {
    netaio::bytes out(std::uniform_int_distribution<std::size_t>(0, max)(rng));
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    return out;
}

}  // namespace netaio_test
