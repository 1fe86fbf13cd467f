// examples/crud_server.cpp - an in-memory key/value store served over netaio.
//
//   netaio_crud_server [--host 127.0.0.1] [--port 8888] [--hmac SECRET] [--cipher KEY]
//                      [--inner-hmac SECRET2] [--verbose]
//
// Routes (see install_routes() in crud_app.hpp): (REQUEST_URI, "echo"), REQUEST_URI,
// CREATE_URI, UPDATE_URI, DELETE_URI, SUBSCRIBE_URI, UNSUBSCRIBE_URI, PUBLISH_URI;
// anything else gets NOT_FOUND. Prints "READY <host> <port>" once listening
// (--port 0 picks a free port) and stops gracefully on SIGINT / SIGTERM.
//
// Exit codes: 0 after a signal, 1 when it cannot listen, 2 for a bad command line
// or a bad secret/key (e.g. shorter than 16 bytes).
#include "crud_app.hpp"
#include "peers_route.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <exception>

namespace {

// tag::graceful_stop[]
/// Wait for SIGINT / SIGTERM, then stop: no new connections, running handlers
/// finish, queued replies drain (up to tcp_server_options::stop_timeout).
asio::awaitable<void> stop_on_signal(asio::signal_set& signals, netaio::TCPServer& server) {
    const int signal_number = co_await signals.async_wait(asio::use_awaitable);
    std::fprintf(stderr, "crud_server: signal %d, stopping\n", signal_number);
    co_await server.stop();
}
// end::graceful_stop[]

}  // namespace

int main(int argc, char** argv) {
    const std::optional<crud::settings> settings = crud::parse_command_line(argc, argv, crud::role::server);
    if (!settings) return 2;

    crud::security_layers layers;
    try {
        layers = crud::make_layers(*settings);
    } catch (const netaio::error& e) {  // errc::bad_plugin_config: e.g. a secret under 16 bytes
        std::fprintf(stderr, "crud_server: bad --hmac, --cipher or --inner-hmac value: %s\n", e.what());
        return 2;
    }

    try {
        asio::io_context io;

        // tag::server_setup[]
        crud::store data;  // declared first: the handlers refer to it

        netaio::tcp_server_options options;
        options.host = settings->host;
        options.port = settings->port;
        options.auth_plugin = layers.auth;      // outer layer: every frame in and out
        options.cipher_plugin = layers.cipher;
        options.log = netaio::stderr_logger(settings->verbose ? netaio::log_level::info : netaio::log_level::warning);
        if (settings->peer_id) options.local_peer = crud::make_local_peer(*settings->peer_id);
        netaio::TCPServer server(io.get_executor(), options);

        crud::install_routes(server, data, layers.writes);
        if (settings->peer_id) crud::install_peer_routes(server);  // peers and the "_peers" route

        asio::signal_set signals(io, SIGINT, SIGTERM);
        try {
            server.start();  // bind and listen now, serve in the background
        } catch (const std::exception& e) {
            std::fprintf(stderr, "crud_server: cannot listen on %s:%u: %s\n", settings->host.c_str(),
                         static_cast<unsigned>(settings->port), e.what());
            return 1;
        }
        std::printf("READY %s %u\n", settings->host.c_str(), static_cast<unsigned>(server.local_port()));
        std::fflush(stdout);

        asio::co_spawn(io, stop_on_signal(signals, server), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);  // out of io.run(), reported below
        });
        io.run();  // returns once the server has stopped
        // end::server_setup[]
    } catch (const std::exception& e) {
        std::fprintf(stderr, "crud_server: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "crud_server: stopped\n");
    return 0;
}
