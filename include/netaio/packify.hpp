// netaio/packify.hpp - packify 0.3.1 codec (the serializer netaio uses for auth
// fields and peer records), byte-exact with the Python implementation.
//
//     bytes wire = packify::pack(packify::dict{{"foo", "bar"}});
//     packify::value v = packify::unpack(wire);              // throws netaio::error
//     packify::value w = packify::unpack(wire, options, ec); // never throws for bad input
//
// Decoding is strict and bounded by default (`decode_options`): nesting depth,
// items per container, total items and input size are capped, every length is
// checked against the bytes that remain before anything is allocated, and the
// places where Python is lenient (trailing bytes, repeated dict keys or set items)
// are errors unless explicitly allowed. Non-canonical but unambiguous encodings
// that Python accepts (a wider length category than needed, an int magnitude with
// leading zeros, a bool byte other than 0/1) decode to the same value as in Python.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/python_int_size.hpp>
#include <netaio/detail/utf8.hpp>
#include <netaio/errors.hpp>
#include <netaio/packify_value.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace packify {

/// Wire type codes (the low 6 bits of the code byte).
enum class type_code : std::uint8_t {
    none = 0, bytes = 1, bytearray = 2, str = 3, integer = 4, negative_integer = 5, boolean = 6,
    floating = 7, decimal = 8, list = 10, set = 11, tuple = 12, dict = 13, packable = 20,
};

/// Bounds and leniency of the decoder. Defaults suit general untrusted input;
/// netaio uses tighter ones for auth fields and peer data.
struct decode_options {
    std::size_t max_depth = 32;               ///< nesting levels of containers
    std::size_t max_items = 1u << 20;         ///< items in one container
    std::size_t max_total_items = 1u << 20;   ///< items in all containers together
    std::size_t max_input_bytes = 64u << 20;  ///< size of the whole input
    bool allow_trailing_bytes = false;        ///< Python ignores bytes after a value
    bool allow_duplicates = false;            ///< Python keeps the last dict key / collapses set items
};

/// Options that reproduce Python's leniency (still bounded).
inline decode_options python_lenient_options() {
    decode_options o;
    o.allow_trailing_bytes = true;
    o.allow_duplicates = true;
    return o;
}

struct encode_options {
    /// Refuse ints that packify 0.3.1 itself cannot encode (it raises OverflowError
    /// for |n| = 256^k, k >= 4, and some values just above; struct.error above 255
    /// bytes). When false (the default) such ints are written with the minimal size,
    /// which Python decodes correctly.
    bool python_encodable_ints_only = false;
};

namespace detail {

/// Length category of a non-negative count or length: the two high code bits.
inline std::uint8_t category_of(std::uint64_t n) noexcept {
    if (n < (1u << 8)) return 0x40;
    if (n < (1u << 16)) return 0x80;
    if (n < (std::uint64_t{1} << 32)) return 0xC0;
    return 0x00;
}
inline std::size_t category_width(std::uint8_t category) noexcept {
    switch (category) {
        case 0x40: return 1;
        case 0x80: return 2;
        case 0xC0: return 4;
        default: return 0;
    }
}
inline void append_sized(bytes& out, std::uint64_t n, std::size_t width) {
    for (std::size_t i = width; i-- > 0;) out.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
}

/// Append a container: code|count category, item category byte, count, item
/// lengths, items. Every item length uses the width of the longest item. False
/// when a count or length needs 2^32 or more (not encodable, quirk Q6).
template <class Items>
bool append_container(bytes& out, type_code type, const Items& encoded_items) {
    std::size_t longest = 0;
    for (const auto& item : encoded_items) longest = std::max(longest, std::size(item));
    const std::uint8_t count_cat = category_of(std::size(encoded_items));
    const std::uint8_t item_cat = category_of(longest);
    if (count_cat == 0x00 || item_cat == 0x00) return false;
    out.push_back(count_cat | static_cast<std::uint8_t>(type));
    out.push_back(item_cat);
    append_sized(out, std::size(encoded_items), category_width(count_cat));
    for (const auto& item : encoded_items) append_sized(out, std::size(item), category_width(item_cat));
    for (const auto& item : encoded_items) out.insert(out.end(), std::begin(item), std::end(item));
    return true;
}

class encoder {
public:
    encoder(const encode_options& opts, std::error_code& ec) : opts_(opts), ec_(ec) {}

