// Sans-I/O tests of frames, message types and helpers against every case of
// message.json, and of the stream and datagram decoders.
#include "message_vector_support.hpp"

#include <netaio/frame_decoder.hpp>
#include <netaio/message.hpp>

#include <catch2/catch.hpp>

#include <array>
#include <iostream>
#include <random>
#include <thread>

using namespace netaio;
using netaio_test::hex;

namespace {

const netaio_test::json& message_vectors() {
    static const auto doc = netaio_test::load_vectors("message.json");
    return doc;
}

message_type_set custom_set_of(const netaio_test::json& c) {
    std::vector<std::pair<std::string, int>> customs;
    for (const auto& [name, value] : c.at("custom_message_types").items()) customs.emplace_back(name, value.get<int>());
    return make_message_type_class("Custom", customs).to_set();
}

}  // namespace

TEST_CASE("message: every frame vector encodes to the exact bytes and decodes back", "[message][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "frame")) {
        INFO(c.at("description").get<std::string>());
        const Message m = netaio_test::message_of(c);
        const bytes wire = m.encode();
        CHECK(to_hex(wire) == c.at("encoded_hex").get<std::string>());
        CHECK(to_hex(m.header.encode()).size() == 18);
        CHECK(to_hex(m.auth_data.encode()) == c.at("auth_hex").get<std::string>());
        CHECK(to_hex(m.body.encode()) == c.at("body_hex").get<std::string>());
        const auto& h = c.at("header");
        CHECK(m.header.checksum == h.at("checksum").get<std::uint32_t>());
        CHECK(m.header.body_length == h.at("body_length").get<std::uint16_t>());

        message_type_set types;
        if (c.contains("custom_message_types")) {
            types = custom_set_of(c);
            std::error_code ec;
            (void)Message::decode(wire, ec);  // the default set does not know the custom type
            CHECK(ec == errc::unknown_message_type);
        }
        frame_limits limits;  // one vector carries 65422 payload bytes: fine under the defaults
        std::error_code ec;
        const Message back = decode_frame(wire, limits, types, ec);
        REQUIRE_FALSE(ec);
        CHECK(back.type() == m.type());
        CHECK(back.body == m.body);
        CHECK(back.auth_data == m.auth_data);
        CHECK(back.header.auth_length == h.at("auth_length").get<std::uint16_t>());
        CHECK(back.encode() == wire);
        ++checked;
    }
    std::cout << "message frame vectors checked: " << checked << "\n";
    CHECK(checked == 49);
}

TEST_CASE("message: helper vectors (make_ok_msg, make_error_msg, ...)", "[message][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "helper")) {
        INFO(c.at("description").get<std::string>());
        const std::string fn = c.at("function").get<std::string>();
        const auto& args = c.at("args");
        auto text_arg = [&](const char* name, std::string fallback) {
            return args.contains(name) ? args.at(name).get<std::string>() : fallback;
        };
        auto uri_arg = [&](std::string_view fallback) {
            return args.contains("uri") ? from_hex(args.at("uri").get<std::string>()) : to_bytes(fallback);
        };
        Message m;
        if (fn == "make_error_msg") {
            m = make_error_msg(text_arg("msg", ""), uri_arg("ERROR"));
        } else if (fn == "make_ok_msg") {
            m = make_ok_msg(text_arg("content", ""), uri_arg(""));
        } else if (fn == "make_not_found_msg") {
            m = make_not_found_msg();
        } else if (fn == "make_not_permitted_msg") {
            m = make_not_permitted_msg();
        } else if (fn == "make_respond_uri_msg") {
            m = make_respond_uri_msg(text_arg("content", ""), uri_arg(""));
        } else if (fn == "HMACAuthPlugin.error") {
            m = make_error_msg("HMAC auth failed");  // the plugin's error() uses this helper
        } else {
            FAIL("unknown helper " << fn);
        }
        CHECK(static_cast<int>(m.type()) == c.at("message_type").get<int>());
        CHECK(to_hex(m.encode()) == c.at("encoded_hex").get<std::string>());
        ++checked;
    }
    std::cout << "message helper vectors checked: " << checked << "\n";
    CHECK(checked == 10);
}

