// fuzz_support.hpp - what the plugin fuzz targets share: a deterministic random
// source and clock, the input layouts, and an abort that names the property.
//
// Input layouts (byte 0 is the mode; bit 0 chooses the layout):
//   raw         mode | frame...                           (bit 0 clear)
//   structured  mode | u16be(n) | frame[n] | ops...       (bit 0 set)
// A structured input's frame is first signed / encrypted by the target, so the
// fuzzer starts from a valid message, and each op (4 bytes) then alters it.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/message.hpp>
#include <netaio/random.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace netaio_fuzz {

/// The time every target's clock reads: the golden vectors were recorded here.
inline constexpr std::int64_t fuzz_time = 1700000000;

[[noreturn]] inline void fail(const char* target, const char* what) {
    std::fprintf(stderr, "%s: %s\n", target, what);
    std::abort();
}

/// A random source that always produces the same bytes and integers (inputs
/// must replay identically): an xorshift from a fixed seed; the middle of a range.
inline netaio::random_source fixed_random() {
    netaio::random_source r;
    r.fill = [](std::span<std::uint8_t> out) {
        std::uint32_t x = 0x9E3779B9u;
        for (auto& b : out) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b = static_cast<std::uint8_t>(x);
        }
    };
    r.uniform = [](std::uint32_t low, std::uint32_t high) { return low + (high - low) / 2; };
    return r;
}

/// One alteration of a structured input.
struct op {
    std::uint8_t kind, a, b, c;
};

/// An input split by its layout.
struct parsed_input {
    std::uint8_t mode = 0;
    bool structured = false;
    netaio::bytes_view frame;
    std::span<const std::uint8_t> ops;  // 4 bytes per op; a partial tail is ignored
    std::size_t op_count() const noexcept { return ops.size() / 4; }
    op op_at(std::size_t i) const noexcept { return {ops[4 * i], ops[4 * i + 1], ops[4 * i + 2], ops[4 * i + 3]}; }
};

inline std::optional<parsed_input> parse(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return std::nullopt;
    parsed_input in;
    in.mode = data[0];
    in.structured = (data[0] & 1) != 0;
    if (!in.structured) {
        in.frame = netaio::bytes_view(data + 1, size - 1);
        return in;
    }
    if (size < 3) return std::nullopt;
    const std::size_t n = (std::size_t{data[1]} << 8) | data[2];
    if (size - 3 < n) return std::nullopt;
    in.frame = netaio::bytes_view(data + 3, n);
    in.ops = std::span<const std::uint8_t>(data + 3 + n, size - 3 - n);
    return in;
}

/// Flip bit `bit` of byte `at` (taken modulo the size) of `data`; false when empty.
inline bool flip(netaio::bytes& data, std::size_t at, unsigned bit) {
    if (data.empty()) return false;
    data[at % data.size()] = static_cast<std::uint8_t>(data[at % data.size()] ^ (1u << (bit % 8)));
    return true;
}

/// A frame's message, or nullopt when the bytes are not exactly one valid frame.
inline std::optional<netaio::Message> decode_frame(netaio::bytes_view frame) {
    std::error_code ec;
    netaio::Message m = netaio::decode_datagram(frame, ec);
    if (ec) return std::nullopt;
    return m;
}

/// The entry at `index` (modulo the count) of non-empty `fields`.
inline const netaio::AuthFields::entry& entry_at(const netaio::AuthFields& fields, std::size_t index) {
    return *std::next(fields.begin(), static_cast<std::ptrdiff_t>(index % fields.size()));
}

/// Apply one op to a message as an on-path attacker would (the caller re-frames
/// it). `names` are the auth field names op 3 writes.
///   0 re-type; 1 flip a bit in a field's value (a non-bytes value becomes bytes);
///   2 erase a field; 3 add or replace a field; 4 flip a bit in the uri or the
///   content (or grow an empty one); 5 truncate a bytes field.
inline void apply(netaio::Message& m, const op& o, const std::vector<std::string>& names) {
    netaio::AuthFields& f = m.auth_data;
    switch (o.kind % 6) {
        case 0:
            m.header.message_type = static_cast<netaio::MessageType>(o.a);
            break;
        case 1: {
            if (f.size() == 0) break;
            const netaio::AuthFields::entry& e = entry_at(f, o.a);
            const std::string name = e.first;
            netaio::packify::value v = e.second;
            if (netaio::bytes* b = v.get_if<netaio::bytes>(); b && !b->empty())
                flip(*b, o.b, o.c);
            else
                v = netaio::packify::value(netaio::bytes{o.b});
            f.set(name, std::move(v));
            break;
        }
        case 2:
            if (f.size() > 0) f.erase(std::string(entry_at(f, o.a).first));
            break;
        case 3:
            if (!names.empty()) f.set(names[o.b % names.size()], netaio::bytes(o.c % 40, o.a));
            break;
        case 4: {
            netaio::bytes& part = (o.a & 1) ? m.body.uri : m.body.content;
            if (!flip(part, o.b, o.c)) part.push_back(o.c);
            break;
        }
        default: {
            if (f.size() == 0) break;
            const netaio::AuthFields::entry& e = entry_at(f, o.a);
            if (const netaio::bytes* b = e.second.get_if<netaio::bytes>(); b && !b->empty()) {
                const std::string name = e.first;
                netaio::bytes shorter(b->begin(), b->begin() + static_cast<std::ptrdiff_t>(o.b % b->size()));
                f.set(name, std::move(shorter));
            }
            break;
        }
    }
}

/// Encode `m` and decode it again, as the receiver sees it; nullopt when it cannot
/// be framed or does not decode (e.g. re-typed to a type the decoder refuses).
inline std::optional<netaio::Message> reframe(const netaio::Message& m) {
    netaio::bytes wire;
    std::error_code ec;
    m.encode_into(wire, ec);
    if (ec) return std::nullopt;
    return decode_frame(wire);
}

/// Whether `name` is absent from both or equal in both.
inline bool same_field(const netaio::AuthFields& a, const netaio::AuthFields& b, const char* name) {
    const netaio::packify::value* x = a.get(name);
    const netaio::packify::value* y = b.get(name);
    if (!x || !y) return !x && !y;
    return *x == *y;
}

}  // namespace netaio_fuzz
