// tests/unit/test_hmac_xmac_loopback.cpp - HMACAuthPlugin's xmac over real TCP
// (RELIABILITY.md C6, D5): a TCPServer and a TCPClient with xmac on complete round
// trips (alone and under the stream cipher), and frames altered on path - an
// authenticated UPDATE_URI re-typed to DELETE_URI, another valid iv swapped in -
// are refused and counted with the handler not run, while the same attacks
// without xmac are accepted (the pinned compatible limit of netaio 0.0.9).
#include "injector.hpp"
#include "loopback_support.hpp"
#include "modern_plugin_loopback.hpp"

#include <netaio/detail/pipeline.hpp>
#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_server.hpp>

#include <catch2/catch.hpp>

#include <string>

using namespace netaio;
using namespace std::chrono_literals;
using netaio_test::run_loopback;
namespace modern = netaio_test::modern;

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // see injector.hpp
#endif

namespace {

// The outer layer of both sides: HMAC with or without xmac (required when on),
// optionally with the stream cipher (uri left in clear, so a swapped iv still routes).
handler_plugins hmac_layer(bool xmac, bool cipher = false) {
    hmac_auth_options h;
    h.secret = to_bytes("xmac loopback secret 0123456789");
    h.send_xmac = xmac;
    h.require_xmac = xmac;
    handler_plugins p;
    p.auth = HMACAuthPlugin(h);
    if (cipher) {
        sha256_stream_cipher_options c;
        c.key = to_bytes("xmac loopback cipher key 0123456");
        c.encrypt_uri = false;
        p.cipher = Sha256StreamCipherPlugin(c);
    }
    return p;
}

// Counts of the handlers the attacks aim at, and the last content "pay" saw.
struct calls {
    int updates = 0;
    int deletes = 0;
    int payments = 0;
    std::string last_payment;
};

void route_targets(TCPServer& server, calls& seen) {
    server.on({MessageType::REQUEST_URI, "echo"}, modern::echo_reply);
    server.on({MessageType::UPDATE_URI, "item"}, [&seen](const Message& m) {
        ++seen.updates;
        return make_ok_msg("updated", m.body.uri);
    });
    server.on({MessageType::DELETE_URI, "item"}, [&seen](const Message& m) {
        ++seen.deletes;
        return make_ok_msg("deleted", m.body.uri);
    });
    server.on({MessageType::REQUEST_URI, "pay"}, [&seen](const Message& m) {
        ++seen.payments;
        seen.last_payment = netaio_test::text_of(m.body.content);
        return make_ok_msg("paid", m.body.uri);
    });
}

// C6: an UPDATE_URI a client signed, re-typed to DELETE_URI on path (byte 0; the
// header CRC covers only the body, and frame_builder recomputes it anyway).
asio::awaitable<void> retyped_update(asio::io_context& io, bool xmac) {
    const handler_plugins layer = hmac_layer(xmac);
    calls seen;  // outlives the server, whose handlers count into it
    TCPServer server(io.get_executor(), modern::server_options(layer));
    route_targets(server, seen);
    server.start();

    Message m = Message::prepare(Body::prepare("new value", "item"), MessageType::UPDATE_URI);
    detail::seal(m, nullptr, &layer, plugin_context{});
    REQUIRE(m.auth_data.contains("xmac") == xmac);
    const bytes genuine = m.encode();
    const bytes retyped = netaio_test::frame_builder(m).type(static_cast<std::uint8_t>(MessageType::DELETE_URI)).build();
    REQUIRE(retyped.size() == genuine.size());
    CHECK(retyped[0] == static_cast<std::uint8_t>(MessageType::DELETE_URI));
    CHECK(bytes(retyped.begin() + 1, retyped.end()) == bytes(genuine.begin() + 1, genuine.end()));

    netaio_test::raw_socket attacker(io.get_executor());
    co_await attacker.connect(server.local_port());
    const std::error_code wec = co_await attacker.write(retyped);
    CHECK_FALSE(wec);
    TCPServer* sp = &server;
    calls* seenp = &seen;
    if (xmac) {
        co_await netaio_test::eventually([sp] { return sp->stats().count(errc::auth_failed) >= 1; });
        co_await netaio_test::pause(20ms);  // anything else in flight lands before the counts are read
        CHECK(server.stats().count(errc::auth_failed) == 1);
        CHECK(server.stats().total_rejected() == 1);
        CHECK(seen.deletes == 0);
        CHECK(server.stats().handler_calls == 0);

        // The genuine frame still passes: the refused one never reached the replay cache.
        netaio_test::raw_socket honest(io.get_executor());
        co_await honest.connect(server.local_port());
        const std::error_code hec = co_await honest.write(genuine);
        CHECK_FALSE(hec);
        co_await netaio_test::eventually([seenp] { return seenp->updates == 1; });
        CHECK(seen.deletes == 0);
    } else {
        // The pinned compatible limit: the MAC does not cover the type.
        co_await netaio_test::eventually([seenp] { return seenp->deletes == 1; });
        CHECK(seen.updates == 0);
        CHECK(server.stats().total_rejected() == 0);
    }
    const std::uint64_t before = server.stats().handler_calls;
    co_await netaio_test::expect_alive_with(server.local_port(), layer.auth, layer.cipher);
    CHECK(server.stats().handler_calls == before + 1);
    co_await server.stop();
}

// D5: under HMAC + stream cipher, the iv of another valid frame swapped into a frame.
asio::awaitable<void> swapped_iv(asio::io_context& io, bool xmac) {
    const handler_plugins layer = hmac_layer(xmac, true);
    calls seen;  // outlives the server, whose handlers count into it
    TCPServer server(io.get_executor(), modern::server_options(layer));
    route_targets(server, seen);
    server.start();

    Message a = netaio_test::request_msg("pay", "transfer 10 to alice");
    Message b = netaio_test::request_msg("pay", "transfer 99 to mallet");
    detail::seal(a, nullptr, &layer, plugin_context{});
    detail::seal(b, nullptr, &layer, plugin_context{});
    const auto b_iv = b.auth_data.get_bytes("iv");
    REQUIRE(b_iv);
    a.auth_data.set("iv", bytes(b_iv->begin(), b_iv->end()));

    netaio_test::raw_socket attacker(io.get_executor());
    co_await attacker.connect(server.local_port());
    const std::error_code wec = co_await attacker.write(netaio_test::frame_builder(a).build());
    CHECK_FALSE(wec);
    TCPServer* sp = &server;
    calls* seenp = &seen;
    if (xmac) {
        co_await netaio_test::eventually([sp] { return sp->stats().count(errc::auth_failed) >= 1; });
        co_await netaio_test::pause(20ms);
        CHECK(server.stats().total_rejected() == 1);
        CHECK(seen.payments == 0);
    } else {
        // The pinned compatible limit: garbage plaintext reaches the handler.
        co_await netaio_test::eventually([seenp] { return seenp->payments == 1; });
        CHECK(seen.last_payment != "transfer 10 to alice");
        CHECK(server.stats().total_rejected() == 0);
    }
    co_await netaio_test::expect_alive_with(server.local_port(), layer.auth, layer.cipher);
    co_await server.stop();
}

}  // namespace

