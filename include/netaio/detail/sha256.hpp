// netaio/detail/sha256.hpp - incremental SHA-256 over libsodium.
//
// Public users reach this through netaio/crypto.hpp; it lives in detail/ so that
// random.hpp and crypto.hpp can share it without including each other.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sodium.hpp>

#include <array>
#include <cstdint>

NETAIO_BEGIN_NAMESPACE
namespace crypto {

/// Size of a SHA-256 digest in bytes.
inline constexpr std::size_t digest_size = crypto_hash_sha256_BYTES;

/// A SHA-256 digest.
using digest = std::array<std::uint8_t, digest_size>;

/// Incremental SHA-256: hash `a || b || c` without building the concatenation.
///
/// @code
///   auto d = crypto::sha256_hasher{}.update(a).update(b).finish();
/// @endcode
class sha256_hasher {
public:
    sha256_hasher() {
        netaio::detail::ensure_sodium();
        crypto_hash_sha256_init(&state_);
    }

    /// Absorb more input.
    sha256_hasher& update(bytes_view data) noexcept {
        // An empty span may carry a null data(); skipping the call keeps a null
        // pointer away from libsodium's internal memcpy.
        if (!data.empty()) crypto_hash_sha256_update(&state_, data.data(), data.size());
        return *this;
    }

    /// Produce the digest. The hasher must not be updated afterwards.
    digest finish() noexcept {
        digest out;
        crypto_hash_sha256_final(&state_, out.data());
        return out;
    }

private:
    crypto_hash_sha256_state state_;
};

/// SHA-256 of `data`.
inline digest sha256(bytes_view data) { return sha256_hasher{}.update(data).finish(); }

}  // namespace crypto
NETAIO_END_NAMESPACE
