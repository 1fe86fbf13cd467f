// Loopback tests of UDPNode: unicast request/response, hostile datagrams, and
// automatic peer discovery over IPv4 multicast pinned to the loopback interface
// (TTL 1, outbound interface 127.0.0.1: nothing leaves the machine). IPv6
// multicast runs in a private network namespace (see tests/netns/); IPv6 unicast
// uses ::1. Test names cite BEHAVIOUR.md / RELIABILITY.md items.
#include "loopback_support.hpp"
#include "node_probe_plugin.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/udp_node.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/udp.hpp>

#include <cstdlib>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

using namespace netaio;
using netaio_test::eventually;
using netaio_test::run_loopback;

namespace {

std::string text(const bytes& b) { return std::string(b.begin(), b.end()); }

udp_node_options loopback_node(const std::string& host = "127.0.0.1") {
    udp_node_options o;
    o.host = host;
    o.port = 0;
    o.multicast_interface = host == "::1" ? "::1" : "127.0.0.1";  // never the default interface
    o.multicast_ttl = 1;
    return o;
}

/// A node with an identity, sharing the discovery port `port` (0: pick one).
udp_node_options discovering_node(const std::string& id, std::uint16_t discovery_port) {
    udp_node_options o = loopback_node();
    Peer self;
    self.id = to_bytes(id);
    self.data = packify::pack(packify::dict{{"name", id}});
    o.local_peer = self;
    o.multicast_port = discovery_port;
    return o;
}

/// A raw UDP socket bound to `source_ip` for hostile datagrams.
struct udp_injector {
    asio::ip::udp::socket socket;
    udp_injector(asio::io_context& io, const std::string& source_ip = "127.0.0.1")
        : socket(io, asio::ip::udp::endpoint(asio::ip::make_address(source_ip), 0)) {}
    void send(const bytes& data, std::uint16_t port, const std::string& to = "127.0.0.1") {
        socket.send_to(asio::buffer(data), asio::ip::udp::endpoint(asio::ip::make_address(to), port));
    }
    std::size_t available() const { return socket.available(); }
};

Message echo_reply(const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); }

/// A request to a node that never answers, whose failure is kept in `error`.
asio::awaitable<void> unanswered_request(UDPNode& client, std::uint16_t port, std::error_code& error) {
    try {
        (void)co_await client.request("ping", peer_address("127.0.0.1", port), "", request_options().timeout(5s));
    } catch (const std::system_error& e) {
        error = e.code();
        throw;
    }
}

asio::awaitable<std::optional<Message>> async_echo(Message m, peer_address) {
    co_await netaio_test::pause(std::chrono::milliseconds(5));
    co_return make_respond_uri_msg(m.body.content, m.body.uri);
}

}  // namespace

TEST_CASE("udp: request/response between two nodes; coroutine handlers reply (B89, B9/B83 fixed)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode server(io.get_executor(), loopback_node());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.on({MessageType::REQUEST_URI, "async"}, async_echo);
        server.start();
        UDPNode client(io.get_executor(), loopback_node());
        client.start();
        const peer_address to("127.0.0.1", server.local_port());
        Message reply = co_await client.request("echo", to, "hi");
        CHECK(reply.type() == MessageType::RESPOND_URI);
        CHECK(text(reply.body.content) == "hi");
        Message async_reply = co_await client.request("async", to, "later");
        CHECK(text(async_reply.body.content) == "later");
        // Unrouted: netaio's UDP default reply is NOT_FOUND with uri "ERROR", which never
        // completes a request (B12, B63).
        bool timed_out = false;
        try {
            (void)co_await client.request("nothing", to, "", request_options().timeout(100ms));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        server.stop();
        client.stop();
    });
}