TEST_CASE("message: Body.prepare size limit vectors", "[message][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "body_prepare")) {
        INFO(c.at("description").get<std::string>());
        const std::string uri(c.at("uri_len").get<std::size_t>(), 'u');
        const std::string content(c.at("content_len").get<std::size_t>(), 'c');
        std::error_code ec;
        (void)Body::prepare(content, uri, c.at("overhead").get<std::size_t>(), ec);
        if (c.at("error").get<bool>()) {
            CHECK(ec == errc::content_too_long);
        } else {
            CHECK_FALSE(ec);
        }
        ++checked;
    }
    CHECK(max_body_payload() == 65422);
    std::cout << "message body_prepare vectors checked: " << checked << "\n";
    CHECK(checked == 3);
}

TEST_CASE("message: invalid frames get typed errors; lenient Python decodes are refused", "[message][vectors]") {
    // Python's Message.decode raises for these; each gets its own reason here.
    const std::map<std::string, errc> reasons = {
        {"bad checksum (header checksum altered)", errc::checksum_mismatch},
        {"bad checksum (body altered)", errc::checksum_mismatch},
        {"truncated header (5 bytes)", errc::truncated_frame},
        {"empty input", errc::truncated_frame},
        {"auth_length beyond the data", errc::truncated_frame},
        {"auth_length 0 (Python cannot unpack an empty auth blob)", errc::malformed_auth},
        {"unknown message type 14", errc::unknown_message_type},
        {"unknown message type 21", errc::unknown_message_type},
        {"unknown message type 31", errc::unknown_message_type},
        {"unknown message type 255", errc::unknown_message_type},
        {"body truncated (frame cut short)", errc::truncated_frame},
        {"uri_length beyond the body", errc::malformed_body},
        {"trailing bytes after the frame are taken as body content -> checksum mismatch", errc::trailing_bytes},
    };
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "invalid_frame")) {
        const std::string description = c.at("description").get<std::string>();
        INFO(description);
        REQUIRE(reasons.count(description) == 1);
        std::error_code ec;
        (void)Message::decode(hex(c.at("encoded_hex")), ec);
        CHECK(ec == reasons.at(description));
        CHECK_THROWS_AS(Message::decode(hex(c.at("encoded_hex"))), netaio::error);
        ++checked;
    }
    // Python accepts these two; we choose strictness: the header's body_length must
    // match the bytes, and the auth data must be a dict.
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "decode_lenient")) {
        const std::string description = c.at("description").get<std::string>();
        INFO(description);
        std::error_code ec;
        (void)Message::decode(hex(c.at("encoded_hex")), ec);
        if (description.find("body_length") != std::string::npos) {
            CHECK(ec == errc::truncated_frame);
        } else {
            CHECK(ec == errc::malformed_auth);
        }
        ++checked;
    }
    std::cout << "message invalid/lenient vectors checked: " << checked << "\n";
    CHECK(checked == 15);
}

TEST_CASE("message: worked frames of the protocol spec", "[message]") {
    CHECK(to_hex(Message::prepare(Body::prepare("hello", "echo"), MessageType::PUBLISH_URI).encode()) ==
          "070003000b9b359cb34d400000046563686f68656c6c6f");
    const Message with_auth = Message::prepare(Body::prepare("content", "uri"), MessageType::OK, {{"test", to_bytes("test")}});
    CHECK(to_hex(with_auth.encode()) ==
          "0a0015000c800f51a64d4001114c40020606430474657374410474657374000375726963"
          "6f6e74656e74");
    CHECK(infer_error_type(to_bytes("x not found")) == MessageType::NOT_FOUND);
    CHECK(make_error_msg("whatever", "ERROR", MessageType::REQUEST_URI).type() == MessageType::REQUEST_URI);
}

