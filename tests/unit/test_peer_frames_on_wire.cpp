// The peer-management frames our nodes actually put on the wire are byte-for-byte
// the ones netaio 0.0.9 writes (peer.json): captured with raw sockets on loopback.
#include "loopback_support.hpp"
#include "message_vector_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>
#include <netaio/udp_node.hpp>

#include <asio/ip/multicast.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/udp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <iostream>

using namespace netaio;
using netaio_test::hex;
using netaio_test::run_loopback;

namespace {

const netaio_test::json& peer_vectors() {
    static const auto doc = netaio_test::load_vectors("peer.json");
    return doc;
}

/// The vector case for (type, app id).
netaio_test::json peer_frame_case(MessageType type, const std::string& app_id) {
    for (const auto& c : netaio_test::cases_of_kind(peer_vectors(), "peer_frame"))
        if (c.at("message_type").get<int>() == static_cast<int>(type) && hex(c.at("app_id_hex")) == to_bytes(app_id)) return c;
    throw std::runtime_error("no such peer_frame case");
}

Peer vector_local_peer(const netaio_test::json& c) {
    Peer p;
    p.id = hex(c.at("local_peer").at("id").at("hex"));
    p.data = hex(c.at("local_peer").at("data").at("hex"));
    return p;
}

/// Read exactly one frame from a raw stream.
asio::awaitable<bytes> read_frame(asio::ip::tcp::socket& s) {
    bytes header(header_size);
    co_await asio::async_read(s, asio::buffer(header), asio::use_awaitable);
    const std::size_t rest = detail::get_u16be(header.data() + 1) + std::size_t{detail::get_u16be(header.data() + 3)};
    bytes frame = header;
    frame.resize(header_size + rest);
    co_await asio::async_read(s, asio::buffer(frame.data() + header_size, rest), asio::use_awaitable);
    co_return frame;
}

}  // namespace

TEST_CASE("peer frames on the wire: a TCP client's ADVERTISE_PEER and DISCONNECT (B50, B69)", "[peers][vectors][tcp]") {
    for (const std::string app_id : {"netaio", "my-app"}) {
        static std::string current;
        current = app_id;
        run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
            const auto advert = peer_frame_case(MessageType::ADVERTISE_PEER, current);
            const auto disconnect = peer_frame_case(MessageType::DISCONNECT, current);
            asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
            tcp_client_options co;
            co.port = acceptor.local_endpoint().port();
            co.local_peer = vector_local_peer(advert);
            TCPClient client(io.get_executor(), co);
            peer_management_options pm;
            pm.app_id = current;
            client.manage_peers_automatically(pm);
            co_await client.connect();
            asio::ip::tcp::socket raw = co_await acceptor.async_accept(asio::use_awaitable);
            const bytes sent_advert = co_await read_frame(raw);
            CHECK(to_hex(sent_advert) == advert.at("encoded_hex").get<std::string>());
            client.close();
            const bytes sent_disconnect = co_await read_frame(raw);
            CHECK(to_hex(sent_disconnect) == disconnect.at("encoded_hex").get<std::string>());
        });
    }
}

TEST_CASE("peer frames on the wire: a TCP server's PEER_DISCOVERED reply (B43)", "[peers][vectors][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const auto discovered = peer_frame_case(MessageType::PEER_DISCOVERED, "netaio");
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.local_peer = vector_local_peer(discovered);
        TCPServer server(io.get_executor(), so);
        server.manage_peers_automatically();
        server.start();
        asio::ip::tcp::socket raw(io);
        co_await raw.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.local_port()),
                                   asio::use_awaitable);
        Peer visitor;
        visitor.id = to_bytes("visitor");
        visitor.data = to_bytes("d");
        const bytes advert = make_peer_message(MessageType::ADVERTISE_PEER, "netaio", visitor).encode();
        co_await asio::async_write(raw, asio::buffer(advert), asio::use_awaitable);
        const bytes reply = co_await read_frame(raw);
        CHECK(to_hex(reply) == discovered.at("encoded_hex").get<std::string>());
        co_await server.stop();
    });
}

