// Sans-I/O tests of the packify codec against every case of packify.json, plus the
// strict-decoder rules and limits that go beyond Python.
#include "packify_vector_value.hpp"

#include <netaio/packify.hpp>
#include <netaio/packify_json.hpp>

#include <catch2/catch.hpp>

#include <iostream>

using namespace netaio;
using namespace netaio::packify;
using netaio_test::hex;
using netaio_test::packify_value_of;

namespace {

const netaio_test::json& packify_vectors() {
    static const auto doc = netaio_test::load_vectors("packify.json");
    return doc;
}

std::error_code unpack_error(const bytes& data, const decode_options& opts = {}) {
    std::error_code ec;
    (void)unpack(data, opts, ec);
    return ec;
}

}  // namespace

TEST_CASE("packify: roundtrip vectors encode to the exact bytes and decode to the exact value", "[packify][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(packify_vectors(), "roundtrip")) {
        INFO(c.at("description").get<std::string>());
        const bytes wire = hex(c.at("packed_hex"));
        if (netaio_test::mentions_packable(c.at("value"))) {
            // Choice: Packable is never resolved by class name; decoding it is an error.
            CHECK(unpack_error(wire) == errc::packify_packable);
            ++checked;
            continue;
        }
        const value expected = packify_value_of(c.at("value"));
        CHECK(to_hex(pack(expected)) == to_hex(wire));
        std::error_code ec;
        const value decoded = unpack(wire, {}, ec);
        REQUIRE_FALSE(ec);
        CHECK(decoded == expected);
        ++checked;
    }
    std::cout << "packify roundtrip vectors checked: " << checked << "\n";
    CHECK(checked == 73);
}

TEST_CASE("packify: Python-lenient inputs - strict by default, Python's value when allowed", "[packify][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(packify_vectors(), "unpack_lenient")) {
        const std::string description = c.at("description").get<std::string>();
        INFO(description);
        const bytes wire = hex(c.at("packed_hex"));
        const value expected = packify_value_of(c.at("value"));

        // With Python's leniency switched on we decode exactly what Python decodes.
        std::error_code ec;
        CHECK(unpack(wire, python_lenient_options(), ec) == expected);
        CHECK_FALSE(ec);
        CHECK(to_hex(pack(expected)) == c.at("canonical_hex").get<std::string>());

        // By default: trailing bytes and duplicates are errors; non-canonical but
        // unambiguous encodings (wider categories, leading zeros, bool 0x02) decode.
        const std::error_code strict = unpack_error(wire);
        if (description.find("trailing") != std::string::npos) {
            CHECK(strict == errc::packify_trailing_bytes);
        } else if (description.find("duplicate") != std::string::npos) {
            CHECK(strict == errc::packify_duplicate);
        } else {
            CHECK_FALSE(strict);
            CHECK(unpack(wire) == expected);
        }
        ++checked;
    }
    std::cout << "packify lenient vectors checked: " << checked << "\n";
    CHECK(checked == 18);
}

TEST_CASE("packify: malformed input gets a typed error in strict and lenient modes", "[packify][vectors]") {
    // The Python exception of each vector maps onto one netaio reason.
    const std::map<std::string, errc> expected_reason = {
        {"empty input", errc::packify_empty},
        {"unknown type code 9", errc::packify_unknown_type},
        {"unknown type code 0x3f", errc::packify_unknown_type},
        {"bool without payload", errc::packify_truncated},
        {"bool with trailing byte (struct wants exactly 1)", errc::packify_trailing_bytes},
        {"float truncated", errc::packify_truncated},
        {"str length beyond data", errc::packify_truncated},
        {"str with invalid UTF-8", errc::packify_bad_utf8},
        {"bytes length field truncated (CAT2 needs 2 bytes)", errc::packify_truncated},
        {"bytes length beyond data", errc::packify_truncated},
        {"bytes with CAT0 code 0x01", errc::packify_bad_category},
        {"int CAT2 truncated", errc::packify_truncated},
        {"int CAT3 truncated", errc::packify_truncated},
        {"int CAT0 size beyond data", errc::packify_truncated},
        {"list count beyond data", errc::packify_truncated},
        {"list with invalid item_category byte 0x05", errc::packify_bad_category},
        {"list item lengths beyond data", errc::packify_truncated},
        {"list containing an invalid item", errc::packify_unknown_type},
        {"dict item that is not a pair", errc::packify_type_mismatch},
        {"dict with an unhashable (list) key", errc::packify_unhashable},
        {"set containing a list (unhashable)", errc::packify_unhashable},
        {"Packable class not injected", errc::packify_packable},
        {"truncated nested dict", errc::packify_truncated},
    };
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(packify_vectors(), "unpack_error")) {
        const std::string description = c.at("description").get<std::string>();
        INFO(description);
        REQUIRE(expected_reason.count(description) == 1);
        const bytes wire = hex(c.at("packed_hex"));
        CHECK(unpack_error(wire) == expected_reason.at(description));
        CHECK(unpack_error(wire, python_lenient_options()) == expected_reason.at(description));
        CHECK_THROWS_AS(unpack(wire), netaio::error);
        ++checked;
    }
    std::cout << "packify unpack_error vectors checked: " << checked << "\n";
    CHECK(checked == 23);
}