    void encode(bytes& out, const value& v) {
        if (ec_) return;
        switch (v.type()) {
            case kind::none: out.push_back(0x00); break;
            case kind::boolean:
                out.push_back(0x06);
                out.push_back(*v.get_if<bool>() ? 1 : 0);
                break;
            case kind::integer: encode_integer(out, *v.get_if<integer>()); break;
            case kind::floating: {
                std::uint64_t bits;
                double d = *v.get_if<double>();
                std::memcpy(&bits, &d, sizeof bits);
                out.push_back(0x07);
                append_sized(out, bits, 8);
                break;
            }
            case kind::string: {
                const std::string& s = *v.get_if<std::string>();
                if (!netaio::detail::is_valid_utf8(s)) return fail(errc::packify_bad_utf8);
                encode_blob(out, type_code::str, as_bytes_view(s));
                break;
            }
            case kind::bytes: encode_blob(out, type_code::bytes, *v.get_if<netaio::bytes>()); break;
            case kind::bytearray: encode_blob(out, type_code::bytearray, v.get_if<bytearray>()->data); break;
            case kind::decimal: encode_blob(out, type_code::decimal, as_bytes_view(v.get_if<decimal>()->text)); break;
            case kind::list: encode_sequence(out, type_code::list, v.get_if<list>()->items); break;
            case kind::tuple: encode_sequence(out, type_code::tuple, v.get_if<tuple>()->items); break;
            case kind::set: encode_sequence(out, type_code::set, v.get_if<set>()->items); break;
            case kind::dict: encode_dict(out, *v.get_if<dict>()); break;
        }
    }

private:
    void fail(errc e) {
        if (!ec_) ec_ = make_error_code(e);
    }

    void encode_integer(bytes& out, const integer& n) {
        const std::uint8_t type = static_cast<std::uint8_t>(n.is_negative() ? type_code::negative_integer
                                                                             : type_code::integer);
        const bytes& mag = n.magnitude();
        if (auto small = n.magnitude_u64(); small && *small < (std::uint64_t{1} << 32)) {
            // Category chosen by the value (quirk Q4): 256 needs two bytes.
            const std::uint8_t cat = category_of(*small);
            out.push_back(cat | type);
            append_sized(out, *small, category_width(cat));
            return;
        }
        // Big int: code without category bits, a size byte, then the magnitude (Q1).
        std::size_t size = mag.size();
        if (auto python_size = netaio::detail::python_big_int_size(mag)) {
            size = *python_size;  // may exceed the minimal size by one: pad like Python
        } else if (opts_.python_encodable_ints_only || mag.size() > 255) {
            return fail(errc::packify_not_encodable);
        }
        out.push_back(type);
        out.push_back(static_cast<std::uint8_t>(size));
        out.insert(out.end(), size - mag.size(), std::uint8_t{0});
        out.insert(out.end(), mag.begin(), mag.end());
    }

    void encode_blob(bytes& out, type_code type, bytes_view data) {
        const std::uint8_t cat = category_of(data.size());
        if (cat == 0x00) return fail(errc::packify_not_encodable);  // Q6: lengths >= 2^32
        out.push_back(cat | static_cast<std::uint8_t>(type));
        append_sized(out, data.size(), category_width(cat));
        out.insert(out.end(), data.begin(), data.end());
    }

    void write_container(bytes& out, type_code type, const std::vector<bytes>& encoded_items) {
        if (!append_container(out, type, encoded_items)) fail(errc::packify_not_encodable);
    }