TEST_CASE("message types: run-time classes follow make/validate_message_type_class", "[message][types]") {
    const auto cls = make_message_type_class("Custom", {{"MY_TYPE", 31}, {"ALIAS", 31}, {"MAX", 255}});
    CHECK(validate_message_type_class(cls));
    CHECK(cls.value_of("MY_TYPE") == 31);
    CHECK(cls.name_of(31) == "MY_TYPE");
    CHECK(cls.to_set().contains(255));
    CHECK_FALSE(cls.to_set().contains(14));

    auto code_of = [](auto&& fn) -> std::error_code {
        try {
            fn();
        } catch (const netaio::error& e) {
            return e.code();
        }
        return {};
    };
    CHECK(code_of([] { make_message_type_class("C", {{"OK", 40}}); }) == errc::duplicate_message_type_name);
    CHECK(code_of([] { make_message_type_class("C", {{"LOW", 30}}); }) == errc::reserved_message_type);
    CHECK(code_of([] { make_message_type_class("C", {{"NEG", -1}}); }) == errc::reserved_message_type);
    CHECK(code_of([] { make_message_type_class("C", {{"HIGH", 256}}); }) == errc::message_type_out_of_range);

    std::vector<message_type_class::entry> entries;
    for (const auto& d : default_message_types) entries.push_back({std::string(d.name), static_cast<int>(d.value)});
    auto without_ok = entries;
    without_ok.erase(without_ok.begin() + 10);
    CHECK(code_of([&] { validate_message_type_class(message_type_class("C", without_ok)); }) ==
          errc::missing_default_message_type);
    CHECK_FALSE(validate_message_type_class(message_type_class("C", without_ok), true));
    auto redefined = entries;
    redefined[10].value = 99;
    try {
        validate_message_type_class(message_type_class("C", redefined));
        FAIL("redefined OK accepted");
    } catch (const netaio::error& e) {
        CHECK(e.code() == errc::redefined_default_message_type);
        CHECK(std::string(e.what()).find("redefined required OK from 10 to 99") != std::string::npos);
    }
    auto reserved = entries;
    reserved.push_back({"MINE", 17});
    CHECK(code_of([&] { validate_message_type_class(message_type_class("C", reserved)); }) == errc::reserved_message_type);
    auto too_high = entries;
    too_high.push_back({"MINE", 300});
    CHECK(code_of([&] { validate_message_type_class(message_type_class("C", too_high)); }) ==
          errc::message_type_out_of_range);
}

namespace {
enum class ChatType : std::uint8_t { NETAIO_DEFAULT_MESSAGE_TYPES, CHAT = 31, TYPING = 200 };
}  // namespace
template <>
struct netaio::message_type_traits<ChatType> {
    static constexpr auto entries =
        netaio::with_default_message_types<ChatType>({{"CHAT", ChatType::CHAT}, {"TYPING", ChatType::TYPING}});
};
static_assert(netaio::valid_message_type_enum<ChatType>());

TEST_CASE("message types: compile-time custom enums", "[message][types]") {
    const auto types = message_type_set::of<ChatType>();
    CHECK(types.contains(31));
    CHECK(types.contains(200));
    CHECK(types.contains(static_cast<std::uint8_t>(MessageType::DISCONNECT)));
    CHECK_FALSE(types.contains(32));
    const Message m = Message::prepare(Body::prepare("hi", "room"), ChatType::CHAT);
    CHECK(m.type_as<ChatType>() == ChatType::CHAT);
    std::error_code ec;
    CHECK(decode_frame(m.encode(), {}, types, ec).type_as<ChatType>() == ChatType::CHAT);
    CHECK_FALSE(ec);
}

// ---- stream and datagram decoders ------------------------------------------------

namespace {

std::vector<bytes> all_vector_frames() {
    std::vector<bytes> frames;
    for (const auto& c : netaio_test::cases_of_kind(message_vectors(), "frame"))
        if (!c.contains("custom_message_types")) frames.push_back(hex(c.at("encoded_hex")));
    return frames;
}

/// Feed `stream` in chunks of the given sizes and collect every message.
std::vector<Message> decode_in_chunks(stream_decoder& decoder, const bytes& stream, std::size_t first_chunk,
                                      std::size_t chunk) {
    std::vector<Message> out;
    std::size_t pos = 0;
    bool first = true;
    while (pos < stream.size()) {
        const std::size_t n = std::min(first ? first_chunk : chunk, stream.size() - pos);
        first = false;
        decoder.feed(bytes_view(stream.data() + pos, n));
        pos += n;
        std::error_code ec;
        while (auto m = decoder.next(ec)) out.push_back(std::move(*m));
        REQUIRE_FALSE(ec);
    }
    return out;
}

}  // namespace

TEST_CASE("stream decoder: every vector frame split at every offset and in 1-byte chunks", "[decoder][vectors]") {
    std::size_t splits = 0;
    for (const bytes& frame : all_vector_frames()) {
        const Message expected = Message::decode(frame);
        // Large frames: a sample of split points keeps the test fast.
        const std::size_t step = frame.size() > 4096 ? 997 : 1;
        for (std::size_t split = 0; split <= frame.size(); split += step) {
            stream_decoder decoder;
            auto got = decode_in_chunks(decoder, frame, split == 0 ? frame.size() : split, frame.size());
            REQUIRE(got.size() == 1);
            CHECK(got[0] == expected);
            CHECK(decoder.buffered() == 0);
            ++splits;
        }
        if (frame.size() <= 4096) {
            stream_decoder decoder;
            auto got = decode_in_chunks(decoder, frame, 1, 1);
            REQUIRE(got.size() == 1);
            CHECK(got[0] == expected);
        }
    }
    std::cout << "stream decoder split points checked: " << splits << "\n";
}

