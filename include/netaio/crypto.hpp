// netaio/crypto.hpp - netaio's symmetric crypto helpers (PROTOCOL.md §5).
//
// These reproduce netaio v0.0.9's own constructions byte for byte:
//   derive_key  = sha256(sha256(p1) || ... || sha256(pk))
//   keystream   = sha256(K || u32be(0)) || sha256(K || u32be(1)) || ...,  K = derive_key(key, iv, "enc")
//   symcrypt    = data XOR keystream
//   hmac        = a NON-standard HMAC: SHA-256 with a 136-byte pad and key derive_key(key, iv, "mac")
// None of them is a standard primitive (the "HMAC" differs from RFC 2104 and the
// stream cipher is unauthenticated); they exist for wire compatibility only.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/sha256.hpp>
#include <netaio/detail/sodium.hpp>
#include <netaio/errors.hpp>
#include <netaio/random.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <system_error>

NETAIO_BEGIN_NAMESPACE
namespace crypto {

/// IV length used by encrypt(), seal() and the stream-cipher plugin.
inline constexpr std::size_t iv_size = 16;
/// Length of an hmac() result.
inline constexpr std::size_t mac_size = digest_size;
/// Pad length of netaio's hmac(): SHA-3-256's rate, not SHA-256's 64-byte block.
/// This is what makes the construction differ from standard HMAC-SHA256.
inline constexpr std::size_t hmac_block_size = 136;

/// `n` random bytes from libsodium's CSPRNG.
inline bytes random_bytes(std::size_t n) { return random_source{}.random_bytes(n); }

/// SHA-256 of the concatenation of `parts`, without building the concatenation.
inline digest sha256(std::initializer_list<bytes_view> parts) {
    sha256_hasher h;
    for (bytes_view p : parts) h.update(p);
    return h.finish();
}

/// derive_key(p1, …, pk) = sha256(sha256(p1) || … || sha256(pk)); zero parts give sha256("").
inline digest derive_key(std::span<const bytes_view> parts) {
    sha256_hasher outer;
    for (bytes_view p : parts) outer.update(sha256(p));
    return outer.finish();
}

/// derive_key over a braced list: `derive_key({key, iv, as_bytes_view("enc")})`.
inline digest derive_key(std::initializer_list<bytes_view> parts) {
    return derive_key(std::span<const bytes_view>(parts.begin(), parts.size()));
}

/// A key whose SHA-256 is computed once, for many keystream()/hmac() calls under
/// the same key (the plugins). Every derive_key(key, iv, label) starts with
/// sha256(key); with libsodium's portable SHA-256 that is a sizeable share of a
/// short message's cost. Results are identical to passing the raw key.
class prepared_key {
public:
    explicit prepared_key(bytes_view key) : key_hash_(sha256(key)) {}
    prepared_key(const prepared_key&) = default;
    prepared_key(prepared_key&&) = default;
    prepared_key& operator=(const prepared_key&) = default;
    prepared_key& operator=(prepared_key&&) = default;
    /// sha256(key) is as good as the key for deriving keystreams: wiped, not just freed.
    ~prepared_key() { sodium_memzero(key_hash_.data(), key_hash_.size()); }
    /// sha256(key).
    const digest& key_hash() const noexcept { return key_hash_; }

private:
    digest key_hash_;
};

}  // namespace crypto

