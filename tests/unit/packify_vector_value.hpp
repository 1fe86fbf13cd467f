// tests/unit/packify_vector_value.hpp - turn the vectors' typed value descriptions
// ({"type": "int", "value": "5"}, {"type": "dict", "items": [[k, v], ...]}, ...)
// into packify values.
#pragma once

#include "vector_support.hpp"

#include <netaio/packify.hpp>

#include <cstring>

namespace netaio_test {

inline netaio::packify::value packify_value_of(const json& d) {
    using namespace netaio::packify;
    const std::string type = d.at("type").get<std::string>();
    auto items_of = [&](const json& desc) {
        std::vector<value> items;
        if (desc.contains("repeat")) {
            items.assign(desc.at("repeat").get<std::size_t>(), packify_value_of(desc.at("item")));
        } else {
            for (const auto& item : desc.at("items")) items.push_back(packify_value_of(item));
        }
        return items;
    };
    if (type == "none") return value();
    if (type == "bool") return value(d.at("value").get<bool>());
    if (type == "int") return value(integer::from_string(d.at("value").get<std::string>()));
    if (type == "float") {
        std::uint64_t bits = std::stoull(d.at("bits").get<std::string>(), nullptr, 16);
        double f;
        std::memcpy(&f, &bits, sizeof f);
        return value(f);
    }
    if (type == "decimal") return value(decimal{d.at("value").get<std::string>()});
    if (type == "str") {
        if (!d.contains("utf8_hex")) return value(d.at("value").get<std::string>());  // ASCII-only cases
        netaio::bytes utf8 = hex(d.at("utf8_hex"));
        return value(std::string(utf8.begin(), utf8.end()));
    }
    if (type == "bytes") return value(hex(d.at("hex")));
    if (type == "bytearray") return value(bytearray{hex(d.at("hex"))});
    if (type == "list") return value(list(items_of(d)));
    if (type == "tuple") return value(tuple(items_of(d)));
    if (type == "set") return value(set(items_of(d)));
    if (type == "dict") {
        dict out;
        for (const auto& kv : d.at("items")) out.items.emplace_back(packify_value_of(kv.at(0)), packify_value_of(kv.at(1)));
        return value(std::move(out));
    }
    throw std::runtime_error("vector value type not representable: " + type);
}

/// Whether a description contains a Packable anywhere (netaio never decodes those).
inline bool mentions_packable(const json& d) { return d.dump().find("\"packable\"") != std::string::npos; }

}  // namespace netaio_test

#include <catch2/catch.hpp>

// Show packify values in failed assertions as their wire bytes.
template <>
struct Catch::StringMaker<netaio::packify::value> {
    static std::string convert(const netaio::packify::value& v) {
        std::error_code ec;
        netaio::bytes out;
        netaio::packify::pack_into(out, v, {}, ec);
        return ec ? "<unencodable packify value>" : "packify(" + netaio::to_hex(out) + ")";
    }
};