TEST_CASE("peer frames on the wire: a UDP node's multicast advert with outer HMAC (B85, B93)", "[peers][vectors][udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        const auto c = netaio_test::cases_of_kind(peer_vectors(), "peer_frame_auth").at(0);
        const netaio_test::scripted_randomness script(c.at("random"));
        // A raw receiver on the group, pinned to loopback.
        const auto group = asio::ip::make_address("224.0.0.1");
        asio::ip::udp::socket listener(io);
        listener.open(asio::ip::udp::v4());
        listener.set_option(asio::ip::udp::socket::reuse_address(true));
        listener.bind(asio::ip::udp::endpoint(group, 0));
        listener.set_option(asio::ip::multicast::join_group(group.to_v4(), asio::ip::make_address_v4("127.0.0.1")));

        hmac_auth_options hmac;
        hmac.secret = to_bytes("secret");
        hmac.python_semantics();
        hmac.random = script.random();
        hmac.clock = script.clock();
        udp_node_options o;
        o.host = "127.0.0.1";
        o.port = 0;
        o.multicast_interface = "127.0.0.1";
        o.multicast_port = listener.local_endpoint().port();
        o.auth_plugin = HMACAuthPlugin(hmac);
        o.local_peer = DefaultPeerPlugin().unpack(netaio_test::message_of(c.at("decoded")).body.content);
        UDPNode node(io.get_executor(), o);
        node.start();
        peer_management_options pm;
        pm.advertise_every = 10s;  // exactly one advert during the test
        node.manage_peers_automatically(pm);
        bytes datagram(70000);
        asio::ip::udp::endpoint from;
        const std::size_t n = co_await listener.async_receive_from(asio::buffer(datagram), from, asio::use_awaitable);
        datagram.resize(n);
        CHECK(to_hex(datagram) == c.at("encoded_hex").get<std::string>());
        CHECK(script.remaining_draws() == 0);
        node.stop();
    });
}

TEST_CASE("peer frames on the wire: a UDP node's plain ADVERTISE_PEER and DISCONNECT (B93, B94, B99)", "[peers][vectors][udp]") {
    for (const std::string app_id : {"netaio", "my-app"}) {
        static std::string current;
        current = app_id;
        run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
            const auto advert = peer_frame_case(MessageType::ADVERTISE_PEER, current);
            const auto disconnect = peer_frame_case(MessageType::DISCONNECT, current);
            const auto group = asio::ip::make_address("224.0.0.1");
            asio::ip::udp::socket listener(io);
            listener.open(asio::ip::udp::v4());
            listener.set_option(asio::ip::udp::socket::reuse_address(true));
            listener.bind(asio::ip::udp::endpoint(group, 0));
            listener.set_option(asio::ip::multicast::join_group(group.to_v4(), asio::ip::make_address_v4("127.0.0.1")));
            udp_node_options o;
            o.host = "127.0.0.1";
            o.port = 0;
            o.multicast_interface = "127.0.0.1";
            o.multicast_port = listener.local_endpoint().port();
            o.local_peer = vector_local_peer(advert);
            UDPNode node(io.get_executor(), o);
            node.start();
            peer_management_options pm;
            pm.app_id = current;
            pm.advertise_every = 10s;
            node.manage_peers_automatically(pm);
            bytes datagram(70000);
            asio::ip::udp::endpoint from;
            std::size_t n = co_await listener.async_receive_from(asio::buffer(datagram), from, asio::use_awaitable);
            CHECK(to_hex(bytes_view(datagram.data(), n)) == advert.at("encoded_hex").get<std::string>());
            node.stop();  // the DISCONNECT goes out before the socket closes
            n = co_await listener.async_receive_from(asio::buffer(datagram), from, asio::use_awaitable);
            CHECK(to_hex(bytes_view(datagram.data(), n)) == disconnect.at("encoded_hex").get<std::string>());
        });
    }
}