TEST_CASE("udp: create/update/delete and a reply from another address never matches (B89, B90)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode server(io.get_executor(), loopback_node());
        server.on(MessageType::CREATE_URI, [](const Message& m) { return make_ok_msg("stored", m.body.uri); });
        server.on(MessageType::UPDATE_URI, [](const Message& m) { return make_not_found_msg("not found", m.body.uri); });
        server.on(MessageType::DELETE_URI, [](const Message& m) { return make_ok_msg("deleted", m.body.uri); });
        server.start();
        UDPNode client(io.get_executor(), loopback_node());
        client.start();
        const peer_address to("127.0.0.1", server.local_port());
        Message created = co_await client.create("k", "v", to);
        CHECK(text(created.body.content) == "stored");
        Message updated = co_await client.update("k", "v2", to);
        CHECK(updated.type() == MessageType::NOT_FOUND);
        Message deleted = co_await client.delete_("k", to);
        CHECK(text(deleted.body.content) == "deleted");

        // A request to 127.0.0.2 (a different address of this host) gets its reply from
        // there; the server socket is bound to 127.0.0.1, so nothing answers: timeout.
        bool timed_out = false;
        try {
            (void)co_await client.request("k", peer_address("127.0.0.2", server.local_port()), "", request_options().timeout(100ms));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        server.stop();
        client.stop();
    });
}

TEST_CASE("udp: malformed datagrams are dropped, counted and never answered (A14, F1, F6)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode node(io.get_executor(), loopback_node());
        node.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        node.start();
        udp_injector attacker(io);
        const bytes good = Message::prepare(Body::prepare("x", "echo"), MessageType::REQUEST_URI).encode();
        bytes trailing = good;
        trailing.push_back(0);
        bytes bad_crc = good;
        bad_crc.back() ^= 1;
        bytes unknown_type = good;
        unknown_type[0] = 99;
        bytes short_body = good;  // header claims more than the datagram carries (F1)
        short_body[4] += 5;
        for (std::size_t n = 0; n < 9; ++n) attacker.send(bytes(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n)), node.local_port());
        for (const bytes& d : {trailing, bad_crc, unknown_type, short_body}) attacker.send(d, node.local_port());
        co_await eventually([&] { return node.stats().total_rejected() >= 13; });
        CHECK(node.stats().count(errc::truncated_frame) == 10);
        CHECK(node.stats().count(errc::trailing_bytes) == 1);
        CHECK(node.stats().count(errc::checksum_mismatch) == 1);
        CHECK(node.stats().count(errc::unknown_message_type) == 1);
        CHECK(node.stats().handler_calls == 0);
        // Liveness, and the reflection audit: the attacker received nothing for the junk,
        // exactly one reply for the one good request.
        attacker.send(good, node.local_port());
        co_await eventually([&] { return attacker.available() > 0; });
        co_await netaio_test::pause(20ms);
        bytes reply(70000);
        asio::ip::udp::endpoint from;
        const std::size_t n = attacker.socket.receive_from(asio::buffer(reply), from);
        CHECK(Message::decode(bytes_view(reply.data(), n)).type() == MessageType::RESPOND_URI);
        CHECK(attacker.available() == 0);
        node.stop();
    });
}

TEST_CASE("udp: a message over the UDP payload limit is refused before any syscall (F2)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode node(io.get_executor(), loopback_node());
        node.start();
        Message big = Message::prepare(Body::prepare(std::string(65000, 'x'), "big"), MessageType::OK);
        big.auth_data.set("pad", bytes(600, 0));  // 9 + ~620 + 65005 > 65507
        try {
            node.send(big, peer_address("127.0.0.1", node.local_port()));
            FAIL("expected message_too_large");
        } catch (const netaio::error& e) {
            CHECK(e.code() == errc::message_too_large);
        }
        CHECK(node.stats().frames_sent == 0);
        UDPNode unstarted(io.get_executor(), loopback_node());
        try {
            unstarted.send(make_ok_msg(), peer_address("127.0.0.1", node.local_port()));
            FAIL("expected not_started");
        } catch (const netaio::error& e) {
            CHECK(e.code() == errc::not_started);
        }
        node.stop();
        co_return;
    });
}

