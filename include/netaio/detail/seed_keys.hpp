// netaio/detail/seed_keys.hpp - every key pair netaio derives from one 32-byte seed.
//
// PyNaCl's SigningKey(seed) is the Ed25519 key pair of libsodium's
// crypto_sign_seed_keypair; SigningKey.to_curve25519_private_key() is the
// X25519 key crypto_sign_ed25519_sk_to_curve25519 gives (the first 32 bytes of
// SHA-512(seed), clamped), and its public key is crypto_scalarmult_base of that,
// which equals crypto_sign_ed25519_pk_to_curve25519(verify key) (PROTOCOL §8.1).
// The asymmetric plugins (X25519 cipher, Ed25519/Tapescript auth) all start here,
// so a node configured with one seed publishes matching "vkey" and "pubkey".
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <array>
#include <cstdint>

NETAIO_BEGIN_NAMESPACE
namespace detail {

inline constexpr std::size_t seed_size = 32;  // crypto_sign_SEEDBYTES

/// The Ed25519 and X25519 key pairs of one seed. Secret halves are wiped on destruction.
struct seed_keys {
    std::array<std::uint8_t, 32> ed25519_public{};   ///< the verify key ("vkey")
    std::array<std::uint8_t, 64> ed25519_secret{};   ///< libsodium layout: seed || public key
    std::array<std::uint8_t, 32> x25519_public{};    ///< the box public key ("pubkey")
    std::array<std::uint8_t, 32> x25519_secret{};    ///< clamped scalar

    seed_keys() = default;
    seed_keys(const seed_keys&) = default;
    seed_keys& operator=(const seed_keys&) = default;
    ~seed_keys() {
        sodium_memzero(ed25519_secret.data(), ed25519_secret.size());
        sodium_memzero(x25519_secret.data(), x25519_secret.size());
    }
};

static_assert(crypto_sign_SEEDBYTES == seed_size && crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32 && crypto_scalarmult_BYTES == 32);

/// Derive both key pairs from a 32-byte seed. Throws netaio::error(errc::bad_plugin_config)
/// for any other length (PyNaCl raises ValueError).
inline seed_keys derive_seed_keys(bytes_view seed) {
    if (seed.size() != seed_size) throw error(errc::bad_plugin_config, "seed must be exactly 32 bytes");
    ensure_sodium();
    seed_keys k;
    crypto_sign_seed_keypair(k.ed25519_public.data(), k.ed25519_secret.data(), seed.data());
    // Neither call can fail for a key pair libsodium itself produced; check anyway,
    // since a silent failure would leave an all-zero key.
    if (crypto_sign_ed25519_sk_to_curve25519(k.x25519_secret.data(), k.ed25519_secret.data()) != 0 ||
        crypto_scalarmult_base(k.x25519_public.data(), k.x25519_secret.data()) != 0)
        throw error(errc::bad_plugin_config, "seed gives no X25519 key");
    return k;
}

}  // namespace detail
NETAIO_END_NAMESPACE
