// Sans-I/O tests of the peer table: netaio's bookkeeping (B18, B92, B104) with an
// injected clock, and the caps and binding rules of RELIABILITY F3-F5, F9, G3.
#include <netaio/peer_table.hpp>

#include <catch2/catch.hpp>

using namespace netaio;

namespace {

/// A clock the test moves by hand.
struct manual_clock {
    std::shared_ptr<std::int64_t> now = std::make_shared<std::int64_t>(1'700'000'000);
    clock_source source() const {
        return clock_source{[n = now] { return *n; }};
    }
    void advance(std::int64_t seconds) { *now += seconds; }
};

bytes id_of(const std::string& s) { return to_bytes(s); }

}  // namespace

TEST_CASE("peer table: add, update, get, remove (B18)", "[peers]") {
    manual_clock clock;
    peer_table table({}, clock.source());
    table.set_local_id(id_of("me"));
    const peer_address a{"127.0.0.1", 9000};

    CHECK(table.add_or_update(id_of("me"), std::nullopt, a) == peer_update::own_id);
    CHECK(table.empty());
    CHECK(table.add_or_update(id_of("p1"), to_bytes("d1"), a) == peer_update::added);
    clock.advance(5);
    CHECK(table.add_or_update(id_of("p1"), to_bytes("d2"), a) == peer_update::updated);
    const Peer* p = table.get(a);
    REQUIRE(p);
    CHECK(p->data == to_bytes("d2"));
    CHECK(p->last_rx == *clock.now);
    CHECK(table.get(std::nullopt, id_of("p1")) == p);
    CHECK(table.by_address({"127.0.0.1", 9001}) == nullptr);
    CHECK(table.remove(id_of("p1")));
    CHECK_FALSE(table.remove(id_of("p1")));
    CHECK(table.by_address(a) == nullptr);
}

TEST_CASE("peer table: whole-second timeouts; every timed-out peer goes (B92, B104, F9)", "[peers]") {
    manual_clock clock;
    peer_table table({}, clock.source());
    table.add_or_update(id_of("old"), std::nullopt, {"127.0.0.1", 1});
    clock.advance(30);
    table.add_or_update(id_of("new"), std::nullopt, {"127.0.0.1", 2});
    clock.advance(30);
    CHECK(table.remove_timed_out(60.0).empty());  // 60 s exactly: not yet (strictly greater)
    clock.advance(1);
    CHECK(table.remove_timed_out(60.0) == std::vector<bytes>{id_of("old")});
    CHECK(table.size() == 1);
    CHECK(table.by_address({"127.0.0.1", 1}) == nullptr);
    clock.advance(1000);
    CHECK(table.remove_timed_out(0.3).size() == 1);  // a fractional timeout means the next tick
    CHECK(table.empty());
    CHECK(table.addresses().empty());
}

TEST_CASE("peer table: an id stays bound to its addresses (F3) and DISCONNECT needs them (F5)", "[peers]") {
    manual_clock clock;
    peer_table table({}, clock.source());
    const peer_address victim_addr{"127.0.0.1", 9000};
    const peer_address attacker{"127.0.0.42", 9000};
    REQUIRE(table.add_or_update(id_of("victim"), to_bytes("real"), victim_addr) == peer_update::added);

    CHECK(table.add_or_update(id_of("victim"), to_bytes("forged"), attacker) == peer_update::rebinding_refused);
    CHECK(table.by_id(id_of("victim"))->data == to_bytes("real"));
    CHECK(table.by_address(attacker) == nullptr);

    CHECK_FALSE(table.disconnect(id_of("victim"), attacker));  // not bound there: ignored
    CHECK(table.by_id(id_of("victim")) != nullptr);

    // The same host may add another port (a node with two sockets).
    CHECK(table.add_or_update(id_of("victim"), std::nullopt, {"127.0.0.1", 9001}) == peer_update::updated);
    CHECK(table.by_id(id_of("victim"))->addrs.size() == 2);

    // Once the victim timed out, its id may be claimed from elsewhere.
    clock.advance(61);
    CHECK(table.add_or_update(id_of("victim"), to_bytes("moved"), attacker) == peer_update::updated);
    CHECK(table.by_id(id_of("victim"))->addrs == std::set<peer_address>{attacker});
    CHECK(table.by_address(victim_addr) == nullptr);

    CHECK(table.disconnect(id_of("victim"), attacker));
    CHECK(table.empty());
}

TEST_CASE("peer table: a flood of spoofed adverts stays within the caps; known peers stay (F4, G3)", "[peers]") {
    manual_clock clock;
    peer_table_options options;
    options.max_peers = 64;
    peer_table table(options, clock.source());
    for (int i = 0; i < 8; ++i)
        REQUIRE(table.add_or_update(id_of("legit" + std::to_string(i)), std::nullopt, {"127.0.0.1", std::uint16_t(7000 + i)}) ==
                peer_update::added);

    std::map<peer_update, int> outcomes;
    std::uint32_t seed = 12345;
    for (int n = 0; n < 100'000; ++n) {
        seed = seed * 1664525u + 1013904223u;  // deterministic "random" ids and sources
        const std::string ip = "127.0.0." + std::to_string(2 + (seed >> 8) % 199);
        const auto port = static_cast<std::uint16_t>(1024 + (seed >> 16) % 60000);
        ++outcomes[table.add_or_update(id_of("spoof" + std::to_string(seed)), std::nullopt, {ip, port})];
        if (n % 5000 == 4999) clock.advance(1);
        CHECK(table.size() <= options.max_peers);
    }
    for (int i = 0; i < 8; ++i) CHECK(table.by_id(id_of("legit" + std::to_string(i))) != nullptr);
    CHECK(outcomes[peer_update::rate_limited] > 0);
    CHECK(outcomes[peer_update::table_full] > 0);
    CHECK(table.size() == options.max_peers);
}

TEST_CASE("peer table: per-IP caps on ids and advert rate", "[peers]") {
    manual_clock clock;
    peer_table_options options;
    options.max_peers_per_ip = 3;
    options.max_adverts_per_ip_per_second = 5;
    peer_table table(options, clock.source());
    for (int i = 0; i < 3; ++i)
        CHECK(table.add_or_update(id_of("p" + std::to_string(i)), std::nullopt, {"127.0.0.9", std::uint16_t(100 + i)}) ==
              peer_update::added);
    CHECK(table.add_or_update(id_of("p3"), std::nullopt, {"127.0.0.9", 103}) == peer_update::too_many_for_ip);
    CHECK(table.add_or_update(id_of("p0"), std::nullopt, {"127.0.0.9", 100}) == peer_update::updated);
    CHECK(table.add_or_update(id_of("p0"), std::nullopt, {"127.0.0.9", 100}) == peer_update::rate_limited);
    clock.advance(1);
    CHECK(table.add_or_update(id_of("p0"), std::nullopt, {"127.0.0.9", 100}) == peer_update::updated);

    // One address cannot pile up ids: a new id there replaces the old one.
    CHECK(table.add_or_update(id_of("q"), std::nullopt, {"127.0.0.9", 100}) == peer_update::added);
    CHECK(table.by_id(id_of("p0")) == nullptr);
    CHECK(table.size() == 3);
}

TEST_CASE("peer table: addresses per peer are capped", "[peers]") {
    manual_clock clock;
    peer_table_options options;
    options.max_addresses_per_peer = 2;
    peer_table table(options, clock.source());
    CHECK(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 1}) == peer_update::added);
    CHECK(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 2}) == peer_update::updated);
    CHECK(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 3}) == peer_update::rebinding_refused);
    CHECK(table.by_id(id_of("p"))->addrs.size() == 2);
}

TEST_CASE("peer table: unbinding an address forgets a peer left without one; TCP refuses new ports", "[peers]") {
    manual_clock clock;
    peer_table_options options;
    options.allow_new_port_on_bound_host = false;
    peer_table table(options, clock.source());
    REQUIRE(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 5000}) == peer_update::added);
    CHECK(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 5001}) == peer_update::rebinding_refused);
    auto gone = table.unbind({"127.0.0.1", 5000});
    REQUIRE(gone);
    CHECK(gone->id == id_of("p"));
    CHECK(table.empty());
    CHECK_FALSE(table.unbind({"127.0.0.1", 5000}));
    // Now the id may come back from its new connection.
    CHECK(table.add_or_update(id_of("p"), std::nullopt, {"127.0.0.1", 5001}) == peer_update::added);
}