TEST_CASE("stream decoder: many frames per read, in order", "[decoder]") {
    bytes stream;
    std::vector<Message> sent;
    for (const bytes& frame : all_vector_frames()) {
        if (frame.size() > 1024) continue;
        stream.insert(stream.end(), frame.begin(), frame.end());
        sent.push_back(Message::decode(frame));
    }
    stream_decoder decoder;
    auto got = decode_in_chunks(decoder, stream, stream.size(), stream.size());
    CHECK(got == sent);
    for (std::size_t chunk : {2u, 7u, 64u, 1000u}) {
        stream_decoder d;
        CHECK(decode_in_chunks(d, stream, chunk, chunk) == sent);
    }
}

TEST_CASE("stream decoder: frame_cap() is the smallest of the limits and saturates for 'unlimited' ones", "[decoder]") {
    CHECK(stream_decoder().frame_cap() == header_size + 8192 + 65535);  // the auth cap binds by default
    frame_limits four_k;
    four_k.max_frame_bytes = 4096;
    CHECK(stream_decoder(four_k).frame_cap() == 4096);
    // SIZE_MAX means "no limit": the sum must not wrap around to a tiny cap (which
    // would make a reader ask for 1 byte at a time).
    frame_limits unlimited;
    unlimited.max_auth_bytes = static_cast<std::size_t>(-1);
    unlimited.max_body_bytes = static_cast<std::size_t>(-1);
    unlimited.max_frame_bytes = static_cast<std::size_t>(-1);
    CHECK(stream_decoder(unlimited).frame_cap() == static_cast<std::size_t>(-1));
    unlimited.max_frame_bytes = 1u << 20;
    CHECK(stream_decoder(unlimited).frame_cap() == (1u << 20));
}

TEST_CASE("stream decoder: checksum mismatch skips one frame and keeps the stream", "[decoder]") {
    bytes good = make_ok_msg("fine").encode();
    bytes bad = good;
    bad.back() ^= 0x01;
    bytes stream = bad;
    stream.insert(stream.end(), good.begin(), good.end());
    stream_decoder decoder;
    decoder.feed(stream);
    std::error_code ec;
    CHECK_FALSE(decoder.next(ec));
    CHECK(ec == errc::checksum_mismatch);
    auto m = decoder.next(ec);
    REQUIRE(m);
    CHECK_FALSE(ec);
    CHECK(m->body.content == to_bytes("fine"));
}

TEST_CASE("stream decoder: limits and malformed headers are fatal before any body arrives", "[decoder][limits]") {
    auto first_error = [](const bytes& data, frame_limits limits = {}) {
        stream_decoder decoder(limits);
        decoder.feed(data);
        std::error_code ec;
        while (decoder.next(ec)) {
        }
        return ec;
    };
    const bytes frame = make_ok_msg("hello", "uri").encode();
    bytes header(frame.begin(), frame.begin() + 9);

    SECTION("unknown type") {
        bytes h = header;
        h[0] = 99;
        CHECK(first_error(h) == errc::unknown_message_type);
    }
    SECTION("auth_length 0 and body_length below 2 are rejected from the header alone") {
        bytes h = header;
        h[1] = h[2] = 0;
        CHECK(first_error(h) == errc::malformed_auth);
        h = header;
        h[3] = 0;
        h[4] = 1;
        CHECK(first_error(h) == errc::malformed_body);
    }
    SECTION("sizes above the caps, checked from the 9 header bytes") {
        bytes h = header;
        h[1] = h[2] = 0xff;  // auth_length 65535
        h[3] = h[4] = 0xff;  // body_length 65535
        frame_limits small;
        small.max_frame_bytes = 4096;
        small.max_auth_bytes = 65535;
        CHECK(first_error(h, small) == errc::frame_too_large);
        CHECK(first_error(h) == errc::auth_too_large);
        frame_limits small_body;
        small_body.max_auth_bytes = 65535;
        small_body.max_body_bytes = 100;
        CHECK(first_error(h, small_body) == errc::body_too_large);
    }
    SECTION("auth_length one too long: the auth parse fails on the borrowed body byte at once") {
        bytes f = frame;
        f[2] += 1;
        f.resize(9 + 4);  // body not even sent
        CHECK(first_error(f) == errc::malformed_auth);
    }
    SECTION("auth_length one too short: truncated dict") {
        bytes f = frame;
        f[2] -= 1;
        CHECK(first_error(f) == errc::malformed_auth);
    }
    SECTION("uri_length past the body") {
        bytes f = frame;
        f[12] = 0xff;
        f[13] = 0xff;
        CHECK(first_error(f) == errc::malformed_body);
    }
    SECTION("after a fatal error every call fails") {
        bytes h = header;
        h[0] = 99;
        stream_decoder decoder;
        decoder.feed(h);
        std::error_code ec;
        CHECK_FALSE(decoder.next(ec));
        decoder.feed(frame);
        CHECK_FALSE(decoder.next(ec));
        CHECK(ec == errc::decoder_failed);
        CHECK(decoder.failed());
    }
    SECTION("partial frames wait for more bytes") {
        stream_decoder decoder;
        decoder.feed(bytes_view(frame.data(), frame.size() - 1));
        std::error_code ec;
        CHECK_FALSE(decoder.next(ec));
        CHECK_FALSE(ec);
        CHECK(decoder.mid_frame());
    }
}

