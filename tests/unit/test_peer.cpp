// Sans-I/O tests of peer records, DefaultPeerPlugin and peer-management frames
// against every case of peer.json.
#include "message_vector_support.hpp"

#include <netaio/detail/pipeline.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/peer.hpp>

#include <catch2/catch.hpp>

#include <iostream>

using namespace netaio;
using netaio_test::hex;

namespace {

const netaio_test::json& peer_vectors() {
    static const auto doc = netaio_test::load_vectors("peer.json");
    return doc;
}

std::optional<bytes> optional_bytes_of(const netaio_test::json& d) {
    if (d.at("type").get<std::string>() == "none") return std::nullopt;
    return hex(d.at("hex"));
}

}  // namespace

TEST_CASE("peer: encode_data vectors", "[peer][vectors]") {
    std::size_t checked = 0;
    const DefaultPeerPlugin plugin;
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "encode_data")) {
        INFO(c.at("description").get<std::string>());
        const packify::value data = netaio_test::packify_value_of(c.at("peer_data"));
        CHECK(to_hex(plugin.encode_data(data)) == c.at("encoded_hex").get<std::string>());
        ++checked;
    }
    std::cout << "peer encode_data vectors checked: " << checked << "\n";
    CHECK(checked == 5);
}

TEST_CASE("peer: pack / unpack / validate / parse_data vectors", "[peer][vectors]") {
    std::size_t checked = 0;
    const DefaultPeerPlugin plugin;
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "pack")) {
        INFO(c.at("description").get<std::string>());
        Peer peer;
        peer.id = optional_bytes_of(c.at("id"));
        peer.data = optional_bytes_of(c.at("data"));
        peer.addrs = {{"127.0.0.1", 8888}};  // addresses never travel
        const bytes packed = plugin.pack(peer);
        CHECK(to_hex(packed) == c.at("packed_hex").get<std::string>());

        const Peer back = plugin.unpack(packed);
        CHECK(back.id == peer.id);
        CHECK(back.data == peer.data);
        CHECK(back.addrs.empty());
        CHECK(plugin.validate(back) == c.at("validate").get<bool>());

        if (c.contains("parse_data")) {
            std::error_code ec;
            const packify::value parsed = plugin.parse_data(back, ec);
            if (c.at("parse_data").contains("exception")) {
                CHECK(ec);  // Python raises: no data, or data that is not packify
            } else {
                REQUIRE_FALSE(ec);
                CHECK(parsed == netaio_test::packify_value_of(c.at("parse_data")));
            }
        }
        ++checked;
    }
    std::cout << "peer pack vectors checked: " << checked << "\n";
    CHECK(checked == 6);
}

TEST_CASE("peer: unpack errors", "[peer][vectors]") {
    std::size_t checked = 0;
    const DefaultPeerPlugin plugin;
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "unpack_error")) {
        INFO(c.at("description").get<std::string>());
        std::error_code ec;
        (void)plugin.unpack(hex(c.at("packed_hex")), ec);
        CHECK(ec == errc::malformed_peer);
        ++checked;
    }
    std::cout << "peer unpack_error vectors checked: " << checked << "\n";
    CHECK(checked == 3);
}

TEST_CASE("peer: advertisement frames", "[peer][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "peer_frame")) {
        INFO(c.at("description").get<std::string>());
        Peer local;
        local.id = optional_bytes_of(c.at("local_peer").at("id"));
        local.data = optional_bytes_of(c.at("local_peer").at("data"));
        const auto type = static_cast<MessageType>(c.at("message_type").get<int>());
        const Message m = make_peer_message(type, hex(c.at("app_id_hex")), local);
        CHECK(to_hex(m.encode()) == c.at("encoded_hex").get<std::string>());
        CHECK(m == netaio_test::message_of(c));
        ++checked;
    }
    std::cout << "peer frame vectors checked: " << checked << "\n";
    CHECK(checked == 6);
}

TEST_CASE("peer: advertisement with an outer HMAC layer, as UDPNode.multicast writes it", "[peer][vectors]") {
    std::size_t checked = 0;
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "peer_frame_auth")) {
        INFO(c.at("description").get<std::string>());
        const netaio_test::scripted_randomness script(c.at("random"));
        hmac_auth_options options;
        options.secret = to_bytes("secret");
        options.python_semantics();  // the vector's secret is shorter than our default minimum
        options.random = script.random();
        options.clock = script.clock();
        const handler_plugins outer{HMACAuthPlugin(options), nullptr};

        const Message decoded = netaio_test::message_of(c.at("decoded"));
        const Peer local = DefaultPeerPlugin().unpack(decoded.body.content);
        Message m = make_peer_message(MessageType::ADVERTISE_PEER, hex(c.at("app_id_hex")), local);
        detail::seal(m, nullptr, &outer, plugin_context{});  // multicast: no inner layer, no peer
        CHECK(to_hex(m.encode()) == c.at("encoded_hex").get<std::string>());
        CHECK(script.remaining_draws() == 0);

        // And the receiving side verifies it.
        Message received = Message::decode(hex(c.at("encoded_hex")));
        CHECK_FALSE(detail::open_layer(received, outer, plugin_context{}).error);
        ++checked;
    }
    std::cout << "peer frame_auth vectors checked: " << checked << "\n";
    CHECK(checked == 1);
}

TEST_CASE("peer: hostile peer records are refused", "[peer]") {
    const DefaultPeerPlugin plugin;
    auto reason = [&](const packify::value& v) {
        std::error_code ec;
        (void)plugin.unpack(packify::pack(v), ec);
        return ec;
    };
    CHECK(reason(packify::tuple{bytes(65, 1), nullptr}) == errc::malformed_peer);       // id over 64 B
    CHECK(reason(packify::tuple{bytes(8, 1), bytes(4097, 0)}) == errc::malformed_peer);  // data over 4 KiB
    CHECK(reason(packify::tuple{"text-id", nullptr}) == errc::malformed_peer);           // id not bytes
    CHECK(reason(packify::tuple{bytes(8, 1), 5}) == errc::malformed_peer);               // data not bytes
    CHECK_FALSE(reason(packify::list{bytes(8, 1), nullptr}));                            // a list works too
}

TEST_CASE("peer: whole-second timeouts", "[peer]") {
    Peer p;
    p.update(to_bytes("data"), 1000);
    CHECK(p.last_rx == 1000);
    CHECK_FALSE(p.timed_out(60, 1060));
    CHECK(p.timed_out(60, 1061));
    CHECK_FALSE(p.timed_out(0.3, 1000));  // same second: not yet
    CHECK(p.timed_out(0.3, 1001));        // next tick
    p.update(std::nullopt, 1001);
    CHECK(p.data == to_bytes("data"));
}
