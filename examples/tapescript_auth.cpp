// examples/tapescript_auth.cpp - netaio's README TapescriptAuthPlugin example in
// C++: a server accepts requests that satisfy a taproot lock, in one process on
// loopback.
//
// The lock commits to an owner's Ed25519 key V and to a script S, the single-sig
// lock of an admin key A. Only Q = V + t·B (t derived from V and S) appears in
// the lock. Then:
//   - the owner signs for Q on the key path (66-byte witness, reveals nothing);
//   - the admin signs with A and reveals V and S on the script path (138 bytes);
//   - a stranger's request is refused (the server counts errc::auth_failed).
// The server signs its replies with its own key; the clients check them against
// its single-sig lock.
//
// Exit code 0 when all three went as described, 1 otherwise. Everything runs on
// 127.0.0.1 with a port the system picks, under a 10 s deadline.
#include <netaio/crypto.hpp>
#include <netaio/tapescript_auth_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/io_context.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <string>

namespace {

using namespace std::chrono_literals;

std::string hex(netaio::bytes_view b) { return netaio::to_hex(b); }

/// A request that must come back as "hello, <who>".
asio::awaitable<bool> greet(netaio::TCPClient& client, std::string who) {
    co_await client.connect();
    netaio::Message reply = co_await client.request("hello", who);
    const std::string text = netaio::to_string(reply.body.content);
    const std::size_t witness_size = reply.auth_data.get_bytes("witness").value_or(netaio::bytes_view()).size();
    std::printf("  %-8s -> \"%s\" (reply witness %zu bytes)\n", who.c_str(), text.c_str(), witness_size);
    co_return text == "hello, " + who;
}

asio::awaitable<int> run(asio::io_context& io) {
    namespace ts = netaio::tapescript;
    const netaio::bytes server_seed = netaio::crypto::random_bytes(32);
    const netaio::bytes owner_seed = netaio::crypto::random_bytes(32);
    const netaio::bytes admin_seed = netaio::crypto::random_bytes(32);
    const netaio::bytes stranger_seed = netaio::crypto::random_bytes(32);
    const ts::verify_key server_vkey = ts::verify_key_from_seed(server_seed);

    // tag::tapescript_taproot[]
    // The owner's key V, and the committed script S: an admin's single-sig lock.
    const ts::verify_key vkey = ts::verify_key_from_seed(owner_seed);
    const ts::verify_key admin_vkey = ts::verify_key_from_seed(admin_seed);
    const netaio::bytes inner_script = ts::make_single_sig_lock(admin_vkey);
    const netaio::bytes lock = ts::make_taproot_lock(vkey, inner_script);  // 03 20 <Q> 5b 00

    // The server accepts what satisfies the lock and signs its replies.
    netaio::tapescript_auth_options server_auth;
    server_auth.seed = server_seed;
    server_auth.lock = lock;

    // The owner: key path, a signature for Q made with V's seed and S.
    netaio::tapescript_auth_options owner_auth;
    owner_auth.seed = owner_seed;
    owner_auth.lock = ts::make_single_sig_lock(server_vkey);  // replies must come from the server
    owner_auth.witness_func = ts::taproot_keyspend_witness(inner_script);

    // The admin: script path, A's signature, then S and V revealed.
    netaio::tapescript_auth_options admin_auth;
    admin_auth.seed = admin_seed;
    admin_auth.lock = ts::make_single_sig_lock(server_vkey);
    admin_auth.witness_func = ts::taproot_scriptspend_witness(vkey, inner_script);
    // end::tapescript_taproot[]

    std::printf("owner key V  %s\nadmin key A  %s\ntaproot lock %s\n\n", hex(vkey).c_str(), hex(admin_vkey).c_str(),
                hex(lock).c_str());

    netaio::tcp_server_options so;
    so.host = "127.0.0.1";
    so.port = 0;
    so.stop_timeout = 200ms;
    so.auth_plugin = netaio::TapescriptAuthPlugin(server_auth);
    netaio::TCPServer server(io.get_executor(), so);
    server.on({netaio::MessageType::REQUEST_URI, "hello"}, [](const netaio::Message& m) {
        return netaio::make_respond_uri_msg("hello, " + netaio::to_string(m.body.content), m.body.uri);
    });
    server.start();

    netaio::tcp_client_options co;
    co.host = "127.0.0.1";
    co.port = server.local_port();
    co.auth_plugin = netaio::TapescriptAuthPlugin(owner_auth);
    netaio::TCPClient owner(io.get_executor(), co);
    co.auth_plugin = netaio::TapescriptAuthPlugin(admin_auth);
    netaio::TCPClient admin(io.get_executor(), co);
    netaio::tapescript_auth_options stranger_auth = admin_auth;
    stranger_auth.seed = stranger_seed;
    stranger_auth.witness_func = {};  // a plain signature by a key the lock does not know
    co.auth_plugin = netaio::TapescriptAuthPlugin(stranger_auth);
    netaio::TCPClient stranger(io.get_executor(), co);

    std::printf("requests:\n");
    const bool owner_ok = co_await greet(owner, "owner");
    const bool admin_ok = co_await greet(admin, "admin");

    // The server answers the stranger with a plaintext AUTH_ERROR, which the
    // stranger's own check refuses in turn: the request times out.
    bool stranger_refused = false;
    co_await stranger.connect();
    try {
        netaio::Message reply = co_await stranger.request("hello", "stranger", netaio::request_options().timeout(300ms));
        std::printf("  stranger -> \"%s\" (should have been refused)\n", netaio::to_string(reply.body.content).c_str());
    } catch (const netaio::error& e) {
        stranger_refused = e.code() == netaio::errc::timed_out;
        std::printf("  stranger -> %s\n", e.what());
    }
    const auto refused = server.stats().count(netaio::errc::auth_failed);
    std::printf("\nserver: %llu handled, %llu refused (auth_failed)\n",
                static_cast<unsigned long long>(server.stats().handler_calls), static_cast<unsigned long long>(refused));

    owner.close_all();
    admin.close_all();
    stranger.close_all();
    co_await server.stop();
    const bool ok = owner_ok && admin_ok && stranger_refused && refused == 1 && server.stats().handler_calls == 2;
    std::printf("%s\n", ok ? "OK" : "FAILED");
    co_return ok ? 0 : 1;
}

}  // namespace

int main() {
    try {
        asio::io_context io;
        int exit_code = -1;
        asio::co_spawn(io, run(io), [&io, &exit_code](std::exception_ptr e, int code) {
            exit_code = code;
            if (e) {
                exit_code = 1;
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    std::fprintf(stderr, "tapescript_auth: %s\n", ex.what());
                }
            }
            io.stop();
        });
        io.run_for(std::chrono::seconds(10));
        if (exit_code < 0) {
            std::fprintf(stderr, "tapescript_auth: did not finish within 10 s\n");
            return 1;
        }
        return exit_code;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "tapescript_auth: %s\n", e.what());
        return 1;
    }
}