TEST_CASE("udp: subscribe / notify / broadcast to known peers (B86, B88)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode hub(io.get_executor(), loopback_node());
        hub.on(MessageType::SUBSCRIBE_URI, [&hub](const Message& m, const peer_address& from) {
            hub.subscribe(m.body.uri, from);
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_SUBSCRIBE);
        });
        hub.start();
        UDPNode a(io.get_executor(), loopback_node());
        UDPNode b(io.get_executor(), loopback_node());
        int a_got = 0, b_got = 0;
        a.on(MessageType::NOTIFY_URI, [&a_got](const Message&) { ++a_got; });
        b.on(MessageType::NOTIFY_URI, [&b_got](const Message&) { ++b_got; });
        a.start();
        b.start();
        const peer_address hub_addr("127.0.0.1", hub.local_port());
        a.send(Message::prepare(Body::prepare("", "news"), MessageType::SUBSCRIBE_URI), hub_addr);
        b.send(Message::prepare(Body::prepare("", "news"), MessageType::SUBSCRIBE_URI), hub_addr);
        co_await eventually([&] { return hub.subscribers("news").size() == 2; });
        CHECK(hub.notify("news", Message::prepare(Body::prepare("n1", "news"), MessageType::NOTIFY_URI)) == 2);
        co_await eventually([&] { return a_got == 1 && b_got == 1; });
        CHECK(hub.broadcast(make_ok_msg()) == 0);  // no known peers yet (B86)
        hub.stop();
        a.stop();
        b.stop();
    });
}

TEST_CASE("udp: two and three nodes discover each other over IPv4 multicast on loopback (B96, F7)", "[udp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode a(io.get_executor(), discovering_node("node-a", 0));
        a.start();
        const std::uint16_t port = a.discovery_port();
        UDPNode b(io.get_executor(), discovering_node("node-b", port));
        UDPNode c(io.get_executor(), discovering_node("node-c", port));
        b.start();
        c.start();
        peer_management_options pm;
        pm.advertise_every = 100ms;
        a.manage_peers_automatically(pm);
        b.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 1 && b.peers().size() == 1; });
        CHECK(a.peers().by_id(to_bytes("node-b")) != nullptr);
        CHECK(b.peers().by_id(to_bytes("node-a")) != nullptr);
        CHECK(a.peers().by_id(to_bytes("node-a")) == nullptr);  // own adverts ignored by id

        std::vector<std::string> c_events;
        c.set_peer_callback([&c_events](const peer_event& e) {
            c_events.push_back((e.kind == peer_event_kind::removed ? "-" : "+") + text(*e.peer.id));
        });
        c.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 2 && b.peers().size() == 2 && c.peers().size() == 2; });

        // b leaves: its DISCONNECT (sent before its socket closes) removes it everywhere.
        b.stop();
        co_await eventually([&] { return a.peers().size() == 1 && c.peers().size() == 1; });
        CHECK(std::find(c_events.begin(), c_events.end(), "-node-b") != c_events.end());
        a.stop();
        c.stop();
    });
}

TEST_CASE("udp: peers expire by the injected clock, no sleeping (B92, B97, B104)", "[udp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto now = std::make_shared<std::int64_t>(1'700'000'000);
        udp_node_options oa = discovering_node("node-a", 0);
        oa.clock = clock_source{[now] { return *now; }};
        UDPNode a(io.get_executor(), oa);
        a.start();
        UDPNode b(io.get_executor(), discovering_node("node-b", a.discovery_port()));
        b.start();
        peer_management_options pm;
        pm.advertise_every = 10s;  // one advert each, at start
        a.manage_peers_automatically(pm);
        b.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 1; });
        CHECK(a.remove_timed_out_peers(60).empty());
        *now += 60;
        CHECK(a.remove_timed_out_peers(60).empty());  // strictly greater
        *now += 1;
        CHECK(a.remove_timed_out_peers(60) == std::vector<bytes>{to_bytes("node-b")});
        CHECK(a.peers().empty());
        a.stop();
        b.stop();
    });
}

