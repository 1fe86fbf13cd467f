// examples/crud_client.cpp - runs a scripted session against netaio_crud_server.
//
//   netaio_crud_client [--host 127.0.0.1] [--port 8888] [--hmac SECRET] [--cipher KEY]
//                      [--inner-hmac SECRET2] [--timeout-ms 10000] [--verbose]
//
// The session (run_session() in crud_app.hpp): echo, create, read, create again
// (refused), update, read, update and delete a missing item (not found), a message
// no route matches (the server's default NOT_FOUND), subscribe on two connections,
// publish (both receive the notification), unsubscribe, publish again (only the
// second connection receives it), delete, read again (not found). Every step is
// printed with what was sent and what came back. The flags must match the server's.
//
// SIGINT (Ctrl-C) or SIGTERM ends the session at once: a connect or a wait in
// progress is abandoned, both connections close.
//
// Exit codes: 0 when every reply was as expected, 1 otherwise (or when the server
// cannot be reached), 2 for a bad command line or a bad secret/key, 128 + the
// signal number after SIGINT (130) or SIGTERM (143).
#include "crud_app.hpp"

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <exception>

namespace {

// tag::client_main[]
/// Connect two clients to the default server and run the session. The clients must
/// outlive the coroutine (they do: main waits in io.run()).
asio::awaitable<bool> connect_and_run(netaio::TCPClient& client, netaio::TCPClient& subscriber,
                                      netaio::handler_plugins writes, std::chrono::milliseconds timeout) {
    co_await client.connect();      // the host and port of the options
    co_await subscriber.connect();  // a second connection, for the publish/subscribe steps
    const bool ok = co_await crud::run_session(client, subscriber, std::move(writes), timeout);
    co_return ok;
}
// end::client_main[]

}  // namespace

int main(int argc, char** argv) {
    const std::optional<crud::settings> settings = crud::parse_command_line(argc, argv, crud::role::client);
    if (!settings) return 2;

    crud::security_layers layers;
    crud::security_layers subscriber_layers;  // its own plugins: copies of a handle share one replay cache
    try {
        layers = crud::make_layers(*settings);
        subscriber_layers = crud::make_layers(*settings);
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
    // The same server, a second connection. Its own plugin instances: the server sends
    // both subscribers the same NOTIFY_URI frame, and an HMAC plugin shared by the two
    // clients would take the second copy for a replay.
    options.auth_plugin = subscriber_layers.auth;
    options.cipher_plugin = subscriber_layers.cipher;
    netaio::TCPClient subscriber(io.get_executor(), options);

    std::printf("crud_client: session with %s:%u (hmac %s, cipher %s, inner hmac %s)\n", settings->host.c_str(),
                static_cast<unsigned>(settings->port), settings->hmac ? "on" : "off", settings->cipher ? "on" : "off",
                settings->inner_hmac ? "on" : "off");
    std::fflush(stdout);

    // SIGINT / SIGTERM: cancel the session (a connect in progress ends at once) and
    // close both connections (a request or receive waiting fails at once).
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::cancellation_signal cancel_session;
    int stopped_by = 0;
    signals.async_wait([&](std::error_code ec, int signal_number) {
        if (ec) return;  // the session ended first
        stopped_by = signal_number;
        std::fprintf(stderr, "crud_client: signal %d, stopping\n", signal_number);
        cancel_session.emit(asio::cancellation_type::terminal);
        client.close_all();
        subscriber.close_all();
    });

    int exit_code = 1;
    asio::co_spawn(io, connect_and_run(client, subscriber, layers.writes, settings->timeout),
                   asio::bind_cancellation_slot(cancel_session.slot(), [&](std::exception_ptr e, bool ok) {
                       // Done (or failed): end the readers and the signal wait, so io.run() returns.
                       client.close_all();
                       subscriber.close_all();
                       signals.cancel();
                       if (!e) {
                           exit_code = ok ? 0 : 1;
                           return;
                       }
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {  // e.g. connection refused
                           std::fprintf(stderr, "crud_client: %s\n", ex.what());
                       }
                   }));
    try {
        io.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "crud_client: %s\n", e.what());
        return 1;
    }
    if (stopped_by != 0) return 128 + stopped_by;  // as a shell reports a program a signal ended
    return exit_code;
}
