// examples/echo_server.cpp - the smallest useful netaio server.
//
//   netaio_echo_server [--host 127.0.0.1] [--port 8888]      (--port 0: any free port)
//
// Answers (REQUEST_URI, "echo") with RESPOND_URI carrying the same content; any
// other message gets the default NOT_FOUND reply. Prints "READY <host> <port>" once
// listening, and stops gracefully on SIGINT (Ctrl-C) or SIGTERM.
//
// Exit codes: 0 after a signal, 1 when it cannot listen, 2 for a bad command line.
#include <netaio/tcp_server.hpp>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
    if (text.empty() || text.size() > 5) return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 65535) return std::nullopt;
    return static_cast<std::uint16_t>(value);
}

// tag::echo_stop[]
/// Wait for SIGINT / SIGTERM, then stop gracefully: no new connections, running
/// handlers finish, queued replies drain, connections close.
asio::awaitable<void> stop_on_signal(asio::signal_set& signals, netaio::TCPServer& server) {
    const int signal_number = co_await signals.async_wait(asio::use_awaitable);
    std::fprintf(stderr, "echo_server: signal %d, stopping\n", signal_number);
    co_await server.stop();
}
// end::echo_stop[]

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8888;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        std::optional<std::uint16_t> number;
        if (flag == "--host" && i + 1 < argc) {
            host = argv[++i];
        } else if (flag == "--port" && i + 1 < argc && (number = parse_port(argv[i + 1]))) {
            port = *number;
            ++i;
        } else {
            std::fprintf(stderr, "usage: %s [--host HOST] [--port PORT]   (PORT 0: any free port)\n", argv[0]);
            return 2;
        }
    }

    try {
        // tag::echo_server[]
        asio::io_context io;
        netaio::tcp_server_options options;
        options.host = host;
        options.port = port;  // 0: the system picks one, see local_port()
        netaio::TCPServer server(io.get_executor(), options);

        // A handler gets the decrypted message and returns the reply.
        server.on({netaio::MessageType::REQUEST_URI, "echo"}, [](const netaio::Message& m) {
            return netaio::make_respond_uri_msg(m.body.content, m.body.uri);
        });

        asio::signal_set signals(io, SIGINT, SIGTERM);
        try {
            server.start();  // bind and listen now, serve in the background
        } catch (const std::exception& e) {
            std::fprintf(stderr, "echo_server: cannot listen on %s:%u: %s\n", host.c_str(), static_cast<unsigned>(port),
                         e.what());
            return 1;
        }
        std::printf("READY %s %u\n", host.c_str(), static_cast<unsigned>(server.local_port()));
        std::fflush(stdout);

        asio::co_spawn(io, stop_on_signal(signals, server), [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);  // out of io.run(), reported below
        });
        io.run();  // returns once the server has stopped
        // end::echo_server[]
    } catch (const std::exception& e) {
        std::fprintf(stderr, "echo_server: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "echo_server: stopped\n");
    return 0;
}
