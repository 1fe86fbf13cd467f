// netaio/auth_fields.hpp - the auth data of a message: a dict of text keys to values.
//
// On the wire the auth data is a packify dict (PROTOCOL §1.4, §4.1). The bundled
// plugins only ever put bytes values in it ("nonce", "ts", "hmac", "iv", "witness"),
// but Python allows any packify value, so AuthFields keeps values generic and
// offers bytes accessors for the common case. Entry order never matters: packify
// sorts dict entries by their encoded bytes.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/detail/utf8.hpp>
#include <netaio/packify.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Bounds for decoding auth data from the network (RELIABILITY §5: auth dicts of
/// the bundled plugins have 3-5 flat entries; nothing legitimate nests deeply).
inline packify::decode_options auth_decode_options() {
    packify::decode_options o;
    o.max_depth = 8;
    o.max_items = 1024;
    o.max_total_items = 4096;
    return o;
}

class AuthFields {
public:
    using entry = std::pair<std::string, packify::value>;

    AuthFields() = default;
    AuthFields(std::initializer_list<std::pair<std::string, bytes>> init) {
        for (const auto& [k, v] : init) set(k, v);
    }
    // Copies take the live entries only; moves take everything and leave `other` empty.
    AuthFields(const AuthFields& other) : fields_(other.begin(), other.end()), size_(other.size_) {}
    AuthFields(AuthFields&& other) noexcept : fields_(std::move(other.fields_)), size_(std::exchange(other.size_, 0)) {
        other.fields_.clear();
    }
    AuthFields& operator=(const AuthFields& other) {
        if (this != &other) {
            fields_.assign(other.begin(), other.end());
            size_ = other.size_;
        }
        return *this;
    }
    AuthFields& operator=(AuthFields&& other) noexcept {
        if (this != &other) {
            fields_ = std::move(other.fields_);
            size_ = std::exchange(other.size_, 0);
            other.fields_.clear();
        }
        return *this;
    }
    ~AuthFields() = default;
    friend void swap(AuthFields& a, AuthFields& b) noexcept {
        a.fields_.swap(b.fields_);
        std::swap(a.size_, b.size_);
    }

    /// The value under `key`, or nullptr.
    const packify::value* get(std::string_view key) const noexcept {
        for (const auto& [k, v] : *this)
            if (k == key) return &v;
        return nullptr;
    }
    /// The bytes under `key`; nullopt when absent or not bytes.
    std::optional<bytes_view> get_bytes(std::string_view key) const noexcept {
        if (const packify::value* v = get(key))
            if (const bytes* b = v->get_if<bytes>()) return bytes_view(*b);
        return std::nullopt;
    }
    bool contains(std::string_view key) const noexcept { return get(key) != nullptr; }

    /// Insert or replace.
    void set(std::string_view key, packify::value v) { slot_for(key) = std::move(v); }
    /// Insert or replace with bytes; reuses the storage the entry (or a cleared one) had.
    void set(std::string_view key, bytes_view b) {
        packify::value& slot = slot_for(key);
        bytes* existing = slot.get_if<bytes>();
        if (existing && !detail::overlaps(b, *existing)) {
            existing->assign(b.begin(), b.end());
        } else {
            slot = packify::value(bytes(b.begin(), b.end()));
        }
    }
    void set(std::string_view key, const bytes& b) { set(key, bytes_view(b)); }

    /// Remove `key`; false if it was absent.
    bool erase(std::string_view key) {
        auto it = std::find_if(fields_.begin(), live_end(), [&](const entry& e) { return e.first == key; });
        if (it == live_end()) return false;
        std::rotate(it, it + 1, live_end());  // the others keep their order; the entry becomes spare
        --size_;
        return true;
    }
    /// Remove every entry. Their storage is kept, for set() and decode_into() to reuse.
    void clear() noexcept { size_ = 0; }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    using const_iterator = std::vector<entry>::const_iterator;
    const_iterator begin() const noexcept { return fields_.begin(); }
    const_iterator end() const noexcept { return fields_.begin() + static_cast<std::ptrdiff_t>(size_); }

