// Loopback tests of peer management over TCP (BEHAVIOUR B25, B41-B46, B50, B69-B74).
#include "injector.hpp"
#include "loopback_support.hpp"
#include "plugin_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/ip/tcp.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

using namespace netaio;
using netaio_test::echo_reply;
using netaio_test::error_of;
using netaio_test::eventually;
using netaio_test::hmac_plugin;
using netaio_test::identity;
using netaio_test::inner_layer;
using netaio_test::loopback_server;
using netaio_test::raw_socket;
using netaio_test::request_msg;
using netaio_test::run_loopback;
using netaio_test::text_of;

TEST_CASE("tcp peers: server and client exchange adverts and see each other as peers", "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so;
        so.host = "127.0.0.1";
        so.port = 0;
        so.local_peer = identity("server");
        TCPServer server(io.get_executor(), so);
        server.on(MessageType::SUBSCRIBE_URI, [&server](const Message& m, const tcp_connection& c) {
            CHECK_FALSE(server.subscribe(m.body.uri, c));
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

// ---- BEHAVIOUR B25, B41-B46, B71-B73: more of the peer-management contract ----------------

namespace {

tcp_server_options managing_server() {
    tcp_server_options o = loopback_server();
    o.local_peer = identity("server");
    return o;
}

/// SUBSCRIBE_URI handler: subscribe, confirm (the convention of B40).
void add_subscribe(TCPServer& server) {
    server.on(MessageType::SUBSCRIBE_URI, [&server](const Message& m, const tcp_connection& c) {
        CHECK_FALSE(server.subscribe(m.body.uri, c));
        return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_SUBSCRIBE);
    });
}

Message subscribe_msg(std::string_view topic) { return request_msg(topic, "", MessageType::SUBSCRIBE_URI); }

/// A peer message of `identity(id)` (built here: no Peer temporary in a co_await expression, for GCC 12).
Message peer_msg(MessageType type, std::string_view app_id, const std::string& id) {
    return make_peer_message(type, app_id, identity(id));
}

/// A peer message whose content is `packed` as is (for malformed peers).
Message raw_peer_msg(MessageType type, std::string_view app_id, const bytes& packed) {
    return Message::prepare(Body::prepare(packed, app_id), type);
}

/// Write `m` then an echo request on `raw`; the next frame back must be the echo's
/// reply: frames are answered in order, so `m` got no reply.
asio::awaitable<void> expect_no_reply_to(raw_socket& raw, Message m, std::string tag) {
    const std::error_code a = co_await raw.write(m.encode());
    const std::error_code b = co_await raw.write(request_msg("echo", tag).encode());
    CHECK_FALSE(a);
    CHECK_FALSE(b);
    std::optional<Message> next = co_await raw.read_message(std::chrono::seconds(2));
    REQUIRE(next);
    CHECK(next->type() == MessageType::RESPOND_URI);
    CHECK(text_of(next->body.content) == tag);
}

/// Write `m` on `raw` and return the reply (fails the test if none comes within 2 s).
asio::awaitable<Message> reply_to(raw_socket& raw, Message m) {
    const std::error_code ec = co_await raw.write(m.encode());
    CHECK_FALSE(ec);
    std::optional<Message> reply = co_await raw.read_message(std::chrono::seconds(2));
    REQUIRE(reply);
    co_return std::move(*reply);
}

/// Peer events as "discovered:id", "updated:id", "removed:id".
peer_callback record_events(std::vector<std::string>& events) {
    return [&events](const peer_event& e) {
        static const char* names[] = {"discovered", "updated", "removed"};
        events.push_back(std::string(names[static_cast<int>(e.kind)]) + ":" + text_of(*e.peer.id));
    };
}

const bytes outer_secret = to_bytes("peers-outer-secret-0123456789abcd");
// Keys of inner_layer(), the inner layer of the peer messages: the uri (the app id
// the handlers are keyed by) stays in clear.
const bytes inner_secret = to_bytes("peers-inner-secret-0123456789abcd");
const bytes inner_key = to_bytes("peers-inner-key-0123456789abcdefg");

}  // namespace

TEST_CASE("tcp peers: a client that drops its connection without DISCONNECT is forgotten as a peer and "
          "leaves its subscriptions (B25)",
          "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), managing_server());
        std::vector<std::string> events;
        server.set_peer_callback(record_events(events));
        add_subscribe(server);
        server.manage_peers_automatically();
        server.start();

        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("stayer");
        TCPClient stayer(io.get_executor(), co);
        stayer.manage_peers_automatically();
        co_await stayer.connect();
        stayer.send(subscribe_msg("topic"));

        raw_socket dropper(io.get_executor());
        co_await dropper.connect(server.local_port());
        Message discovered = co_await reply_to(dropper, peer_msg(MessageType::ADVERTISE_PEER, "netaio", "dropper"));
        CHECK(discovered.type() == MessageType::PEER_DISCOVERED);
        Message confirmed = co_await reply_to(dropper, subscribe_msg("topic"));
        CHECK(confirmed.type() == MessageType::CONFIRM_SUBSCRIBE);
        co_await eventually([&] { return server.peers().size() == 2 && server.subscribers("topic").size() == 2; });

        dropper.reset();  // gone without a DISCONNECT
        co_await eventually([&] { return server.clients().size() == 1; });
        // netaio keeps the peer (B25); here the connection was its only address, so it goes.
        CHECK(server.peers().by_id(to_bytes("dropper")) == nullptr);
        CHECK(server.peers().by_id(to_bytes("stayer")) != nullptr);
        CHECK(server.subscribers("topic").size() == 1);
        CHECK(server.notify("topic", request_msg("topic", "left", MessageType::NOTIFY_URI)) == 1);
        std::optional<Message> pushed = co_await stayer.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(pushed);
        CHECK(pushed->type() == MessageType::CONFIRM_SUBSCRIBE);
        pushed = co_await stayer.receive_once(std::nullopt, std::chrono::seconds(2));
        REQUIRE(pushed);
        CHECK(text_of(pushed->body.content) == "left");
        CHECK(std::count(events.begin(), events.end(), "removed:dropper") == 1);

        // The client side too: the server's connection was its address.
        CHECK(stayer.peers().by_id(to_bytes("server")) != nullptr);
        co_await server.stop();
        co_await eventually([&] { return stayer.peers().empty(); });
    });
}