TEST_CASE("datagram decoder: exactly one frame per datagram", "[decoder]") {
    const bytes frame = make_ok_msg("hello", "uri").encode();
    std::error_code ec;
    CHECK(decode_datagram(frame, ec).body.content == to_bytes("hello"));
    CHECK_FALSE(ec);
    for (std::size_t n = 0; n < 9; ++n) {
        (void)decode_datagram(bytes_view(frame.data(), n), ec);
        CHECK(ec == errc::truncated_frame);
    }
    bytes longer = frame;
    longer.push_back(0);
    (void)decode_datagram(longer, ec);
    CHECK(ec == errc::trailing_bytes);
    (void)decode_datagram(bytes_view(frame.data(), frame.size() - 1), ec);
    CHECK(ec == errc::truncated_frame);
}

TEST_CASE("message: auth fields encode the same through the reused per-thread scratch as on a fresh thread", "[message]") {
    // AuthFields::encode_into reuses per-thread buffers; a shorter or longer field
    // set after another must not see the earlier one's leftovers.
    const std::vector<std::vector<std::pair<std::string, std::string>>> cases{
        {{"nonce", "0123456789abcdef"}, {"ts", "abcd"}, {"hmac", std::string(32, 'h')}},
        {{"iv", "0123456789abcdef"}},
        {{"e", "5"}, {"d", "4"}, {"c", "3"}, {"b", "2"}, {"a", std::string(300, 'a')}},
        {},
        {{"zz", ""}, {"a_much_longer_field_name_than_the_others", "x"}},
        {{"nonce", "n"}, {"ts", "t"}, {"hmac", "h"}},
    };
    auto fields_of = [](const std::vector<std::pair<std::string, std::string>>& c) {
        AuthFields f;
        for (const auto& [k, v] : c) f.set(k, as_bytes_view(v));
        return f;
    };
    for (int pass = 0; pass < 2; ++pass) {
        for (const auto& c : cases) {
            const AuthFields f = fields_of(c);
            const bytes here = f.encode();
            bytes fresh;
            std::thread([&] { fresh = f.encode(); }).join();
            CHECK(here == fresh);
            std::error_code ec;
            const AuthFields back = AuthFields::decode(here, auth_decode_options(), ec);
            REQUIRE_FALSE(ec);
            CHECK(back.size() == c.size());
            for (const auto& [k, v] : c) CHECK(back.get_bytes(k).has_value());
        }
    }
}