namespace detail {

// The stream is addressed by 32-byte blocks with a u32 counter, so it ends after
// 2^32 blocks (128 GiB); Python would raise OverflowError past that point too.
inline void check_keystream_range(std::uint64_t start, std::size_t length) {
    constexpr std::uint64_t stream_end = (std::uint64_t{1} << 32) * crypto::digest_size;
    if (start > stream_end || length > stream_end - start)
        throw std::length_error("netaio::crypto: keystream longer than 2^32 blocks");
}

// sha256 of the derive_key labels, computed once per process.
inline const crypto::digest& enc_label_hash() {
    static const crypto::digest hash = crypto::sha256(as_bytes_view("enc"));
    return hash;
}
inline const crypto::digest& mac_label_hash() {
    static const crypto::digest hash = crypto::sha256(as_bytes_view("mac"));
    return hash;
}

// derive_key(key, iv, label) given sha256(key) and sha256(label).
inline crypto::digest derive_key_prehashed(const crypto::digest& key_hash, bytes_view iv,
                                           const crypto::digest& label_hash) {
    return crypto::sha256_hasher{}.update(key_hash).update(crypto::sha256(iv)).update(label_hash).finish();
}

// Walk the keystream from byte `start` over `data.size()` bytes, either writing
// it (xor_into == false) or XOR-ing it into `data` (xor_into == true).
inline void apply_keystream(const crypto::prepared_key& key, bytes_view iv, std::span<std::uint8_t> data,
                            std::uint64_t start, bool xor_into) {
    check_keystream_range(start, data.size());
    if (data.empty()) return;
    const crypto::digest k_enc = derive_key_prehashed(key.key_hash(), iv, enc_label_hash());
    std::uint64_t position = start;
    std::size_t done = 0;
    while (done < data.size()) {
        std::uint8_t counter[4];
        put_u32be(counter, static_cast<std::uint32_t>(position / crypto::digest_size));
        const crypto::digest block = crypto::sha256_hasher{}.update(k_enc).update(counter).finish();
        std::size_t offset = static_cast<std::size_t>(position % crypto::digest_size);
        std::size_t n = crypto::digest_size - offset;
        if (n > data.size() - done) n = data.size() - done;
        for (std::size_t i = 0; i < n; ++i) {
            if (xor_into)
                data[done + i] ^= block[offset + i];
            else
                data[done + i] = block[offset + i];
        }
        done += n;
        position += n;
    }
}

}  // namespace detail