    void encode_sequence(bytes& out, type_code type, const std::vector<value>& items) {
        std::vector<bytes> encoded(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) encode(encoded[i], items[i]);
        if (!ec_) write_container(out, type, encoded);
    }

    // A dict is laid out as its (key, value) pairs, each encoded as a 2-tuple, sorted
    // by their encoded bytes (quirk Q5) - so insertion order never shows on the wire.
    void encode_dict(bytes& out, const dict& d) {
        std::vector<bytes> pairs(d.items.size());
        std::vector<bytes> kv(2);
        for (std::size_t i = 0; i < d.items.size(); ++i) {
            kv[0].clear();
            kv[1].clear();
            encode(kv[0], d.items[i].first);
            encode(kv[1], d.items[i].second);
            if (ec_) return;
            write_container(pairs[i], type_code::tuple, kv);
        }
        std::sort(pairs.begin(), pairs.end());
        if (!ec_) write_container(out, type_code::dict, pairs);
    }

    const encode_options& opts_;
    std::error_code& ec_;
};

/// Hash consistent with value equality, for duplicate detection in big containers.
inline std::size_t hash_value(const value& v) {
    std::size_t h = std::hash<std::size_t>{}(static_cast<std::size_t>(v.type()) * 0x9e3779b97f4a7c15ull);
    auto mix = [&h](std::size_t x) { h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    auto mix_bytes = [&mix](bytes_view b) {
        mix(std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(b.data()), b.size())));
    };
    switch (v.type()) {
        case kind::none: break;
        case kind::boolean: mix(*v.get_if<bool>() ? 1 : 0); break;
        case kind::integer:
            mix(v.get_if<integer>()->is_negative());
            mix_bytes(v.get_if<integer>()->magnitude());
            break;
        case kind::floating: {
            std::uint64_t bits;
            double d = *v.get_if<double>();
            std::memcpy(&bits, &d, sizeof bits);
            mix(std::hash<std::uint64_t>{}(bits));
            break;
        }
        case kind::string: mix_bytes(as_bytes_view(*v.get_if<std::string>())); break;
        case kind::bytes: mix_bytes(*v.get_if<netaio::bytes>()); break;
        case kind::bytearray: mix_bytes(v.get_if<bytearray>()->data); break;
        case kind::decimal: mix_bytes(as_bytes_view(v.get_if<decimal>()->text)); break;
        case kind::list:
        case kind::tuple:
        case kind::set:
            for (const value& item : v.items()) mix(hash_value(item));
            break;
        case kind::dict:
            for (const auto& [k, val] : v.get_if<dict>()->items) {
                mix(hash_value(k));
                mix(hash_value(val));
            }
            break;
    }
    return h;
}

/// Python's Decimal() syntax: [sign] (digits[.digits] | .digits) [e[sign]digits],
/// or Infinity/Inf/NaN/sNaN (any case, NaN may carry digits).
inline bool is_decimal_text(std::string_view s) {
    auto is_digit = [](char c) { return c >= '0' && c <= '9'; };
    auto lower_equals = [](std::string_view a, std::string_view b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
                   return (x >= 'A' && x <= 'Z' ? x + 32 : x) == y;
               });
    };
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) s.remove_prefix(1);
    if (lower_equals(s, "infinity") || lower_equals(s, "inf")) return true;
    for (std::string_view nan : {std::string_view("nan"), std::string_view("snan")}) {
        if (s.size() >= nan.size() && lower_equals(s.substr(0, nan.size()), nan))
            return std::all_of(s.begin() + static_cast<std::ptrdiff_t>(nan.size()), s.end(), is_digit);
    }
    std::size_t i = 0, int_digits = 0, frac_digits = 0;
    while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
    if (i < s.size() && s[i] == '.') {
        ++i;
        while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
    }
    if (int_digits + frac_digits == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        std::size_t exp_digits = 0;
        while (i < s.size() && is_digit(s[i])) ++i, ++exp_digits;
        if (exp_digits == 0) return false;
    }
    return i == s.size();
}