TEST_CASE("udp: spoofed adverts - caps hold, legitimate peers stay, DISCONNECT needs the bound address (F3, F4, F5)", "[udp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        udp_node_options options = discovering_node("victim-table", 0);
        options.peers.max_peers = 32;
        UDPNode node(io.get_executor(), options);
        node.start();
        UDPNode legit(io.get_executor(), discovering_node("legit", node.discovery_port()));
        legit.start();
        peer_management_options pm;
        pm.advertise_every = 50ms;
        node.manage_peers_automatically(pm);
        legit.manage_peers_automatically(pm);
        co_await eventually([&] { return node.peers().by_id(to_bytes("legit")) != nullptr; });

        // Flood: random ids from 127.0.0.2 .. 127.0.0.41 straight to the node's port.
        std::vector<std::unique_ptr<udp_injector>> spoofers;
        for (int i = 2; i < 42; ++i) spoofers.push_back(std::make_unique<udp_injector>(io, "127.0.0." + std::to_string(i)));
        for (int n = 0; n < 4000; ++n) {
            Peer fake;
            fake.id = to_bytes("spoof-" + std::to_string(n));
            fake.data = to_bytes("x");
            spoofers[static_cast<std::size_t>(n) % spoofers.size()]->send(
                make_peer_message(MessageType::ADVERTISE_PEER, "netaio", fake).encode(), node.local_port());
            if (n % 200 == 199) co_await netaio_test::pause(1ms);  // let the node drain its socket
        }
        // A forged re-advert and a forged DISCONNECT for the legitimate peer (F3, F5).
        Peer forged;
        forged.id = to_bytes("legit");
        forged.data = to_bytes("forged");
        spoofers[0]->send(make_peer_message(MessageType::ADVERTISE_PEER, "netaio", forged).encode(), node.local_port());
        spoofers[0]->send(make_peer_message(MessageType::DISCONNECT, "netaio", forged).encode(), node.local_port());
        co_await netaio_test::pause(100ms);
        CHECK(node.peers().size() <= 32);
        const Peer* still = node.peers().by_id(to_bytes("legit"));
        REQUIRE(still != nullptr);
        CHECK(still->data != to_bytes("forged"));
        CHECK(node.stats().count(errc::peer_table_full) + node.stats().count(errc::rate_limited) > 0);
        node.stop();
        legit.stop();
    });
}

TEST_CASE("udp: the same authenticated datagram delivered twice is dropped the second time (F8)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        hmac_auth_options hmac;
        hmac.secret = to_bytes("a secret of at least 16 bytes");
        udp_node_options o = loopback_node();
        o.auth_plugin = HMACAuthPlugin(hmac);
        UDPNode node(io.get_executor(), o);
        int calls = 0;
        node.on({MessageType::PUBLISH_URI, "t"}, [&calls](const Message&) { ++calls; });
        node.start();
        Message m = Message::prepare(Body::prepare("x", "t"), MessageType::PUBLISH_URI);
        HMACAuthPlugin(hmac).make(m.auth_data, m.body, plugin_context{});
        const bytes frame = m.encode();
        udp_injector sender(io);
        sender.send(frame, node.local_port());
        sender.send(frame, node.local_port());
        co_await eventually([&] { return node.stats().count(errc::replayed) == 1; });
        CHECK(calls == 1);
        node.stop();
    });
}

TEST_CASE("udp: IPv6 unicast on ::1", "[udp][ipv6]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        udp_node_options o = loopback_node("::1");
        o.multicast_group.clear();  // no IPv6 multicast on lo
        UDPNode server(io.get_executor(), o);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        UDPNode client(io.get_executor(), o);
        client.start();
        Message reply = co_await client.request("echo", peer_address("::1", server.local_port()), "six");
        CHECK(text(reply.body.content) == "six");
        server.stop();
        client.stop();
    });
}