namespace {

/// What AuthFields::decode must produce, straight from its definition: packify's
/// general decoder, then a dict whose keys are all str, entries in wire order.
struct auth_decoding {
    std::error_code ec;
    std::error_code cause;
    std::vector<std::pair<std::string, packify::value>> entries;
};

auth_decoding reference_auth_decode(bytes_view data, const packify::decode_options& opts) {
    auth_decoding r;
    packify::value v = packify::unpack(data, opts, r.cause);
    packify::dict* d = r.cause ? nullptr : v.get_if<packify::dict>();
    if (!r.cause && !d) r.cause = make_error_code(errc::packify_type_mismatch);
    if (d) {
        for (auto& [k, val] : d->items) {
            const std::string* key = k.get_if<std::string>();
            if (!key) {
                r.cause = make_error_code(errc::packify_type_mismatch);
                r.entries.clear();
                break;
            }
            r.entries.emplace_back(*key, val);
        }
    }
    if (r.cause) r.ec = make_error_code(errc::malformed_auth);
    return r;
}

auth_decoding actual_auth_decode(AuthFields& reused, bytes_view data, const packify::decode_options& opts) {
    auth_decoding r;
    AuthFields::decode_into(reused, data, opts, r.ec, &r.cause);
    for (const auto& [k, v] : reused) r.entries.emplace_back(k, v);
    return r;
}

bool same_decoding(const auth_decoding& a, const auth_decoding& b) {
    return a.ec == b.ec && a.cause == b.cause && a.entries == b.entries;
}

/// A packify blob or container with chosen (possibly wider than needed) size categories.
bytes blob_with(packify::type_code type, bytes_view data, std::uint8_t category) {
    bytes out{static_cast<std::uint8_t>(category | static_cast<std::uint8_t>(type))};
    packify::detail::append_sized(out, data.size(), packify::detail::category_width(category));
    out.insert(out.end(), data.begin(), data.end());
    return out;
}
bytes container_with(packify::type_code type, const std::vector<bytes>& items, std::uint8_t count_category,
                     std::uint8_t item_category) {
    bytes out{static_cast<std::uint8_t>(count_category | static_cast<std::uint8_t>(type)), item_category};
    packify::detail::append_sized(out, items.size(), packify::detail::category_width(count_category));
    for (const bytes& item : items)
        packify::detail::append_sized(out, item.size(), packify::detail::category_width(item_category));
    for (const bytes& item : items) out.insert(out.end(), item.begin(), item.end());
    return out;
}

}  // namespace

TEST_CASE("message: auth fields decode the same through the flat fast path as through packify's general decoder",
          "[message][packify]") {
    // AuthFields::decode_into parses the (str, bytes) dicts the bundled plugins send
    // without building packify values, and hands everything else to the general
    // decoder. Both must agree on every input: same entries in the same order, same
    // error, same packify cause. Inputs: canonical and wide-category encodings of
    // random dicts, and thousands of mutations of them, under strict, lenient and
    // tiny limits; one AuthFields is reused throughout, as a reader does.
    std::mt19937 rng(20261122);
    auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
    const std::vector<std::string> keys{"nonce", "ts", "hmac", "iv", "witness", "k", "", "ключ", "x_long_field_name_01"};
    const std::array<std::uint8_t, 3> categories{0x40, 0x80, 0xC0};
    using packify::type_code;

    std::vector<bytes> inputs;
    for (int i = 0; i < 300; ++i) {
        const std::size_t n = pick(6);
        std::vector<bytes> pairs;
        packify::dict d;
        for (std::size_t k = 0; k < n; ++k) {
            const std::string& key = keys[pick(keys.size())];
            bytes value(pick(40));
            for (auto& b : value) b = static_cast<std::uint8_t>(pick(256));
            packify::value v = pick(8) == 0 ? packify::value(static_cast<std::int64_t>(pick(1000))) : packify::value(value);
            d.items.emplace_back(packify::value(key), v);
            const std::uint8_t cat = categories[pick(3)];
            const bytes encoded_value = v.get_if<bytes>() ? blob_with(type_code::bytes, value, cat) : packify::pack(v);
            pairs.push_back(container_with(type_code::tuple, {blob_with(type_code::str, as_bytes_view(key), cat), encoded_value},
                                           categories[pick(3)], categories[pick(3)]));
        }
        inputs.push_back(container_with(type_code::dict, pairs, categories[pick(3)], categories[pick(3)]));
        std::error_code ec;
        bytes canonical;
        packify::pack_into(canonical, packify::value(d), {}, ec);
        if (!ec) inputs.push_back(std::move(canonical));  // ec: a repeated key, not encodable as a dict
    }
    const std::size_t base_count = inputs.size();
    for (std::size_t i = 0; i < base_count; ++i) {
        for (int m = 0; m < 12; ++m) {
            bytes mutated = inputs[i];
            switch (pick(4)) {
                case 0:
                    if (!mutated.empty()) mutated[pick(mutated.size())] ^= static_cast<std::uint8_t>(1 + pick(255));
                    break;
                case 1: mutated.resize(pick(mutated.size() + 1)); break;
                case 2: mutated.push_back(static_cast<std::uint8_t>(pick(256))); break;
                default:
                    if (!mutated.empty()) mutated[pick(mutated.size())] = static_cast<std::uint8_t>(pick(4));
                    break;
            }
            inputs.push_back(std::move(mutated));
        }
    }

    packify::decode_options tiny = auth_decode_options();
    tiny.max_items = 3;
    tiny.max_total_items = 7;
    tiny.max_depth = 2;
    tiny.max_input_bytes = 80;
    const std::vector<packify::decode_options> option_sets{auth_decode_options(), packify::python_lenient_options(), tiny};

    AuthFields reused;
    std::size_t accepted = 0;
    std::size_t disagreements = 0;
    for (const auto& opts : option_sets) {
        for (const bytes& in : inputs) {
            const auth_decoding expected = reference_auth_decode(in, opts);
            const auth_decoding got = actual_auth_decode(reused, in, opts);
            if (!expected.ec) ++accepted;
            if (!same_decoding(expected, got)) {
                if (++disagreements <= 5) UNSCOPED_INFO("input " << to_hex(in));
            }
        }
    }
    CHECK(disagreements == 0);
    // The corpus must exercise both outcomes in earnest.
    CHECK(accepted > inputs.size() / 2);
    CHECK(accepted < inputs.size() * option_sets.size());
}