TEST_CASE("tcp peers: DISCONNECT on a live connection removes the peer and its subscriptions; one address per peer "
          "on a TCP server (B41, B45)",
          "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), managing_server());
        add_subscribe(server);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.manage_peers_automatically();
        server.start();

        tcp_client_options co;
        co.port = server.local_port();
        co.local_peer = identity("dup");
        TCPClient first(io.get_executor(), co);
        TCPClient second(io.get_executor(), co);  // the same id from another connection
        co.local_peer.reset();
        TCPClient bystander(io.get_executor(), co);
        first.manage_peers_automatically();
        co_await first.connect();
        co_await bystander.connect();
        first.send(subscribe_msg("topic"));
        bystander.send(subscribe_msg("topic"));
        co_await eventually([&] { return server.peers().size() == 1 && server.subscribers("topic").size() == 2; });
        const Peer* dup = server.peers().by_id(to_bytes("dup"));
        REQUIRE(dup);
        REQUIRE(dup->addrs.size() == 1);
        const peer_address first_address = *dup->addrs.begin();

        // A live peer keeps its one address: a second connection claiming its id is refused.
        second.manage_peers_automatically();
        co_await second.connect();
        co_await eventually([&] { return server.stats().count(errc::rebinding_refused) == 1; });
        dup = server.peers().by_id(to_bytes("dup"));
        REQUIRE(dup);
        CHECK(dup->addrs == std::set<peer_address>{first_address});

        // DISCONNECT while connected: the peer, all its addresses and its subscriptions go;
        // the connection and the other subscriber stay.
        first.stop_peer_management();
        co_await eventually([&] { return server.peers().empty(); });
        CHECK(server.peers().addresses().empty());
        CHECK(server.subscribers("topic").size() == 1);
        CHECK(server.clients().size() == 3);
        Message alive = co_await first.request("echo", "still connected", request_options().timeout(2s));
        CHECK(text_of(alive.body.content) == "still connected");
        CHECK(server.notify("topic", request_msg("topic", "n", MessageType::NOTIFY_URI)) == 1);

        // The id is free again: the second connection's next advert binds it there.
        second.manage_peers_automatically();
        co_await eventually([&] { return server.peers().size() == 1; });
        dup = server.peers().by_id(to_bytes("dup"));
        REQUIRE(dup);
        REQUIRE(dup->addrs.size() == 1);
        CHECK(*dup->addrs.begin() != first_address);
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: manage_peers_automatically needs a local peer; peer messages pass the inner and the outer "
          "layer; the server never advertises first; every advert is fresh (B42, B71)",
          "[tcp][peers]") {
    asio::io_context none;
    TCPServer anonymous_server(none.get_executor());
    TCPClient anonymous_client(none.get_executor());
    CHECK(error_of([&] { anonymous_server.manage_peers_automatically(); }) == errc::bad_option);
    CHECK(error_of([&] { anonymous_client.manage_peers_automatically(); }) == errc::bad_option);
    tcp_server_options no_id;
    no_id.local_peer = Peer{};
    TCPServer nameless(none.get_executor(), no_id);
    CHECK(error_of([&] { nameless.manage_peers_automatically(); }) == errc::bad_option);

    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options so = managing_server();
        so.auth_plugin = hmac_plugin(outer_secret, "hmac");
        TCPServer server(io.get_executor(), so);
        std::vector<std::string> events;
        server.set_peer_callback(record_events(events));
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        peer_management_options pm;
        pm.plugins = inner_layer(inner_secret, inner_key);
        server.manage_peers_automatically(pm);
        server.start();
        peer_management_options client_pm;  // the same layer, its own plugin instances
        client_pm.plugins = inner_layer(inner_secret, inner_key);

        // The server never advertises first: a client that says nothing about itself
        // gets nothing but its reply.
        tcp_client_options co;
        co.port = server.local_port();
        co.auth_plugin = hmac_plugin(outer_secret, "hmac");
        TCPClient quiet(io.get_executor(), co);
        co_await quiet.connect();
        Message reply = co_await quiet.request("echo", "hi", request_options().timeout(2s));
        CHECK(text_of(reply.body.content) == "hi");
        CHECK(server.stats().frames_sent == 1);
        CHECK(quiet.peers().empty());

        // Peer handlers demand the inner layer: an advert with the outer layer only is refused.
        co.local_peer = identity("outer-only");
        TCPClient outer_only(io.get_executor(), co);
        outer_only.manage_peers_automatically();
        co_await outer_only.connect();
        co_await eventually([&] { return server.stats().count(errc::missing_auth_field) == 1; });
        CHECK(server.peers().empty());

        // With both layers on both sides, each learns the other (the server's
        // PEER_DISCOVERED passed the client's inner check too).
        co.local_peer = identity("layered");
        TCPClient layered(io.get_executor(), co);
        layered.manage_peers_automatically(client_pm);
        co_await layered.connect();
        co_await eventually([&] { return server.peers().size() == 1 && layered.peers().size() == 1; });
        CHECK(server.peers().by_id(to_bytes("layered")) != nullptr);
        CHECK(layered.peers().by_id(to_bytes("server")) != nullptr);

        // Advertising again sends a fresh message (netaio replays one prepared copy,
        // which the replay caches here would refuse).
        layered.manage_peers_automatically(client_pm);
        co_await eventually([&] { return events.size() == 2; });
        CHECK(events == std::vector<std::string>{"discovered:layered", "updated:layered"});
        CHECK(server.stats().count(errc::replayed) == 0);
        CHECK(layered.stats().count(errc::replayed) == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: an ADVERTISE_PEER with the server's own id or malformed peer data gets no reply (B43)",
          "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), managing_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.manage_peers_automatically();
        server.start();
        raw_socket raw(io.get_executor());
        co_await raw.connect(server.local_port());

        co_await expect_no_reply_to(raw, peer_msg(MessageType::ADVERTISE_PEER, "netaio", "server"), "own id");
        // Not an (id, data) tuple.
        const bytes not_a_peer = packify::pack(packify::dict{{"id", "x"}});
        co_await expect_no_reply_to(raw, raw_peer_msg(MessageType::ADVERTISE_PEER, "netaio", not_a_peer), "not a peer");
        // An id without data (netaio ignores those too).
        Peer id_only;
        id_only.id = to_bytes("no-data");
        const bytes id_only_packed = DefaultPeerPlugin().pack(id_only);
        co_await expect_no_reply_to(raw, raw_peer_msg(MessageType::ADVERTISE_PEER, "netaio", id_only_packed), "no data");
        CHECK(server.peers().empty());
        CHECK(server.stats().count(errc::malformed_peer) == 2);
        CHECK(raw.buffered().empty());

        // A valid advert is answered (the same socket, so the silence above was real).
        Message discovered = co_await reply_to(raw, peer_msg(MessageType::ADVERTISE_PEER, "netaio", "raw"));
        CHECK(discovered.type() == MessageType::PEER_DISCOVERED);
        CHECK(text_of(discovered.body.uri) == "netaio");
        CHECK(discovered.body.content == DefaultPeerPlugin().pack(identity("server")));
        CHECK(server.peers().by_id(to_bytes("raw")) != nullptr);
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: the server records PEER_DISCOVERED without replying; stop_peer_management(app_id) removes "
          "that app's handlers only and keeps the peers (B44, B46)",
          "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), managing_server());
        std::vector<std::string> events;
        server.set_peer_callback(record_events(events));
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        peer_management_options pm;
        pm.app_id = "app";
        server.manage_peers_automatically(pm);
        server.start();
        raw_socket raw(io.get_executor());
        co_await raw.connect(server.local_port());
        const peer_address raw_address("127.0.0.1", raw.local_port());

        // B44: recorded at the connection's address, no reply.
        co_await expect_no_reply_to(raw, peer_msg(MessageType::PEER_DISCOVERED, "app", "raw"), "1");
        const Peer* recorded = server.peers().by_id(to_bytes("raw"));
        REQUIRE(recorded);
        CHECK(recorded->addrs == std::set<peer_address>{raw_address});
        CHECK(recorded->data == identity("raw").data);
        CHECK(events == std::vector<std::string>{"discovered:raw"});

        // Another app id's stop leaves "app" alone.
        server.stop_peer_management();
        Message discovered = co_await reply_to(raw, peer_msg(MessageType::ADVERTISE_PEER, "app", "raw"));
        CHECK(discovered.type() == MessageType::PEER_DISCOVERED);
        CHECK(text_of(discovered.body.uri) == "app");

        // B46: the three handlers go (their messages now get the default NOT_FOUND);
        // the peers stay; stopping sends nothing (the next frame answers our next message).
        server.stop_peer_management("app");
        for (MessageType type : {MessageType::ADVERTISE_PEER, MessageType::PEER_DISCOVERED, MessageType::DISCONNECT}) {
            Message reply = co_await reply_to(raw, peer_msg(type, "app", "raw"));
            CHECK(reply.type() == MessageType::NOT_FOUND);
            CHECK(reply.body.uri.empty());
        }
        CHECK(server.peers().by_id(to_bytes("raw")) != nullptr);
        CHECK(events == std::vector<std::string>{"discovered:raw", "updated:raw"});
        co_await server.stop();
    });
}