/// Run `f` with this thread inside the named network namespace (sockets opened there
/// stay there), then come back.
template <class F>
void in_netns(const std::string& name, F&& f) {
    const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    const int target = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(home >= 0);
    REQUIRE(target >= 0);
    REQUIRE(::setns(target, CLONE_NEWNET) == 0);
    f();
    REQUIRE(::setns(home, CLONE_NEWNET) == 0);
    ::close(home);
    ::close(target);
}

// Runs only with the two network namespaces made by tests/netns/run_ipv6_multicast.sh
// (joined by a veth pair v0 <-> v1): IPv6 multicast needs a real link; lo has none.
TEST_CASE("udp: nodes discover each other over IPv6 multicast (netns)", "[udp][ipv6][netns]") {
    const char* spaces = std::getenv("NETAIO_TEST_NETNS");
    if (!spaces) {
        WARN("NETAIO_TEST_NETNS not set: run through tests/netns/run_ipv6_multicast.sh");
        return;
    }
    const std::string names(spaces);
    static std::string ns_a, ns_b;
    ns_a = names.substr(0, names.find(','));
    ns_b = names.substr(names.find(',') + 1);
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto options_for = [](const std::string& id, const std::string& iface) {
            udp_node_options o;
            o.host = "::";
            o.port = 0;
            o.multicast_group = "ff02::4e41";
            o.multicast_interface = iface;
            o.multicast_ttl = 1;
            Peer self;
            self.id = to_bytes(id);
            self.data = to_bytes("{}");
            o.local_peer = self;
            return o;
        };
        // Both nodes use one port, as netaio nodes do; they live in different namespaces.
        UDPNode a(io.get_executor(), options_for("six-a", "v0"));
        in_netns(ns_a, [&] { a.start(); });
        udp_node_options ob = options_for("six-b", "v1");
        ob.port = a.local_port();
        UDPNode b(io.get_executor(), ob);
        in_netns(ns_b, [&] { b.start(); });
        peer_management_options pm;
        pm.advertise_every = 100ms;
        a.manage_peers_automatically(pm);
        b.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 1 && b.peers().size() == 1; }, 5s);
        CHECK(a.peers().by_id(to_bytes("six-b")) != nullptr);
        CHECK(b.peers().by_id(to_bytes("six-a")) != nullptr);
        const Peer* seen = a.peers().by_id(to_bytes("six-b"));
        REQUIRE(seen);
        CHECK(seen->addrs.begin()->host.rfind("fe80::", 0) == 0);  // a link-local IPv6 source

        // Unicast request over IPv6 link-local, to the address discovery found.
        b.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        Message reply = co_await a.request("echo", *seen->addrs.begin(), "over v6");
        CHECK(text(reply.body.content) == "over v6");

        b.stop();
        co_await eventually([&] { return a.peers().empty(); }, 5s);
        a.stop();
    });
}

