// Loopback tests of peer management over TCP (BEHAVIOUR B42-B46, B50, B69-B74).
#include "loopback_support.hpp"

#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

using namespace netaio;
using netaio_test::eventually;
using netaio_test::run_loopback;

namespace {

Peer identity(const std::string& id) {
    Peer p;
    p.id = to_bytes(id);
    p.data = packify::pack(packify::dict{{"name", id}});
    return p;
}

}  // namespace

TEST_CASE("tcp peers: server and client exchange adverts and see each other as peers", "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        server.on(MessageType::SUBSCRIBE_URI, [&server](const Message& m, const tcp_connection& c) {
            server.subscribe(m.body.uri, c);
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_SUBSCRIBE);
        });
        server.manage_peers_automatically();
        server.start();

        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("client");
        TCPClient client(io.get_executor(), co);
        // Enabled before connecting: connect() advertises (B50) ...
        client.manage_peers_automatically();
        co_await client.connect();
        co_await eventually([&] { return server.peers().size() == 1 && client.peers().size() == 1; });
        const Peer* seen_by_server = server.peers().by_id(to_bytes("client"));
        REQUIRE(seen_by_server);
        CHECK(seen_by_server->data == identity("client").data);
        const Peer* seen_by_client = client.peers().by_id(to_bytes("server"));
        REQUIRE(seen_by_client);
        CHECK(seen_by_client->addrs.count(client.default_server()) == 1);  // keyed by the server key (B19)

        // ... and subscriptions go with the peer when it disconnects (B41, B45, B69).
        client.send(Message::prepare(Body::prepare("", "topic"), MessageType::SUBSCRIBE_URI));
        co_await eventually([&] { return server.subscribers("topic").size() == 1; });
        client.close();
        co_await eventually([&] { return server.peers().empty(); });
        CHECK(server.subscribers("topic").empty());
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: enabling on live connections advertises at once; stop sends DISCONNECT (B71, B73, B74)", "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        std::vector<std::string> events;
        server.set_peer_callback([&events](const peer_event& e) {
            events.push_back(std::to_string(static_cast<int>(e.kind)) + ":" + std::string(e.peer.id->begin(), e.peer.id->end()));
        });
        server.manage_peers_automatically();
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("late");
        TCPClient client(io.get_executor(), co);
        co_await client.connect();
        CHECK(server.peers().empty());
        client.manage_peers_automatically();
        co_await eventually([&] { return server.peers().size() == 1 && client.peers().size() == 1; });
        client.manage_peers_automatically();  // again: re-advertises; the server answers again (B74)
        co_await eventually([&] { return events.size() == 2; });
        CHECK(events == std::vector<std::string>{"0:late", "1:late"});
        client.stop_peer_management();
        co_await eventually([&] { return server.peers().empty(); });
        CHECK(events.back() == "2:late");
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: a DISCONNECT naming another connection's peer is ignored (F5)", "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        server.manage_peers_automatically();
        server.start();
        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("honest");
        TCPClient honest(io.get_executor(), co);
        honest.manage_peers_automatically();
        co_await honest.connect();
        co_await eventually([&] { return server.peers().size() == 1; });

        TCPClient forger(io.get_executor(), {.port = server.local_port()});
        co_await forger.connect();
        forger.send(make_peer_message(MessageType::DISCONNECT, "netaio", identity("honest")));
        forger.send(make_peer_message(MessageType::ADVERTISE_PEER, "netaio", identity("honest")));
        co_await eventually([&] { return server.stats().count(errc::rebinding_refused) == 1; });
        CHECK(server.peers().by_id(to_bytes("honest")) != nullptr);
        co_await server.stop();
    });
}