class decoder {
public:
    decoder(const decode_options& opts, std::error_code& ec) : opts_(opts), ec_(ec) {}

    /// Decode one value from the start of `in`; `consumed` receives its encoded size.
    value decode(bytes_view in, std::size_t depth, std::size_t& consumed) {
        consumed = 0;
        if (in.empty()) return fail(errc::packify_empty);
        const std::uint8_t code = in[0];
        switch (static_cast<type_code>(code & 0x3F)) {
            case type_code::none: consumed = 1; return value();
            case type_code::boolean:
                // Python unpacks exactly one byte from what follows the code; any extra byte
                // in that slice is an error even where trailing bytes are otherwise allowed.
                if (in.size() != 2) return fail(in.size() < 2 ? errc::packify_truncated : errc::packify_trailing_bytes);
                consumed = 2;
                return value(in[1] != 0);
            case type_code::floating: {
                if (in.size() < 9) return fail(errc::packify_truncated);
                std::uint64_t bits = 0;
                for (std::size_t i = 1; i <= 8; ++i) bits = (bits << 8) | in[i];
                double d;
                std::memcpy(&d, &bits, sizeof d);
                consumed = 9;
                return value(d);
            }
            case type_code::integer:
            case type_code::negative_integer: return decode_integer(in, code, consumed);
            case type_code::bytes:
            case type_code::bytearray:
            case type_code::str:
            case type_code::decimal: return decode_blob(in, code, consumed);
            case type_code::list:
            case type_code::set:
            case type_code::tuple:
            case type_code::dict: return decode_container(in, code, depth, consumed);
            case type_code::packable: return fail(errc::packify_packable);
        }
        return fail(errc::packify_unknown_type);
    }

private:
    value fail(errc e) {
        if (!ec_) ec_ = make_error_code(e);
        return value();
    }

    /// Read an unsigned length of `width` bytes at `pos`; false when it runs past the end.
    static bool read_sized(bytes_view in, std::size_t pos, std::size_t width, std::uint64_t& out) {
        if (width == 0 || pos > in.size() || in.size() - pos < width) return false;
        out = 0;
        for (std::size_t i = 0; i < width; ++i) out = (out << 8) | in[pos + i];
        return true;
    }

    value decode_integer(bytes_view in, std::uint8_t code, std::size_t& consumed) {
        const bool negative = (code & 0x3F) == static_cast<std::uint8_t>(type_code::negative_integer);
        std::size_t start = 1, size = category_width(code & 0xC0);
        if ((code & 0xC0) == 0x00) {  // big int: explicit size byte
            if (in.size() < 2) return fail(errc::packify_truncated);
            size = in[1];
            start = 2;
        }
        if (in.size() - start < size) return fail(errc::packify_truncated);
        consumed = start + size;
        return value(integer::from_magnitude(negative, in.subspan(start, size)));
    }

    value decode_blob(bytes_view in, std::uint8_t code, std::size_t& consumed) {
        const std::size_t width = category_width(code & 0xC0);
        std::uint64_t length = 0;
        if (width == 0) return fail(errc::packify_bad_category);
        if (!read_sized(in, 1, width, length)) return fail(errc::packify_truncated);
        if (in.size() - 1 - width < length) return fail(errc::packify_truncated);
        bytes_view data = in.subspan(1 + width, static_cast<std::size_t>(length));
        consumed = 1 + width + static_cast<std::size_t>(length);
        switch (static_cast<type_code>(code & 0x3F)) {
            case type_code::bytes: return value(netaio::bytes(data.begin(), data.end()));
            case type_code::bytearray: return value(bytearray{netaio::bytes(data.begin(), data.end())});
            case type_code::str: {
                std::string text(data.begin(), data.end());
                if (!netaio::detail::is_valid_utf8(text)) return fail(errc::packify_bad_utf8);
                return value(std::move(text));
            }
            default: {  // decimal
                std::string text(data.begin(), data.end());
                if (!is_decimal_text(text)) return fail(errc::packify_bad_decimal);
                return value(decimal{std::move(text)});
            }
        }
    }