TEST_CASE("udp: replies to invalid input only when asked; auth failures never reach the handler (B80, B87, F6)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        hmac_auth_options hmac;
        hmac.secret = to_bytes("a secret of at least 16 bytes");
        for (const bool replies : {false, true}) {
            udp_node_options o = loopback_node();
            o.auth_plugin = HMACAuthPlugin(hmac);
            o.reply_to_invalid = replies;
            UDPNode node(io.get_executor(), o);
            int calls = 0;
            node.on({MessageType::PUBLISH_URI, "t"}, [&calls](const Message&) { ++calls; });
            node.start();
            udp_injector attacker(io);
            const Message unsigned_msg = Message::prepare(Body::prepare("x", "t"), MessageType::PUBLISH_URI);
            bytes bad_crc = unsigned_msg.encode();
            bad_crc.back() ^= 1;
            attacker.send(unsigned_msg.encode(), node.local_port());  // fails auth
            attacker.send(bad_crc, node.local_port());                // fails the checksum
            co_await eventually([&] { return node.stats().total_rejected() >= 2; });
            co_await netaio_test::pause(30ms);
            CHECK(calls == 0);
            CHECK(node.stats().count(errc::missing_auth_field) == 1);
            CHECK(node.stats().count(errc::checksum_mismatch) == 1);
            if (!replies) {
                CHECK(attacker.available() == 0);  // silent by default: nothing reflected
            } else {
                // netaio's replies, plaintext: AUTH_ERROR for the auth failure, ERROR
                // "invalid message" for the checksum (PROTOCOL §1.7 items 4 and 7).
                std::vector<std::string> got;
                for (int i = 0; i < 2; ++i) {
                    bytes reply(70000);
                    asio::ip::udp::endpoint from;
                    const std::size_t n = attacker.socket.receive_from(asio::buffer(reply), from);
                    got.push_back(to_hex(bytes_view(reply.data(), n)));
                }
                std::sort(got.begin(), got.end());
                CHECK(got[0] == "14000300162ab916634d400000054552524f52696e76616c6964206d657373616765");
                CHECK(got[1] == "1700030017c7eb481f4d400000054552524f52484d41432061757468206661696c6564");
            }
            node.stop();
        }
    });
}

TEST_CASE("udp: a coroutine handler past handler_timeout is cancelled; the sender gets ERROR \"handler timed out\" (E13)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        udp_node_options o = loopback_node();
        o.handler_timeout = 100ms;
        UDPNode server(io.get_executor(), o);
        server.on({MessageType::REQUEST_URI, "stuck"}, netaio_test::stuck_handler<peer_address>);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        UDPNode client(io.get_executor(), loopback_node());
        std::vector<Message> errors;
        client.on(MessageType::ERROR, [&errors](const Message& m) { errors.push_back(m); });
        client.start();
        const peer_address to("127.0.0.1", server.local_port());
        const int cancelled_before = netaio_test::stuck_handler_cancellations;
        CHECK(client.send(Message::prepare(Body::prepare("", "stuck"), MessageType::REQUEST_URI), to));
        // The node does not wait for its coroutine handlers: it answers meanwhile.
        Message echo = co_await client.request("echo", to, "meanwhile");
        CHECK(text(echo.body.content) == "meanwhile");
        co_await eventually([&] { return !errors.empty(); });
        CHECK(text(errors.front().body.content) == "handler timed out");
        CHECK(server.stats().count(errc::handler_timeout) == 1);
        co_await eventually([&] { return netaio_test::stuck_handler_cancellations == cancelled_before + 1; });
        co_await netaio_test::pause(50ms);
        CHECK(errors.size() == 1);  // the abandoned handler's late OK was never sent
        server.stop();
        client.stop();
    });
}

TEST_CASE("udp: request timeout text names the address (B91)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        UDPNode quiet(io.get_executor(), loopback_node());
        quiet.set_default_handler([](const Message&) {});
        quiet.start();
        UDPNode client(io.get_executor(), loopback_node());
        client.start();
        std::string what;
        try {
            (void)co_await client.request("ping", peer_address("127.0.0.1", quiet.local_port()), "", request_options().timeout(50ms));
        } catch (const netaio::error& e) {
            what = e.what();
        }
        CHECK(what.find("Request for URI ping @ 127.0.0.1:" + std::to_string(quiet.local_port()) + " timed out after 0.05s") !=
              std::string::npos);
        quiet.stop();
        client.stop();
    });
}

