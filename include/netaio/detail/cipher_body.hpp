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

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

// The in-place forms serve ciphers whose ciphertext is as long as the plaintext
// (Sha256StreamCipherPlugin): the body's own buffers hold the plaintext and the
// ciphertext, so once they have grown to the traffic's sizes a message is
// encrypted and decrypted without allocating. The copying forms below them
// (X25519CipherPlugin, whose box is longer than its plaintext) reuse them.

/// The cut point for a ciphertext of `length` bytes: one uniform draw in
/// [1, length - 1]. Requires length >= 2, which every caller's layout guarantees.
inline std::size_t draw_split_point(std::size_t length, const random_source& random) {
    return random.uniform_int(1, static_cast<std::uint32_t>(length - 1));
}

/// Make body.content the encrypt_uri plaintext u16be(len(uri)) || uri || content
/// (the uri stays as it is). The uri must fit 16 bits.
inline void move_uri_into_content(Body& body) {
    const auto prefix_end = body.content.insert(body.content.begin(), 2 + body.uri.size(), 0) + 2;
    put_u16be(body.content.data(), static_cast<std::uint16_t>(body.uri.size()));
    std::copy(body.uri.begin(), body.uri.end(), prefix_end);
}

/// Cut the ciphertext in body.content at `split` (in [1, len - 1]): the wire uri
/// becomes ct[0:split] and the content ct[split:].
inline void cut_content_at(Body& body, std::size_t split) {
    // The split varies per message: when the uri buffer must grow, size it for any
    // split of this ciphertext, so later messages of this size fit without growing.
    if (body.uri.capacity() < split) body.uri.reserve(body.content.size());
    const auto cut = body.content.begin() + static_cast<std::ptrdiff_t>(split);
    body.uri.assign(body.content.begin(), cut);
    body.content.erase(body.content.begin(), cut);
}

/// Make body.content the ciphertext the wire uri and content were cut from
/// (uri || content); the uri stays as it is.
inline void join_uri_into_content(Body& body) {
    body.content.insert(body.content.begin(), body.uri.begin(), body.uri.end());
}

/// Restore uri and content from the encrypt_uri plaintext in body.content. False
/// (body untouched) when it is shorter than its 2-byte prefix or the uri length
/// runs past it; Python slices silently there, which only ever yields garbage.
inline bool restore_uri_from_content(Body& body) {
    bytes& pt = body.content;
    if (pt.size() < 2) return false;
    const std::size_t uri_length = get_u16be(pt.data());
    if (uri_length > pt.size() - 2) return false;
    const auto uri_end = pt.begin() + 2 + static_cast<std::ptrdiff_t>(uri_length);
    body.uri.assign(pt.begin() + 2, uri_end);
    pt.erase(pt.begin(), uri_end);
    return true;
}

/// Append u16be(len(uri)) || uri || content (the encrypt_uri plaintext). The uri must fit 16 bits.
inline void append_uri_plaintext(bytes& out, const Body& body) {
    append_u16be(out, static_cast<std::uint16_t>(body.uri.size()));
    append(out, body.uri);
    append(out, body.content);
}

/// Replace the body with `ct` cut at a random point in [1, len(ct) - 1] (one
/// uniform draw). Requires len(ct) >= 2.
inline void split_ciphertext_into(Body& body, bytes ct, const random_source& random) {
    const std::size_t split = draw_split_point(ct.size(), random);
    body.content = std::move(ct);
    cut_content_at(body, split);
}

/// The wire uri and content joined back into the ciphertext they were cut from.
inline bytes joined_ciphertext(const Body& body) {
    bytes ct;
    ct.reserve(body.uri.size() + body.content.size());
    append(ct, body.uri);
    append(ct, body.content);
    return ct;
}

/// Restore uri and content from an encrypt_uri plaintext `pt`; false (body
/// untouched) when it is malformed, as restore_uri_from_content.
inline bool restore_uri_plaintext(Body& body, bytes pt) {
    body.content.swap(pt);
    if (restore_uri_from_content(body)) return true;
    body.content.swap(pt);
    return false;
}

}  // namespace detail
NETAIO_END_NAMESPACE