    value decode_container(bytes_view in, std::uint8_t code, std::size_t depth, std::size_t& consumed) {
        if (depth >= opts_.max_depth) return fail(errc::packify_too_deep);
        const std::size_t count_width = category_width(code & 0xC0);
        if (count_width == 0) return fail(errc::packify_bad_category);
        if (in.size() < 2) return fail(errc::packify_truncated);
        const std::size_t item_width = category_width(in[1]);
        if (item_width == 0) return fail(errc::packify_bad_category);
        std::uint64_t count = 0;
        if (!read_sized(in, 2, count_width, count)) return fail(errc::packify_truncated);
        std::size_t pos = 2 + count_width;
        // Bound the count by what could possibly follow before allocating anything:
        // every item needs a length field and at least one byte of encoding.
        if (count > (in.size() - pos) / (item_width + 1)) return fail(errc::packify_truncated);
        if (count > opts_.max_items) return fail(errc::packify_too_many_items);
        total_items_ += static_cast<std::size_t>(count);
        if (total_items_ > opts_.max_total_items) return fail(errc::packify_too_many_items);

        std::vector<std::size_t> lengths(static_cast<std::size_t>(count));
        std::uint64_t sum = 0;
        for (auto& length : lengths) {
            std::uint64_t l = 0;
            read_sized(in, pos, item_width, l);  // cannot fail: bounded above
            pos += item_width;
            length = static_cast<std::size_t>(l);
            sum += l;
        }
        if (sum > in.size() - pos) return fail(errc::packify_truncated);

        std::vector<value> items;
        items.reserve(lengths.size());
        for (std::size_t length : lengths) {
            bytes_view slice = in.subspan(pos, length);
            std::size_t used = 0;
            value item = decode(slice, depth + 1, used);
            if (ec_) return value();
            if (used != length && !opts_.allow_trailing_bytes) return fail(errc::packify_trailing_bytes);
            items.push_back(std::move(item));
            pos += length;
        }
        consumed = pos;

        switch (static_cast<type_code>(code & 0x3F)) {
            case type_code::list: return value(list(std::move(items)));
            case type_code::tuple: return value(tuple(std::move(items)));
            case type_code::set: return make_set(std::move(items));
            default: return make_dict(std::move(items));
        }
    }

    /// Whether two items have equal keys; `first_index[i]` receives the index of the
    /// first earlier equal item (SIZE_MAX if none). Linear for small containers (auth
    /// dicts have a handful of entries), hashed for big ones.
    template <class KeyOf>
    bool has_duplicates(const std::vector<value>& items, KeyOf key_of, std::vector<std::size_t>* first_index) {
        const std::size_t n = items.size();
        bool found = false;
        if (first_index) first_index->assign(n, SIZE_MAX);
        if (n <= 16) {
            for (std::size_t i = 1; i < n; ++i)
                for (std::size_t j = 0; j < i; ++j)
                    if (key_of(items[i]) == key_of(items[j])) {
                        found = true;
                        if (first_index && (*first_index)[i] == SIZE_MAX) (*first_index)[i] = j;
                        break;
                    }
            return found;
        }
        auto hash = [&](std::size_t i) { return hash_value(key_of(items[i])); };
        auto eq = [&](std::size_t a, std::size_t b) { return key_of(items[a]) == key_of(items[b]); };
        std::unordered_set<std::size_t, decltype(hash), decltype(eq)> seen(n, hash, eq);
        for (std::size_t i = 0; i < n; ++i) {
            auto [it, inserted] = seen.insert(i);
            if (!inserted) {
                found = true;
                if (first_index) (*first_index)[i] = *it;
            }
        }
        return found;
    }