TEST_CASE("HMACAuthPlugin xmac over TCP: server and client round trips, alone and under the stream cipher",
          "[hmac][xmac][tcp]") {
    run_loopback([](asio::io_context& io) { return modern::tcp_outer_round_trip(io, hmac_layer(true), hmac_layer(true)); });
    run_loopback(
        [](asio::io_context& io) { return modern::tcp_outer_round_trip(io, hmac_layer(true, true), hmac_layer(true, true)); });
}

TEST_CASE("HMACAuthPlugin xmac over TCP: UPDATE_URI re-typed to DELETE_URI is refused with xmac, accepted without (C6)",
          "[hmac][xmac][tcp]") {
    SECTION("xmac on: refused, counted, handler not run") {
        run_loopback([](asio::io_context& io) { return retyped_update(io, true); });
    }
    SECTION("xmac off: accepted (the pinned compatible limit)") {
        run_loopback([](asio::io_context& io) { return retyped_update(io, false); });
    }
}

TEST_CASE("HMACAuthPlugin xmac over TCP: another valid iv swapped in is refused with xmac, garbage without (D5)",
          "[hmac][xmac][tcp]") {
    SECTION("xmac on") {
        run_loopback([](asio::io_context& io) { return swapped_iv(io, true); });
    }
    SECTION("xmac off") {
        run_loopback([](asio::io_context& io) { return swapped_iv(io, false); });
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
