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

    /// The value under `key`, or nullptr.
    const packify::value* get(std::string_view key) const noexcept {
        for (const auto& [k, v] : fields_)
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
    void set(std::string_view key, packify::value v) {
        for (auto& [k, existing] : fields_)
            if (k == key) {
                existing = std::move(v);
                return;
            }
        fields_.emplace_back(std::string(key), std::move(v));
    }
    void set(std::string_view key, bytes_view b) { set(key, packify::value(bytes(b.begin(), b.end()))); }
    void set(std::string_view key, const bytes& b) { set(key, bytes_view(b)); }

    /// Remove `key`; false if it was absent.
    bool erase(std::string_view key) {
        auto it = std::find_if(fields_.begin(), fields_.end(), [&](const entry& e) { return e.first == key; });
        if (it == fields_.end()) return false;
        fields_.erase(it);
        return true;
    }
    void clear() noexcept { fields_.clear(); }

    std::size_t size() const noexcept { return fields_.size(); }
    bool empty() const noexcept { return fields_.empty(); }
    auto begin() const noexcept { return fields_.begin(); }
    auto end() const noexcept { return fields_.end(); }

    /// Append the packify encoding (a dict; `4d 40 00` when empty) to `out`.
    void encode_into(bytes& out, std::error_code& ec) const {
        ec.clear();
        if (fields_.empty()) {  // the common case: no auth fields, always these 3 bytes
            out.insert(out.end(), {0x4d, 0x40, 0x00});
            return;
        }
        // Each entry is a (str key, value) 2-tuple; packify sorts the encoded pairs.
        // The scratch buffers are per thread and keep their capacity, so a node that
        // sends authenticated messages does not allocate here once warm.
        encode_scratch& scratch = scratch_for_this_thread();
        if (scratch.pairs.size() < fields_.size()) scratch.pairs.resize(fields_.size());
        const std::span<bytes> pairs(scratch.pairs.data(), fields_.size());
        for (std::size_t i = 0; i < fields_.size(); ++i) {
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
        if (data.size() == 3 && data[0] == 0x4d && data[1] == 0x40 && data[2] == 0x00) {  // {}: skip the general decoder
            ec.clear();
            if (cause) cause->clear();
            return out;
        }
        std::error_code packify_ec;
        packify::value v = packify::unpack(data, opts, packify_ec);
        if (cause) *cause = packify_ec;
        packify::dict* d = packify_ec ? nullptr : v.get_if<packify::dict>();
        if (!d) {
            if (cause && !packify_ec) *cause = make_error_code(errc::packify_type_mismatch);
            ec = make_error_code(errc::malformed_auth);
            return out;
        }
        out.fields_.reserve(d->items.size());
        for (auto& [k, val] : d->items) {
            std::string* key = k.get_if<std::string>();
            if (!key) {
                if (cause) *cause = make_error_code(errc::packify_type_mismatch);
                ec = make_error_code(errc::malformed_auth);
                return AuthFields();
            }
            out.fields_.emplace_back(std::move(*key), std::move(val));
        }
        ec.clear();
        return out;
    }

    /// Order-insensitive, as Python dicts compare.
    friend bool operator==(const AuthFields& a, const AuthFields& b) {
        if (a.size() != b.size()) return false;
        for (const auto& [k, v] : a.fields_) {
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

    std::vector<entry> fields_;
};

NETAIO_END_NAMESPACE
