// examples/crud_client.cpp - runs a scripted session against netaio_crud_server.
//
//   netaio_crud_client [--host 127.0.0.1] [--port 8888] [--hmac SECRET] [--cipher KEY]
//                      [--inner-hmac SECRET2] [--timeout-ms 10000] [--verbose]
//
// The session (run_session() in crud_app.hpp): echo, create, read, create again
// (refused), update, read, subscribe, publish (and receive the notification),
// unsubscribe, delete, read again (not found). Every step is printed with what was
// sent and what came back. The flags must match the server's.
//
// Exit codes: 0 when every reply was as expected, 1 otherwise (or when the server
// cannot be reached), 2 for a bad command line or a bad secret/key.
#include "crud_app.hpp"

#include <asio/io_context.hpp>

#include <cstdio>
#include <exception>

namespace {

// tag::client_main[]
/// Connect to the default server and run the session. The client must outlive the
/// coroutine (it does: main waits in io.run()).
asio::awaitable<bool> connect_and_run(netaio::TCPClient& client, netaio::handler_plugins writes,
                                      std::chrono::milliseconds timeout) {
    co_await client.connect();  // the host and port of the options
    const bool ok = co_await crud::run_session(client, std::move(writes), timeout);
    co_return ok;
}
// end::client_main[]

}  // namespace

int main(int argc, char** argv) {
    const std::optional<crud::settings> settings = crud::parse_command_line(argc, argv, crud::role::client);
    if (!settings) return 2;

    crud::security_layers layers;
    try {
        layers = crud::make_layers(*settings);
    } catch (const netaio::error& e) {  // errc::bad_plugin_config: e.g. a secret under 16 bytes
        std::fprintf(stderr, "crud_client: bad --hmac, --cipher or --inner-hmac value: %s\n", e.what());
        return 2;
    }

    asio::io_context io;
    netaio::tcp_client_options options;
    options.host = settings->host;
    options.port = settings->port;
    options.connect_timeout = settings->timeout;
    options.request_timeout = settings->timeout;  // for every request of the session
    options.auth_plugin = layers.auth;            // outer layer: must match the server's
    options.cipher_plugin = layers.cipher;
    options.log = netaio::stderr_logger(settings->verbose ? netaio::log_level::info : netaio::log_level::warning);
    netaio::TCPClient client(io.get_executor(), options);

    std::printf("crud_client: session with %s:%u (hmac %s, cipher %s, inner hmac %s)\n", settings->host.c_str(),
                static_cast<unsigned>(settings->port), settings->hmac ? "on" : "off", settings->cipher ? "on" : "off",
                settings->inner_hmac ? "on" : "off");
    int exit_code = 1;
    asio::co_spawn(io, connect_and_run(client, layers.writes, settings->timeout),
                   [&client, &exit_code](std::exception_ptr e, bool ok) {
                       client.close_all();  // done (or failed): end the reader, so io.run() returns
                       if (!e) {
                           exit_code = ok ? 0 : 1;
                           return;
                       }
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {  // e.g. connection refused
                           std::fprintf(stderr, "crud_client: %s\n", ex.what());
                       }
                   });
    try {
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "crud_client: %s\n", e.what());
        return 1;
    }
    return exit_code;
}
