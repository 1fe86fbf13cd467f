// netaio/detail/cipher_body.hpp - the body layout netaio's ciphers share (PROTOCOL §7, §8.1).
//
// With encrypt_uri the uri travels inside the plaintext, behind a u16be length:
//   plaintext = u16be(len(uri)) || uri || content
// and the ciphertext is cut at a random point r in [1, len(ct) - 1] into the wire
// uri ct[0:r] and content ct[r:] (so the wire uri is meaningless and both parts
// are non-empty). Without it the uri stays in clear and only the content is
// encrypted. Sha256StreamCipherPlugin and X25519CipherPlugin both use these
// helpers, which keeps their random draws in Python's order: the cipher's own
// randomness (iv, nonce) first, then the split point.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/message.hpp>
#include <netaio/random.hpp>
#include <netaio/version.hpp>

#include <cstddef>
#include <cstdint>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Append u16be(len(uri)) || uri || content (the encrypt_uri plaintext). The uri must fit 16 bits.
inline void append_uri_plaintext(bytes& out, const Body& body) {
    append_u16be(out, static_cast<std::uint16_t>(body.uri.size()));
    append(out, body.uri);
    append(out, body.content);
}

/// Replace the body with `ct` cut at a random point in [1, len(ct) - 1] (one
/// uniform draw). Requires len(ct) >= 2, which every caller's layout guarantees.
inline void split_ciphertext_into(Body& body, bytes ct, const random_source& random) {
    const std::uint32_t split = random.uniform_int(1, static_cast<std::uint32_t>(ct.size() - 1));
    body.uri.assign(ct.begin(), ct.begin() + split);
    ct.erase(ct.begin(), ct.begin() + split);
    body.content = std::move(ct);
}

/// The wire uri and content joined back into the ciphertext they were cut from.
inline bytes joined_ciphertext(const Body& body) {
    bytes ct;
    ct.reserve(body.uri.size() + body.content.size());
    append(ct, body.uri);
    append(ct, body.content);
    return ct;
}

/// Restore uri and content from an encrypt_uri plaintext. False (body untouched)
/// when the plaintext is shorter than its 2-byte prefix or the uri length runs
/// past it; Python slices silently there, which only ever yields garbage.
inline bool restore_uri_plaintext(Body& body, bytes pt) {
    if (pt.size() < 2) return false;
    const std::size_t uri_length = get_u16be(pt.data());
    if (uri_length > pt.size() - 2) return false;
    body.uri.assign(pt.begin() + 2, pt.begin() + 2 + static_cast<std::ptrdiff_t>(uri_length));
    pt.erase(pt.begin(), pt.begin() + 2 + static_cast<std::ptrdiff_t>(uri_length));
    body.content = std::move(pt);
    return true;
}

}  // namespace detail
NETAIO_END_NAMESPACE