    /// Append the packify encoding (a dict; `4d 40 00` when empty) to `out`.
    void encode_into(bytes& out, std::error_code& ec) const {
        ec.clear();
        if (empty()) {  // the common case: no auth fields, always these 3 bytes
            out.insert(out.end(), {0x4d, 0x40, 0x00});
            return;
        }
        // Each entry is a (str key, value) 2-tuple; packify sorts the encoded pairs.
        // The scratch buffers are per thread and keep their capacity, so a node that
        // sends authenticated messages does not allocate here once warm.
        encode_scratch& scratch = scratch_for_this_thread();
        if (scratch.pairs.size() < size_) scratch.pairs.resize(size_);
        const std::span<bytes> pairs(scratch.pairs.data(), size_);
        for (std::size_t i = 0; i < size_; ++i) {
            auto& key_and_value = scratch.key_and_value;
            key_and_value[0].clear();
            key_and_value[1].clear();
            pairs[i].clear();
            packify::pack_into(key_and_value[0], packify::value(std::string_view(fields_[i].first)), {}, ec);
            if (!ec) packify::pack_into(key_and_value[1], fields_[i].second, {}, ec);
            if (ec || !packify::detail::append_container(pairs[i], packify::type_code::tuple, key_and_value)) {
                if (!ec) ec = make_error_code(errc::packify_not_encodable);
                return;
            }
        }
        std::sort(pairs.begin(), pairs.end());
        if (!packify::detail::append_container(out, packify::type_code::dict, pairs))
            ec = make_error_code(errc::packify_not_encodable);
    }
    bytes encode() const {
        bytes out;
        std::error_code ec;
        encode_into(out, ec);
        detail::throw_if(ec);
        return out;
    }

    /// Decode auth data. Anything but a dict with str keys is errc::malformed_auth;
    /// `cause` (optional) receives the underlying packify reason.
    static AuthFields decode(bytes_view data, const packify::decode_options& opts, std::error_code& ec,
                             std::error_code* cause = nullptr) {
        AuthFields out;
        decode_into(out, data, opts, ec, cause);
        return out;
    }

    /// decode() into `out`, reusing the storage of its entries: the dicts the bundled
    /// plugins send (str keys, bytes values) then cost no allocation once warm. On
    /// failure `out` is empty.
    static void decode_into(AuthFields& out, bytes_view data, const packify::decode_options& opts,
                            std::error_code& ec, std::error_code* cause = nullptr) {
        ec.clear();
        if (cause) cause->clear();
        out.clear();
        if (data.size() == 3 && data[0] == 0x4d && data[1] == 0x40 && data[2] == 0x00) return;  // {}
        if (out.decode_flat(data, opts)) return;
        out.clear();
        decode_general(out, data, opts, ec, cause);
    }

    /// Order-insensitive, as Python dicts compare.
    friend bool operator==(const AuthFields& a, const AuthFields& b) {
        if (a.size() != b.size()) return false;
        for (const auto& [k, v] : a) {
            const packify::value* other = b.get(k);
            if (!other || !(*other == v)) return false;
        }
        return true;
    }

private:
    struct encode_scratch {
        std::vector<bytes> pairs;  // encoded (key, value) tuples, sorted before output
        bytes key_and_value[2];
    };
    static encode_scratch& scratch_for_this_thread() {
        thread_local encode_scratch scratch;
        return scratch;
    }

    std::vector<entry>::iterator live_end() noexcept { return fields_.begin() + static_cast<std::ptrdiff_t>(size_); }

    /// The value slot of `key`: its live entry, else a new one (reusing a spare entry).
    packify::value& slot_for(std::string_view key) {
        for (auto it = fields_.begin(); it != live_end(); ++it)
            if (it->first == key) return it->second;
        entry& e = append_entry();
        e.first.assign(key);
        return e.second;
    }

    /// A new live entry at the end: a spare one when there is one (its key and value
    /// keep their storage for the caller to assign into), else a new one.
    entry& append_entry() {
        if (size_ == fields_.size()) fields_.emplace_back();
        return fields_[size_++];
    }

    /// The general decoder: any packify dict with str keys.
    static void decode_general(AuthFields& out, bytes_view data, const packify::decode_options& opts,
                               std::error_code& ec, std::error_code* cause) {
        std::error_code packify_ec;
        packify::value v = packify::unpack(data, opts, packify_ec);
        if (cause) *cause = packify_ec;
        packify::dict* d = packify_ec ? nullptr : v.get_if<packify::dict>();
        if (!d) {
            if (cause && !packify_ec) *cause = make_error_code(errc::packify_type_mismatch);
            ec = make_error_code(errc::malformed_auth);
            return;
        }
        for (auto& [k, val] : d->items) {
            std::string* key = k.get_if<std::string>();
            if (!key) {
                if (cause) *cause = make_error_code(errc::packify_type_mismatch);
                ec = make_error_code(errc::malformed_auth);
                out.clear();
                return;
            }
            entry& e = out.append_entry();  // keys are distinct: the decoder merged repeats
            e.first = std::move(*key);
            e.second = std::move(val);
        }
    }