TEST_CASE("udp: a request cancelled by its caller raises operation_aborted, not a timeout", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        UDPNode quiet(io.get_executor(), loopback_node());
        quiet.set_default_handler([](const Message&) {});
        quiet.start();
        UDPNode client(io.get_executor(), loopback_node());
        int timeout_handler_calls = 0;
        client.set_timeout_handler([&timeout_handler_calls](const timeout_event&) { ++timeout_handler_calls; });
        client.start();
        std::error_code request_error;
        const auto winner = co_await (unanswered_request(client, quiet.local_port(), request_error) || netaio_test::pause(30ms));
        CHECK(winner.index() == 1);
        CHECK(request_error == asio::error::operation_aborted);
        CHECK(timeout_handler_calls == 0);
        CHECK(client.stats().count(errc::timed_out) == 0);
        quiet.stop();
        client.stop();
    });
}

TEST_CASE("udp: once stopped, a node leaves io_context::run() free to return (no request deadline keeps it busy)", "[udp]") {
    asio::io_context io;
    UDPNode server(io.get_executor(), loopback_node());
    server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
    server.start();
    UDPNode client(io.get_executor(), loopback_node());  // outlives the run
    client.start();
    netaio_test::require_runs_out_of_work(
        io,
        [](UDPNode& c, UDPNode& s) -> asio::awaitable<void> {
            // Answered at once, but its deadline, 30 s away, was set on the node's alarm.
            Message reply = co_await c.request("echo", peer_address("127.0.0.1", s.local_port()), "x",
                                               request_options().timeout(30s));
            CHECK(text(reply.body.content) == "x");
            c.stop();
            s.stop();
        }(client, server));
}

TEST_CASE("udp: a reply to a known peer refreshes its last_rx (B82, B97)", "[udp][peers]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        auto now = std::make_shared<std::int64_t>(1'700'000'000);
        udp_node_options oa = discovering_node("node-a", 0);
        oa.clock = clock_source{[now] { return *now; }};
        UDPNode a(io.get_executor(), oa);
        a.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        a.start();
        UDPNode b(io.get_executor(), discovering_node("node-b", a.discovery_port()));
        b.start();
        peer_management_options pm;
        pm.advertise_every = 10s;
        a.manage_peers_automatically(pm);
        b.manage_peers_automatically(pm);
        co_await eventually([&] { return a.peers().size() == 1; });
        const std::int64_t first = a.peers().by_id(to_bytes("node-b"))->last_rx;
        *now += 30;
        Message reply = co_await b.request("echo", peer_address("127.0.0.1", a.local_port()), "hi");
        CHECK(text(reply.body.content) == "hi");
        CHECK(a.peers().by_id(to_bytes("node-b"))->last_rx == first + 30);
        a.stop();
        b.stop();
    });
}

TEST_CASE("udp: plugins are called with the node applying them (P§9.6, netaio passes node)", "[udp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        netaio_test::node_probe_plugin probe;
        auto lines = std::make_shared<netaio_test::log_lines>();
        udp_node_options so = loopback_node();
        so.auth_plugin = probe;
        so.local_peer = netaio_test::local_peer_named("udp-server");
        so.log = netaio_test::recording_logger(lines);
        UDPNode server(io.get_executor(), so);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        udp_node_options co = loopback_node();
        co.auth_plugin = probe;  // the same plugin instance on both nodes: the view tells them apart
        UDPNode client(io.get_executor(), co);
        client.start();
        Message reply = co_await client.request("echo", peer_address("127.0.0.1", server.local_port()), "hi");
        CHECK(text(reply.body.content) == "hi");
        // client make, server check, server make, client check
        REQUIRE(probe.calls->size() == 4);
        for (const auto& seen : *probe.calls) {
            CHECK(seen.has_node);
            CHECK(seen.kind == node_kind::udp_node);
        }
        CHECK(probe.calls->at(0).local_id.empty());
        CHECK(probe.calls->at(1).local_id == "udp-server");
        CHECK(probe.calls->at(2).local_id == "udp-server");
        CHECK(probe.calls->at(3).local_id.empty());
        CHECK(netaio_test::contains(*lines, "netaio.node: probe check"));
        server.stop();
        client.stop();
    });
}