TEST_CASE("tcp peers: a client answers a server's ADVERTISE_PEER with PEER_DISCOVERED; stop_peer_management sends "
          "DISCONNECT, removes the handlers, keeps the peers, and later connects send nothing (B72, B73)",
          "[tcp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        // Raw sockets play the servers, to see exactly what the client writes.
        const asio::ip::tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
        asio::ip::tcp::acceptor first_listener(io, loopback);
        asio::ip::tcp::acceptor second_listener(io, loopback);
        const std::uint16_t first_port = first_listener.local_endpoint().port();
        const std::uint16_t second_port = second_listener.local_endpoint().port();
        const peer_address first_key("127.0.0.1", first_port);
        const peer_address second_key("127.0.0.1", second_port);
        const bytes client_packed = DefaultPeerPlugin().pack(identity("client"));

        tcp_client_options co;
        co.port = first_port;
        co.local_peer = identity("client");
        TCPClient client(io.get_executor(), co);
        client.manage_peers_automatically();
        co_await client.connect();
        raw_socket first(io.get_executor());
        co_await first.accept(first_listener);
        std::optional<Message> advert = co_await first.read_message();
        REQUIRE(advert);
        CHECK(advert->type() == MessageType::ADVERTISE_PEER);

        // B72: netaio's client computes this reply but never sends it; this one sends it.
        Message answer = co_await reply_to(first, peer_msg(MessageType::ADVERTISE_PEER, "netaio", "server"));
        CHECK(answer.type() == MessageType::PEER_DISCOVERED);
        CHECK(text_of(answer.body.uri) == "netaio");
        CHECK(answer.body.content == client_packed);
        const Peer* server_peer = client.peers().by_id(to_bytes("server"));
        REQUIRE(server_peer);
        CHECK(server_peer->addrs == std::set<peer_address>{first_key});

        // B73: DISCONNECT to the connected server; the known peers stay.
        client.stop_peer_management();
        std::optional<Message> bye = co_await first.read_message();
        REQUIRE(bye);
        CHECK(bye->type() == MessageType::DISCONNECT);
        CHECK(bye->body.content == client_packed);
        CHECK(client.peers().by_id(to_bytes("server")) != nullptr);

        // The handlers are gone: an advert is now an unhandled message for receive_once(),
        // recorded nowhere and answered with nothing (the next frame is our marker).
        const std::error_code wrote = co_await first.write(peer_msg(MessageType::ADVERTISE_PEER, "netaio", "other").encode());
        CHECK_FALSE(wrote);
        std::optional<Message> unhandled = co_await client.receive_once(first_key, 2s);
        REQUIRE(unhandled);
        CHECK(unhandled->type() == MessageType::ADVERTISE_PEER);
        CHECK(client.peers().size() == 1);
        CHECK(client.send(request_msg("marker", "1"), first_key));
        std::optional<Message> next = co_await first.read_message();
        REQUIRE(next);
        CHECK(text_of(next->body.uri) == "marker");

        // A later connect advertises nothing.
        co_await client.connect("127.0.0.1", second_port);
        raw_socket second(io.get_executor());
        co_await second.accept(second_listener);
        CHECK(client.send(request_msg("marker", "2"), second_key));
        next = co_await second.read_message();
        REQUIRE(next);
        CHECK(next->type() == MessageType::REQUEST_URI);
        CHECK(text_of(next->body.content) == "2");
    });
}