TEST_CASE("packify: ints Python cannot pack are written minimally, or refused on request", "[packify][vectors]") {
    std::size_t checked = 0;
    encode_options python_only;
    python_only.python_encodable_ints_only = true;
    for (const auto& c : netaio_test::cases_of_kind(packify_vectors(), "pack_error")) {
        INFO(c.at("description").get<std::string>());
        const value v = packify_value_of(c.at("value"));
        const integer& n = v.as_integer();
        CHECK_FALSE(python_can_encode(n));

        std::error_code ec;
        bytes out;
        pack_into(out, v, python_only, ec);
        CHECK(ec == errc::packify_not_encodable);

        if (n.magnitude().size() <= 255) {
            // Default: minimal size; Python decodes it (any size byte is accepted).
            const bytes wire = pack(v);
            REQUIRE(wire.size() == 2 + n.magnitude().size());
            CHECK(wire[0] == (n.is_negative() ? 0x05 : 0x04));
            CHECK(wire[1] == n.magnitude().size());
            CHECK(unpack(wire) == v);
        } else {
            CHECK_THROWS_AS(pack(v), netaio::error);  // over 255 bytes: no size byte can say it
        }
        ++checked;
    }
    std::cout << "packify pack_error vectors checked: " << checked << "\n";
    CHECK(checked == 5);
}

TEST_CASE("packify: big-int size byte matches packify 0.3.1 for every 2^bits+delta", "[packify][vectors]") {
    const auto tables = netaio_test::cases_of_kind(packify_vectors(), "int_size_table");
    REQUIRE(tables.size() == 1);
    std::map<std::pair<int, int>, netaio_test::json> anomalies;
    for (const auto& row : tables[0].at("rows")) anomalies[{row.at(0).get<int>(), row.at(1).get<int>()}] = row;

    std::size_t checked = 0;
    for (int bits = 32; bits <= 2040; ++bits) {
        for (int delta = -1; delta <= 1; ++delta) {
            // n = 2^bits + delta as a big-endian magnitude.
            bytes mag(static_cast<std::size_t>(bits / 8 + 1), 0);
            mag[0] = static_cast<std::uint8_t>(1u << (bits % 8));
            if (delta == 1) mag.back() |= 1;
            if (delta == -1) {  // 2^bits - 1: all ones below bit `bits`
                std::fill(mag.begin(), mag.end(), 0xff);
                mag[0] = static_cast<std::uint8_t>((1u << (bits % 8)) - 1);
            }
            const integer n = integer::from_magnitude(false, mag);
            INFO("bits " << bits << " delta " << delta);
            const auto python_size = netaio::detail::python_big_int_size(n.magnitude());
            auto it = anomalies.find({bits, delta});
            if (it == anomalies.end()) {
                REQUIRE(python_size.has_value());
                CHECK(*python_size == n.magnitude().size());
            } else if (it->second.at(2).is_null()) {
                CHECK_FALSE(python_size.has_value());  // Python raises
            } else {
                REQUIRE(python_size.has_value());
                CHECK(*python_size == it->second.at(2).get<std::size_t>());
                // And our encoder pads exactly as Python does.
                const bytes wire = pack(value(n));
                CHECK(wire[1] == *python_size);
                CHECK(wire.size() == 2 + *python_size);
                CHECK(unpack(wire) == value(n));
            }
            ++checked;
        }
    }
    std::cout << "packify int size table checked: " << checked << " ints (" << anomalies.size()
              << " Python anomalies)\n";
}

TEST_CASE("packify: worked examples of the protocol spec", "[packify]") {
    CHECK(to_hex(pack(dict{{"foo", "bar"}})) == "4d40010f4c400205054303666f6f4303626172");
    CHECK(to_hex(pack(list{nullptr, true, 1.0})) == "4a4003010209000601073ff0000000000000");
    CHECK(to_hex(pack(dict{{"b", 2}, {"a", list{1, -1}}})) ==
          "4d40020a114c4002030243016244024c4002030943016"
          "14a4002020244014501");
    CHECK(to_hex(pack(dict{{1, bytes{'a'}}})) == "4d40010a4c400202034401410161");
    // Insertion order never shows on the wire.
    CHECK(pack(dict{{"z", bytes{}}, {"aa", 1}}) == pack(dict{{"aa", 1}, {"z", bytes{}}}));
}

