// netaio/packify_json.hpp - conversions between packify values and nlohmann::json.
//
// Where the types allow: None <-> null, bool, int (up to 64 bits) <-> integer
// numbers, float <-> floating numbers, str <-> string, list <-> array, dict with
// str keys <-> object, bytes <-> json binary. tuple and set become arrays and
// Decimal becomes its text (one-way). Anything else (big ints, non-str dict keys,
// bytearray) throws netaio::error(errc::packify_type_mismatch).
#pragma once

#include <netaio/errors.hpp>
#include <netaio/packify_value.hpp>
#include <netaio/version.hpp>

#include <nlohmann/json.hpp>

NETAIO_BEGIN_NAMESPACE
namespace packify {

inline nlohmann::json to_json(const value& v) {
    using nlohmann::json;
    switch (v.type()) {
        case kind::none: return nullptr;
        case kind::boolean: return v.as_bool();
        case kind::integer: {
            const integer& n = v.as_integer();
            if (auto s = n.to_int64()) return *s;
            if (auto u = n.to_uint64()) return *u;
            throw error(errc::packify_type_mismatch, "packify int does not fit a JSON number");
        }
        case kind::floating: return v.as_double();
        case kind::string: return v.as_string();
        case kind::bytes: return json::binary(v.as_bytes());
        case kind::decimal: return v.get_if<decimal>()->text;
        case kind::list:
        case kind::tuple:
        case kind::set: {
            json arr = json::array();
            for (const value& item : v.items()) arr.push_back(to_json(item));
            return arr;
        }
        case kind::dict: {
            json obj = json::object();
            for (const auto& [k, val] : v.get_if<dict>()->items) {
                const std::string* key = k.get_if<std::string>();
                if (!key) throw error(errc::packify_type_mismatch, "JSON objects need str keys");
                obj[*key] = to_json(val);
            }
            return obj;
        }
        case kind::bytearray: break;
    }
    throw error(errc::packify_type_mismatch, "packify value has no JSON form");
}

inline value from_json(const nlohmann::json& j) {
    using t = nlohmann::json::value_t;
    switch (j.type()) {
        case t::null: return value();
        case t::boolean: return value(j.get<bool>());
        case t::number_integer: return value(j.get<std::int64_t>());
        case t::number_unsigned: return value(j.get<std::uint64_t>());
        case t::number_float: return value(j.get<double>());
        case t::string: return value(j.get<std::string>());
        case t::binary: return value(netaio::bytes(j.get_binary().begin(), j.get_binary().end()));
        case t::array: {
            list out;
            for (const auto& item : j) out.items.push_back(from_json(item));
            return value(std::move(out));
        }
        case t::object: {
            dict out;
            for (const auto& [k, item] : j.items()) out.items.emplace_back(value(k), from_json(item));
            return value(std::move(out));
        }
        case t::discarded: break;
    }
    throw error(errc::packify_type_mismatch, "JSON value has no packify form");
}

// ADL hooks so that `nlohmann::json j = v;` and `j.get<packify::value>()` work.
inline void to_json(nlohmann::json& j, const value& v) { j = to_json(v); }
inline void from_json(const nlohmann::json& j, value& v) { v = from_json(j); }

}  // namespace packify
NETAIO_END_NAMESPACE