namespace crypto {

/// Write keystream(key, iv)[start : start + out.size()] into `out`.
inline void keystream(const prepared_key& key, bytes_view iv, std::span<std::uint8_t> out, std::uint64_t start = 0) {
    detail::apply_keystream(key, iv, out, start, false);
}
inline void keystream(bytes_view key, bytes_view iv, std::span<std::uint8_t> out, std::uint64_t start = 0) {
    keystream(prepared_key(key), iv, out, start);
}

/// keystream(key, iv)[start : start + length].
inline bytes keystream(bytes_view key, bytes_view iv, std::size_t length, std::uint64_t start = 0) {
    bytes out(length);
    keystream(key, iv, std::span<std::uint8_t>(out), start);
    return out;
}

/// XOR the keystream into `data` in place (encryption and decryption are the same operation).
inline void symcrypt_in_place(const prepared_key& key, bytes_view iv, std::span<std::uint8_t> data) {
    detail::apply_keystream(key, iv, data, 0, true);
}
inline void symcrypt_in_place(bytes_view key, bytes_view iv, std::span<std::uint8_t> data) {
    symcrypt_in_place(prepared_key(key), iv, data);
}

/// data XOR keystream(key, iv, len(data)).
inline bytes symcrypt(bytes_view key, bytes_view iv, bytes_view data) {
    bytes out(data.begin(), data.end());
    symcrypt_in_place(key, iv, out);
    return out;
}

/// Result of encrypt(): the IV actually used and the ciphertext.
struct encrypted {
    bytes iv;
    bytes ciphertext;
};

/// encrypt(key, data, iv): symcrypt under `iv`; an empty `iv` is replaced by
/// iv_size bytes from `rng` (as Python does for a missing or empty iv).
inline encrypted encrypt(bytes_view key, bytes_view data, bytes_view iv = {}, const random_source& rng = {}) {
    encrypted out;
    out.iv = iv.empty() ? rng.random_bytes(iv_size) : bytes(iv.begin(), iv.end());
    out.ciphertext = symcrypt(key, out.iv, data);
    return out;
}

/// decrypt(key, iv, ct) = symcrypt(key, iv, ct).
inline bytes decrypt(bytes_view key, bytes_view iv, bytes_view ciphertext) { return symcrypt(key, iv, ciphertext); }

/// netaio's hmac over the concatenation of `message_parts` (no copy of the message is made).
///
/// k = derive_key(key, iv, "mac") zero-padded to 136 bytes;
/// result = sha256((k ^ 0x5c…) || sha256((k ^ 0x36…) || message)).
inline digest hmac(const prepared_key& key, bytes_view iv, std::initializer_list<bytes_view> message_parts) {
    digest k = detail::derive_key_prehashed(key.key_hash(), iv, detail::mac_label_hash());
    std::array<std::uint8_t, hmac_block_size> pad{};
    for (std::size_t i = 0; i < hmac_block_size; ++i)
        pad[i] = static_cast<std::uint8_t>((i < k.size() ? k[i] : 0) ^ 0x36);

    sha256_hasher inner_hasher;
    inner_hasher.update(pad);
    for (bytes_view part : message_parts) inner_hasher.update(part);
    const digest inner = inner_hasher.finish();

    // Turn the ipad into the opad in place: (k ^ 0x36) ^ (0x36 ^ 0x5c) = k ^ 0x5c.
    for (auto& b : pad) b ^= 0x36 ^ 0x5c;
    const digest mac = sha256_hasher{}.update(pad).update(inner).finish();

    sodium_memzero(k.data(), k.size());
    sodium_memzero(pad.data(), pad.size());
    return mac;
}

/// netaio's hmac over message parts, with a raw key.
inline digest hmac(bytes_view key, bytes_view iv, std::initializer_list<bytes_view> message_parts) {
    return hmac(prepared_key(key), iv, message_parts);
}

/// netaio's hmac(key, iv, message) (PROTOCOL.md §5; NOT standard HMAC-SHA256).
inline digest hmac(bytes_view key, bytes_view iv, bytes_view message) { return hmac(key, iv, {message}); }

/// True iff `mac` equals hmac(key, iv, message parts). Constant time in the MAC
/// bytes (sodium_memcmp); a `mac` not exactly mac_size bytes long is false.
inline bool check_hmac(const prepared_key& key, bytes_view iv, std::initializer_list<bytes_view> message_parts,
                       bytes_view mac) {
    if (mac.size() != mac_size) return false;
    const digest expected = hmac(key, iv, message_parts);
    return sodium_memcmp(expected.data(), mac.data(), mac_size) == 0;
}
inline bool check_hmac(bytes_view key, bytes_view iv, std::initializer_list<bytes_view> message_parts,
                       bytes_view mac) {
    return check_hmac(prepared_key(key), iv, message_parts, mac);
}

/// True iff `mac` equals hmac(key, iv, message); constant time; wrong length is false.
inline bool check_hmac(bytes_view key, bytes_view iv, bytes_view message, bytes_view mac) {
    return check_hmac(key, iv, {message}, mac);
}

/// seal(key, plaintext) = iv (16 random) || hmac(key, iv, ct) (32) || ct, ct = symcrypt(key, iv, plaintext).
/// Not used on the wire by netaio; provided for completeness.
inline bytes seal(bytes_view key, bytes_view plaintext, const random_source& rng = {}) {
    const bytes iv = rng.random_bytes(iv_size);
    bytes out;
    out.reserve(iv_size + mac_size + plaintext.size());
    detail::append(out, iv);
    out.resize(iv_size + mac_size);
    out.insert(out.end(), plaintext.begin(), plaintext.end());
    std::span<std::uint8_t> ct(out.data() + iv_size + mac_size, plaintext.size());
    symcrypt_in_place(key, iv, ct);
    const digest mac = hmac(key, iv, bytes_view(ct));
    std::copy(mac.begin(), mac.end(), out.begin() + iv_size);
    return out;
}

/// Inverse of seal(): verify the MAC (constant time), then decrypt.
/// Sets `ec` to errc::decrypt_failed when the ciphergram is too short or the MAC differs.
inline bytes unseal(bytes_view key, bytes_view ciphergram, std::error_code& ec) {
    ec.clear();
    if (ciphergram.size() < iv_size + mac_size) {
        ec = make_error_code(errc::decrypt_failed);
        return {};
    }
    const bytes_view iv = ciphergram.first(iv_size);
    const bytes_view mac = ciphergram.subspan(iv_size, mac_size);
    const bytes_view ct = ciphergram.subspan(iv_size + mac_size);
    if (!check_hmac(key, iv, ct, mac)) {
        ec = make_error_code(errc::decrypt_failed);
        return {};
    }
    return symcrypt(key, iv, ct);
}

/// Inverse of seal(); throws netaio::error(errc::decrypt_failed) on a bad ciphergram.
inline bytes unseal(bytes_view key, bytes_view ciphergram) {
    std::error_code ec;
    bytes out = unseal(key, ciphergram, ec);
    detail::throw_if(ec);
    return out;
}

}  // namespace crypto
NETAIO_END_NAMESPACE