TEST_CASE("message: AuthFields reuses its entries' storage across decodes, set() and clear()", "[message]") {
    const AuthFields first{{"nonce", bytes(16, 1)}, {"ts", bytes(4, 2)}, {"hmac", bytes(32, 3)}};
    const bytes wire = first.encode();
    AuthFields reused;
    std::error_code ec;
    AuthFields::decode_into(reused, wire, auth_decode_options(), ec);
    REQUIRE_FALSE(ec);
    CHECK(reused == first);
    std::vector<const std::uint8_t*> storage;
    for (const auto& [k, v] : reused) storage.push_back(v.get_if<bytes>()->data());

    // Same shape again, other values: decoded into the same buffers.
    const AuthFields second{{"nonce", bytes(16, 7)}, {"ts", bytes(4, 8)}, {"hmac", bytes(32, 9)}};
    AuthFields::decode_into(reused, second.encode(), auth_decode_options(), ec);
    REQUIRE_FALSE(ec);
    CHECK(reused == second);
    std::size_t index = 0;
    for (const auto& [k, v] : reused) CHECK(v.get_if<bytes>()->data() == storage[index++]);

    // clear() keeps the entries as spare storage: set() fills them again.
    reused.clear();
    CHECK(reused.empty());
    CHECK(reused.begin() == reused.end());
    reused.set("iv", bytes(2, 5));  // fits in any of the spare buffers
    CHECK(reused.size() == 1);
    CHECK(reused.get_bytes("iv")->data() == storage[0]);
    CHECK_FALSE(reused.contains("nonce"));

    // set() from a view into the entry's own bytes, and erase() keeping the order.
    reused.set("ts", bytes{1, 2, 3, 4});
    reused.set("hmac", bytes{9});
    reused.set("ts", reused.get_bytes("ts")->subspan(1));
    const bytes_view ts = *reused.get_bytes("ts");
    CHECK(bytes(ts.begin(), ts.end()) == bytes{2, 3, 4});
    CHECK(reused.erase("iv"));
    CHECK_FALSE(reused.erase("iv"));
    std::vector<std::string> order;
    for (const auto& [k, v] : reused) order.push_back(k);
    CHECK(order == std::vector<std::string>{"ts", "hmac"});

    // Copies take the live entries only; a moved-from AuthFields is empty and usable.
    const AuthFields copy = reused;
    CHECK(copy == reused);
    CHECK(copy.size() == 2);
    AuthFields moved = std::move(reused);
    CHECK(moved.size() == 2);
    CHECK(reused.empty());  // NOLINT(bugprone-use-after-move): documented state
    reused.set("k", bytes{1});
    CHECK(reused.size() == 1);
    // A failed decode leaves it empty.
    AuthFields::decode_into(moved, bytes{0x4d, 0x40, 0x01}, auth_decode_options(), ec);
    CHECK(ec == errc::malformed_auth);
    CHECK(moved.empty());
}
