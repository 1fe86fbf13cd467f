// netaio/detail/covered_fields.hpp - the canonical encoding of the auth fields a
// signature or MAC covers: Ed25519AuthPlugin's signing input and HMACAuthPlugin's
// xmac both put it between the message type and the body.
//
//     u16 count ‖ for each covered entry, sorted bytewise by name:
//         u16 name length ‖ name ‖ kind (0: bytes value, 1: packify-encoded value)
//         ‖ u16 value length ‖ value
//
// Every length is explicit and the kind byte separates raw bytes from packify
// encodings, so two different field sets never encode to the same bytes.
#pragma once

#include <netaio/auth_fields.hpp>
#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/packify.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <system_error>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// Feed the encoding of the entries of `fields` whose name `covers(name)` accepts
/// to `feed(bytes_view)`, piece by piece. Returns errc::field_too_large when a count
/// or length does not fit 16 bits, or the packify error of a value that cannot be
/// encoded; `feed` may then have seen part of the encoding.
///
/// Per-thread scratch buffers keep their capacity: no allocation per message once warm.
template <class Covers, class Feed>
std::error_code encode_covered_fields(const AuthFields& fields, Covers&& covers, Feed&& feed) {
    thread_local std::vector<const AuthFields::entry*> covered;
    thread_local bytes packed;
    covered.clear();
    for (const AuthFields::entry& e : fields)
        if (covers(std::string_view(e.first))) covered.push_back(&e);
    // std::string_view compares chars as unsigned char: bytewise order.
    std::sort(covered.begin(), covered.end(), [](const AuthFields::entry* a, const AuthFields::entry* b) {
        return std::string_view(a->first) < std::string_view(b->first);
    });
    if (covered.size() > 0xFFFF) return make_error_code(errc::field_too_large);

    auto feed_u16 = [&feed](std::size_t n) {
        std::uint8_t be[2];
        put_u16be(be, static_cast<std::uint16_t>(n));
        feed(bytes_view(be, 2));
    };
    feed_u16(covered.size());
    for (const AuthFields::entry* e : covered) {
        bytes_view value;
        std::uint8_t kind = 0;
        if (const bytes* b = e->second.get_if<bytes>()) {
            value = *b;
        } else {
            std::error_code ec;
            packed.clear();
            packify::pack_into(packed, e->second, {}, ec);
            if (ec) return ec;
            value = packed;
            kind = 1;
        }
        if (e->first.size() > 0xFFFF || value.size() > 0xFFFF) return make_error_code(errc::field_too_large);
        feed_u16(e->first.size());
        feed(as_bytes_view(e->first));
        feed(bytes_view(&kind, 1));
        feed_u16(value.size());
        feed(value);
    }
    return {};
}

}  // namespace detail
NETAIO_END_NAMESPACE