TEST_CASE("packify: strict limits are checked before allocating", "[packify][limits]") {
    SECTION("count bomb: LIST CAT3 count 0xFFFFFFFF with a few bytes") {
        const bytes bomb = from_hex("ca40ffffffff01010101");
        CHECK(unpack_error(bomb) == errc::packify_truncated);
    }
    SECTION("count above max_items") {
        decode_options opts;
        opts.max_items = 2;
        CHECK(unpack_error(pack(list{1, 2, 3}), opts) == errc::packify_too_many_items);
        CHECK_FALSE(unpack_error(pack(list{1, 2}), opts));
    }
    SECTION("total items across containers") {
        decode_options opts;
        opts.max_total_items = 4;
        CHECK(unpack_error(pack(list{list{1, 2}, list{3}}), opts) == errc::packify_too_many_items);
        CHECK_FALSE(unpack_error(pack(list{list{1}, list{2}}), opts));
    }
    SECTION("nesting bomb of 3000 levels is rejected at the depth limit") {
        value v = list{};
        for (int i = 0; i < 3000; ++i) v = list{std::move(v)};
        const bytes wire = pack(v);
        decode_options opts;
        opts.max_depth = 8;
        CHECK(unpack_error(wire, opts) == errc::packify_too_deep);
        CHECK(unpack_error(wire) == errc::packify_too_deep);
    }
    SECTION("input size") {
        decode_options opts;
        opts.max_input_bytes = 4;
        CHECK(unpack_error(pack(bytes(10, 1)), opts) == errc::packify_too_large);
    }
    SECTION("item lengths summing past the end") {
        CHECK(unpack_error(from_hex("4a400203034401")) == errc::packify_truncated);
    }
    SECTION("item-category byte 0x00, 0x41, 0xff") {
        CHECK(unpack_error(from_hex("4a00010100")) == errc::packify_bad_category);
        CHECK(unpack_error(from_hex("4a41010100")) == errc::packify_bad_category);
        CHECK(unpack_error(from_hex("4aff010100")) == errc::packify_bad_category);
    }
    SECTION("CAT0 lengths for str and containers") {
        CHECK(unpack_error(from_hex("030161")) == errc::packify_bad_category);
        CHECK(unpack_error(from_hex("0a400100")) == errc::packify_bad_category);
    }
    SECTION("every unknown type code 9, 14-19, 21-63") {
        for (int code = 0; code < 64; ++code) {
            if (code <= 8 || (code >= 10 && code <= 13) || code == 20) continue;
            CAPTURE(code);
            CHECK(unpack_error(bytes{static_cast<std::uint8_t>(code), 0, 0}) == errc::packify_unknown_type);
        }
    }
    SECTION("duplicate dict key: strict rejects, lenient keeps the last value at the first position") {
        // Two pairs {"a": 1}, {"a": 2} laid out as a dict.
        bytes pair1 = pack(tuple{"a", 1});
        bytes pair2 = pack(tuple{"a", 2});
        bytes wire = {0x4d, 0x40, 0x02, static_cast<std::uint8_t>(pair1.size()), static_cast<std::uint8_t>(pair2.size())};
        wire.insert(wire.end(), pair1.begin(), pair1.end());
        wire.insert(wire.end(), pair2.begin(), pair2.end());
        CHECK(unpack_error(wire) == errc::packify_duplicate);
        CHECK(unpack(wire, python_lenient_options()) == value(dict{{"a", 2}}));
    }
    SECTION("every prefix of a valid auth dict is rejected without over-reading") {
        const bytes wire = pack(dict{{"nonce", bytes(16, 7)}, {"ts", bytes(4, 1)}, {"hmac", bytes(32, 9)}});
        for (std::size_t n = 0; n < wire.size(); ++n) {
            CAPTURE(n);
            CHECK(unpack_error(bytes(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n))));
        }
    }
}

TEST_CASE("packify: values built from C++ literals and JSON", "[packify][json]") {
    const value v = dict{{"name", "server"}, {"port", 8888}, {"tags", list{"a", bytes{1, 2}}}, {"ratio", 0.5},
                         {"none", nullptr}, {"ok", true}};
    const nlohmann::json j = to_json(v);
    CHECK(j["name"] == "server");
    CHECK(j["port"] == 8888);
    CHECK(j["ratio"] == 0.5);
    CHECK(j["none"].is_null());
    CHECK(j["tags"][1].is_binary());
    const value back = from_json(j);
    // JSON objects are ordered by key, so compare entries rather than order.
    for (const auto& [k, val] : v.as<dict>().items) CHECK(back[k] == val);
    CHECK(to_hex(pack(back)) == to_hex(pack(v)));  // the wire never depends on order
    CHECK_THROWS_AS(to_json(value(integer::from_string("18446744073709551616"))), netaio::error);
    CHECK_THROWS_AS(to_json(value(dict{{1, 2}})), netaio::error);
    CHECK(integer::from_string("-9223372036854775808").to_int64() == INT64_MIN);
    CHECK(value(-5).as_integer().to_string() == "-5");
    CHECK(integer::from_string("340282366920938463463374607431768211456").to_string() ==
          "340282366920938463463374607431768211456");
}

TEST_CASE("packify: str must be valid UTF-8 to encode", "[packify]") {
    std::error_code ec;
    bytes out;
    pack_into(out, value(std::string("\xed\xa0\x80")), {}, ec);  // a lone surrogate
    CHECK(ec == errc::packify_bad_utf8);
    CHECK(unpack_error(from_hex("4302c0af")) == errc::packify_bad_utf8);        // overlong
    CHECK(unpack_error(from_hex("4304f4908080")) == errc::packify_bad_utf8);    // above U+10FFFF
    CHECK(unpack_error(from_hex("4803312e2e")) == errc::packify_bad_decimal);  // "1.."
}