    value make_set(std::vector<value> items) {
        for (const value& item : items)
            if (!is_hashable(item)) return fail(errc::packify_unhashable);
        std::vector<std::size_t> first;
        if (!has_duplicates(items, [](const value& v) -> const value& { return v; }, &first)) return value(set(std::move(items)));
        if (!opts_.allow_duplicates) return fail(errc::packify_duplicate);
        std::vector<value> unique;  // Python collapses equal items, keeping the first
        for (std::size_t i = 0; i < items.size(); ++i)
            if (first[i] == SIZE_MAX) unique.push_back(std::move(items[i]));
        return value(set(std::move(unique)));
    }

    value make_dict(std::vector<value> pairs) {
        for (const value& pair : pairs) {
            const tuple* t = pair.get_if<tuple>();
            if (!t || t->items.size() != 2) return fail(errc::packify_type_mismatch);
            if (!is_hashable(t->items[0])) return fail(errc::packify_unhashable);
        }
        auto key_of = [](const value& pair) -> const value& { return pair.get_if<tuple>()->items[0]; };
        std::vector<std::size_t> first;
        const bool duplicates = has_duplicates(pairs, key_of, &first);
        if (duplicates && !opts_.allow_duplicates) return fail(errc::packify_duplicate);
        dict out;
        out.items.reserve(pairs.size());
        for (std::size_t i = 0; i < pairs.size(); ++i) {
            auto& kv = pairs[i].get_if<tuple>()->items;
            if (first[i] != SIZE_MAX) {
                out.set(std::move(kv[0]), std::move(kv[1]));  // Python: the last value wins
            } else {
                out.items.emplace_back(std::move(kv[0]), std::move(kv[1]));
            }
        }
        return value(std::move(out));
    }

    const decode_options& opts_;
    std::error_code& ec_;
    std::size_t total_items_ = 0;
};

}  // namespace detail

/// Append the packify encoding of `v` to `out`. On error `ec` is set and `out` may
/// hold a partial encoding.
inline void pack_into(bytes& out, const value& v, const encode_options& opts, std::error_code& ec) {
    ec.clear();
    detail::encoder(opts, ec).encode(out, v);
}

/// packify.pack(v). Throws netaio::error (e.g. errc::packify_bad_utf8, packify_not_encodable).
inline bytes pack(const value& v, const encode_options& opts = {}) {
    bytes out;
    std::error_code ec;
    pack_into(out, v, opts, ec);
    netaio::detail::throw_if(ec);
    return out;
}

/// packify.unpack(data), non-throwing: on failure `ec` names the reason and a None value is returned.
inline value unpack(bytes_view data, const decode_options& opts, std::error_code& ec) {
    ec.clear();
    if (data.size() > opts.max_input_bytes) {
        ec = make_error_code(errc::packify_too_large);
        return value();
    }
    std::size_t consumed = 0;
    value v = detail::decoder(opts, ec).decode(data, 0, consumed);
    if (ec) return value();
    if (consumed != data.size() && !opts.allow_trailing_bytes) {
        ec = make_error_code(errc::packify_trailing_bytes);
        return value();
    }
    return v;
}

/// packify.unpack(data); throws netaio::error naming the reason.
inline value unpack(bytes_view data, const decode_options& opts = {}) {
    std::error_code ec;
    value v = unpack(data, opts, ec);
    netaio::detail::throw_if(ec);
    return v;
}

/// Whether packify 0.3.1 itself could encode this int (see encode_options).
inline bool python_can_encode(const integer& n) {
    auto small = n.magnitude_u64();
    if (small && *small < (std::uint64_t{1} << 32)) return true;
    return netaio::detail::python_big_int_size(n.magnitude()).has_value();
}

}  // namespace packify
NETAIO_END_NAMESPACE
