// netaio/detail/ed25519_tweak.hpp - the Ed25519 arithmetic behind tapescript's
// taproot locks (PROTOCOL.md §8.2.1), all through libsodium.
//
//   tweak:  c = sha256(S), h = sha256(V || c), t = h with bit 255 cleared,
//           T = t·B, Q = V + T                        (Q is the "tweaked key")
//   key path signature for Q: scalar a = x + t mod L, where x·B = V, and
//   tapescript's own deterministic nonce, because crypto_sign_detached starts
//   from a seed, not from a scalar:
//           k = reduce(sha512(a || m)), n = sha512(k)[32:64],
//           r = reduce(sha512(sha512(n || m))), R = r·B,
//           e = reduce(sha512(R || Q || m)), s = r + e·a
//   The result verifies with plain crypto_sign_verify_detached(sig, m, Q); the
//   nonce rule only matters for reproducing Python's bytes.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sha256.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/version.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <stdexcept>

NETAIO_BEGIN_NAMESPACE
namespace detail::ed25519 {

/// A 32-byte scalar or point encoding.
using bytes32 = std::array<std::uint8_t, 32>;
/// A 64-byte Ed25519 signature R || s.
using signature = std::array<std::uint8_t, 64>;

inline constexpr std::size_t seed_size = crypto_sign_SEEDBYTES;        // 32
inline constexpr std::size_t key_size = crypto_sign_PUBLICKEYBYTES;    // 32
inline constexpr std::size_t signature_size = crypto_sign_BYTES;       // 64

static_assert(seed_size == 32 && key_size == 32 && signature_size == 64);

/// Copies a libsodium secret buffer and wipes it when it goes out of scope.
template <std::size_t N>
struct wiped {
    std::array<std::uint8_t, N> v{};
    wiped() = default;
    wiped(const wiped&) = delete;
    wiped& operator=(const wiped&) = delete;
    ~wiped() { sodium_memzero(v.data(), v.size()); }
    std::uint8_t* data() noexcept { return v.data(); }
    const std::uint8_t* data() const noexcept { return v.data(); }
};

/// Incremental SHA-512 (libsodium), for hashing concatenations without copying.
class sha512_hasher {
public:
    sha512_hasher() {
        ensure_sodium();
        crypto_hash_sha512_init(&state_);
    }
    ~sha512_hasher() { sodium_memzero(&state_, sizeof state_); }
    sha512_hasher(const sha512_hasher&) = delete;
    sha512_hasher& operator=(const sha512_hasher&) = delete;

    sha512_hasher& update(bytes_view data) noexcept {
        if (!data.empty()) crypto_hash_sha512_update(&state_, data.data(), data.size());
        return *this;
    }
    void finish(std::uint8_t (&out)[64]) noexcept { crypto_hash_sha512_final(&state_, out); }
    void finish(std::array<std::uint8_t, 64>& out) noexcept { crypto_hash_sha512_final(&state_, out.data()); }

private:
    crypto_hash_sha512_state state_;
};

inline void require_seed(bytes_view seed) {
    if (seed.size() != seed_size) throw std::invalid_argument("netaio::tapescript: an Ed25519 seed is 32 bytes");
}

/// The Ed25519 verify key of a 32-byte seed (crypto_sign_seed_keypair).
inline bytes32 verify_key_from_seed(bytes_view seed) {
    require_seed(seed);
    ensure_sodium();
    bytes32 vkey;
    wiped<crypto_sign_SECRETKEYBYTES> skey;
    crypto_sign_seed_keypair(vkey.data(), skey.data(), seed.data());
    return vkey;
}

/// Standard deterministic Ed25519 signature of `message` by the key of `seed`.
inline signature sign_with_seed(bytes_view seed, bytes_view message) {
    require_seed(seed);
    ensure_sodium();
    bytes32 vkey;
    wiped<crypto_sign_SECRETKEYBYTES> skey;
    crypto_sign_seed_keypair(vkey.data(), skey.data(), seed.data());
    signature sig;
    crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), skey.data());
    return sig;
}

/// x: the first 32 bytes of sha512(seed), clamped, so that x·B is the seed's verify key.
inline void secret_scalar_from_seed(bytes_view seed, std::span<std::uint8_t, 32> x) {
    require_seed(seed);
    ensure_sodium();
    wiped<64> h;
    crypto_hash_sha512(h.data(), seed.data(), seed.size());
    for (std::size_t i = 0; i < 32; ++i) x[i] = h.v[i];
    x[0] &= 248;
    x[31] &= 127;
    x[31] |= 64;
}

/// Every intermediate value of the taproot tweak (the vectors record them all).
struct tweak_values {
    crypto::digest commitment{};  ///< c = sha256(S)
    crypto::digest hash{};        ///< h = sha256(V || c)
    bytes32 scalar{};             ///< t = h with bit 255 cleared (not reduced)
    bytes32 point{};              ///< T = t·B
    bytes32 tweaked_key{};        ///< Q = V + T
};