    /// The fast path for the one shape the bundled plugins send: a dict of canonical
    /// (str key, bytes value) 2-tuples, distinct keys, no trailing bytes. It fills the
    /// entries in place and returns true; for anything else (any other value type,
    /// nesting, duplicate keys, bad UTF-8, truncation, a limit reached) it returns
    /// false, and the general decoder then decides, with its exact error. So both
    /// paths accept the same inputs with the same result (tested against each other).
    bool decode_flat(bytes_view data, const packify::decode_options& opts) {
        using packify::type_code;
        if (data.size() > opts.max_input_bytes || opts.max_depth < 2) return false;
        std::size_t pos = 0;
        std::size_t count = 0;
        std::size_t item_width = 0;
        if (!read_container_head(data, type_code::dict, pos, count, item_width)) return false;
        // The general decoder counts the dict's items plus two per pair tuple. Big
        // dicts go to it too: it finds repeated keys by hashing, not pair by pair.
        if (count > max_flat_entries || count > opts.max_items || 2 > opts.max_items ||
            count > opts.max_total_items / 3)
            return false;
        std::size_t item_start = pos + count * item_width;
        if (item_start > data.size()) return false;
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t length = read_width(data.data() + pos + i * item_width, item_width);
            if (length > data.size() - item_start) return false;
            if (!decode_flat_pair(data.subspan(item_start, length))) return false;
            item_start += length;
        }
        if (item_start != data.size()) return false;
        for (std::size_t i = 1; i < size_; ++i)  // auth dicts have a handful of entries
            for (std::size_t j = 0; j < i; ++j)
                if (fields_[i].first == fields_[j].first) return false;
        return true;
    }

    /// One (str, bytes) 2-tuple filling exactly `pair`, appended as a live entry.
    bool decode_flat_pair(bytes_view pair) {
        using packify::type_code;
        std::size_t pos = 0;
        std::size_t count = 0;
        std::size_t item_width = 0;
        if (!read_container_head(pair, type_code::tuple, pos, count, item_width) || count != 2) return false;
        if (pair.size() - pos < 2 * item_width) return false;
        const std::size_t key_length = read_width(pair.data() + pos, item_width);
        const std::size_t value_length = read_width(pair.data() + pos + item_width, item_width);
        const bytes_view items = pair.subspan(pos + 2 * item_width);
        if (key_length > items.size() || value_length != items.size() - key_length) return false;
        bytes_view key;
        bytes_view value;
        if (!read_blob(items.first(key_length), type_code::str, key) ||
            !read_blob(items.subspan(key_length), type_code::bytes, value))
            return false;
        const std::string_view key_text(reinterpret_cast<const char*>(key.data()), key.size());
        if (!detail::is_valid_utf8(key_text)) return false;
        entry& e = append_entry();
        e.first.assign(key_text);
        if (bytes* existing = e.second.get_if<bytes>()) {
            existing->assign(value.begin(), value.end());
        } else {
            e.second = packify::value(bytes(value.begin(), value.end()));
        }
        return true;
    }

    static std::size_t read_width(const std::uint8_t* p, std::size_t width) noexcept {
        std::size_t v = 0;
        for (std::size_t i = 0; i < width; ++i) v = (v << 8) | p[i];
        return v;
    }

    /// A container code of `type`, its item-width byte and its count; `pos` ends on the lengths.
    static bool read_container_head(bytes_view in, packify::type_code type, std::size_t& pos, std::size_t& count,
                                    std::size_t& item_width) noexcept {
        if (in.size() < 2 || (in[0] & 0x3F) != static_cast<std::uint8_t>(type)) return false;
        const std::size_t count_width = packify::detail::category_width(in[0] & 0xC0);
        item_width = packify::detail::category_width(in[1]);
        if (count_width == 0 || item_width == 0) return false;
        if (in.size() - 2 < count_width) return false;
        count = read_width(in.data() + 2, count_width);
        pos = 2 + count_width;
        return count <= (in.size() - pos) / (item_width + 1);
    }

    /// A blob of `type` filling exactly `in`.
    static bool read_blob(bytes_view in, packify::type_code type, bytes_view& data) noexcept {
        if (in.empty() || (in[0] & 0x3F) != static_cast<std::uint8_t>(type)) return false;
        const std::size_t width = packify::detail::category_width(in[0] & 0xC0);
        if (width == 0 || in.size() - 1 < width) return false;
        const std::size_t length = read_width(in.data() + 1, width);
        if (length != in.size() - 1 - width) return false;
        data = in.subspan(1 + width);
        return true;
    }

    static constexpr std::size_t max_flat_entries = 16;

    std::vector<entry> fields_;  // [0, size_) are live; the rest are spare storage
    std::size_t size_ = 0;
};

NETAIO_END_NAMESPACE