/// t = sha256(vkey || commitment) with bit 255 cleared: all a signer needs (the
/// key path signs with x + t and derives Q = (x + t)·B itself).
inline bytes32 tweak_scalar(bytes_view vkey, const crypto::digest& commitment, crypto::digest* hash = nullptr) {
    const crypto::digest h = crypto::sha256_hasher{}.update(vkey).update(commitment).finish();
    if (hash) *hash = h;
    bytes32 t;
    for (std::size_t i = 0; i < 32; ++i) t[i] = h[i];
    t[31] &= 0x7f;  // only bit 255: this is not Ed25519 clamping
    return t;
}

/// The tweak of verify key `vkey` (32 bytes) with script commitment `commitment`.
/// False when V or T is not a valid main-subgroup point (tapescript raises then);
/// `out` holds whatever was computed up to that point.
inline bool taproot_tweak(bytes_view vkey, const crypto::digest& commitment, tweak_values& out) {
    out = tweak_values{};
    out.commitment = commitment;
    if (vkey.size() != key_size) return false;
    out.scalar = tweak_scalar(vkey, commitment, &out.hash);
    // -1 only for t ≡ 0 (mod L), i.e. T the identity, the one T tapescript's
    // is_valid_point check could refuse: any other multiple of B is a valid
    // main-subgroup point, so T needs no (costly) subgroup test of its own.
    if (crypto_scalarmult_ed25519_base_noclamp(out.point.data(), out.scalar.data()) != 0) return false;
    // V comes from the witness: it must be canonical, on the curve, of prime order.
    if (crypto_core_ed25519_is_valid_point(vkey.data()) != 1) return false;
    return crypto_core_ed25519_add(out.tweaked_key.data(), vkey.data(), out.point.data()) == 0;
}

/// The tweak of `vkey` with the committed script `script` (c = sha256(script)).
inline bool taproot_tweak_script(bytes_view vkey, bytes_view script, tweak_values& out) {
    return taproot_tweak(vkey, crypto::sha256(script), out);
}

/// Intermediate values of a key-path signature (for the vectors' "signing" record).
struct keyspend_trace {
    bytes32 tweaked_scalar{};  ///< a = x + t mod L
    bytes32 nonce_seed{};      ///< k
    bytes32 nonce{};           ///< n
    bytes32 r{};
    bytes32 R{};
    bytes32 challenge{};       ///< e
    bytes32 s{};
};

/// Sign `message` for the tweaked key Q = a·B with a = x + t mod L, using
/// tapescript's deterministic nonce (see the file comment). `t` is the tweak
/// scalar as computed by taproot_tweak. Throws std::runtime_error if libsodium
/// refuses a scalar (a zero nonce: probability about 2^-252).
inline signature sign_keyspend(bytes_view seed, const bytes32& t, bytes_view message, keyspend_trace* trace = nullptr) {
    wiped<32> x;
    secret_scalar_from_seed(seed, x.v);
    wiped<32> a;
    crypto_core_ed25519_scalar_add(a.data(), x.data(), t.data());

    bytes32 Q;
    if (crypto_scalarmult_ed25519_base_noclamp(Q.data(), a.data()) != 0)
        throw std::runtime_error("netaio::tapescript: tweaked scalar is zero");

    wiped<64> wide;
    wiped<32> k;
    sha512_hasher{}.update(bytes_view(a.data(), 32)).update(message).finish(wide.v);
    crypto_core_ed25519_scalar_reduce(k.data(), wide.data());

    wiped<64> k_hash;
    crypto_hash_sha512(k_hash.data(), k.data(), 32);
    const bytes_view n(k_hash.data() + 32, 32);

    wiped<64> inner;
    sha512_hasher{}.update(n).update(message).finish(inner.v);
    crypto_hash_sha512(wide.data(), inner.data(), 64);
    wiped<32> r;
    crypto_core_ed25519_scalar_reduce(r.data(), wide.data());
    r.v[31] &= 0x7f;  // as tapescript does; r < L already, so this changes nothing

    bytes32 R;
    if (crypto_scalarmult_ed25519_base_noclamp(R.data(), r.data()) != 0)
        throw std::runtime_error("netaio::tapescript: signing nonce is zero");

    bytes32 e;
    sha512_hasher{}.update(R).update(Q).update(message).finish(wide.v);
    crypto_core_ed25519_scalar_reduce(e.data(), wide.data());

    wiped<32> ea;
    crypto_core_ed25519_scalar_mul(ea.data(), e.data(), a.data());
    bytes32 s;
    crypto_core_ed25519_scalar_add(s.data(), r.data(), ea.data());

    if (trace) {
        for (std::size_t i = 0; i < 32; ++i) {
            trace->tweaked_scalar[i] = a.v[i];
            trace->nonce_seed[i] = k.v[i];
            trace->nonce[i] = n[i];
            trace->r[i] = r.v[i];
        }
        trace->R = R;
        trace->challenge = e;
        trace->s = s;
    }

    signature sig;
    for (std::size_t i = 0; i < 32; ++i) {
        sig[i] = R[i];
        sig[32 + i] = s[i];
    }
    return sig;
}

/// Ed25519 verification (libsodium: rejects non-canonical s and small-order keys).
inline bool verify(bytes_view sig64, bytes_view message, bytes_view vkey) noexcept {
    if (sig64.size() != signature_size || vkey.size() != key_size) return false;
    return crypto_sign_verify_detached(sig64.data(), message.data(), message.size(), vkey.data()) == 0;
}

}  // namespace detail::ed25519
NETAIO_END_NAMESPACE
