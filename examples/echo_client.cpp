// examples/echo_client.cpp - sends a few "echo" requests and prints the replies.
//
//   netaio_echo_client [--host 127.0.0.1] [--port 8888] [--count 3]
//
// SIGINT (Ctrl-C) or SIGTERM stops it at once, even while it waits for a reply.
//
// Exit codes: 0 when every reply echoed its request, 1 otherwise (or when the
// server cannot be reached), 2 for a bad command line, 128 + the signal number
// after SIGINT (130) or SIGTERM (143).
#include <netaio/tcp_client.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
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

std::optional<unsigned> parse_number(std::string_view text, unsigned max) {
    if (text.empty() || text.size() > 6) return std::nullopt;
    unsigned value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > max) return std::nullopt;
    return value;
}

// tag::echo_client[]
/// Connect, send `count` requests one after the other, print each reply. Returns
/// the number of replies that did not echo their request.
///
/// A coroutine taking its parameters by value (the client by reference: it
/// outlives the coroutine). Replies go into named locals, never straight into a
/// condition (see the GCC 12 notes in the README).
asio::awaitable<int> run(netaio::TCPClient& client, unsigned count) {
    co_await client.connect();
    std::printf("connected to %s:%u\n", client.default_server().host.c_str(),
                static_cast<unsigned>(client.default_server().port));
    std::fflush(stdout);
    int wrong = 0;
    for (unsigned i = 1; i <= count; ++i) {
        const std::string text = "message " + std::to_string(i);
        netaio::Message reply = co_await client.request("echo", text);  // REQUEST_URI "echo", waits for the reply
        const std::string content = netaio::to_string(reply.body.content);
        const bool ok = reply.type() == netaio::MessageType::RESPOND_URI && content == text;
        std::printf("sent \"%s\", got %s \"%s\"%s\n", text.c_str(),
                    std::string(netaio::default_message_type_name(static_cast<std::uint8_t>(reply.type()))).c_str(),
                    content.c_str(), ok ? "" : "  MISMATCH");
        if (!ok) ++wrong;
    }
    co_return wrong;
}
// end::echo_client[]

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    unsigned port = 8888;
    unsigned count = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        std::optional<unsigned> number;
        if (flag == "--host" && i + 1 < argc) {
            host = argv[++i];
        } else if (flag == "--port" && i + 1 < argc && (number = parse_number(argv[i + 1], 65535)) && *number > 0) {
            port = *number;
            ++i;
        } else if (flag == "--count" && i + 1 < argc && (number = parse_number(argv[i + 1], 100000))) {
            count = *number;
            ++i;
        } else {
            std::fprintf(stderr, "usage: %s [--host HOST] [--port PORT] [--count N]\n", argv[0]);
            return 2;
        }
    }

    asio::io_context io;
    netaio::tcp_client_options options;
    options.host = host;
    options.port = static_cast<std::uint16_t>(port);
    netaio::TCPClient client(io.get_executor(), options);

    // SIGINT / SIGTERM: cancel the coroutine (a connect in progress ends at once) and
    // close the connection (a request waiting for its reply fails at once).
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::cancellation_signal cancel_run;
    int stopped_by = 0;
    signals.async_wait([&](std::error_code ec, int signal_number) {
        if (ec) return;  // run() ended first
        stopped_by = signal_number;
        std::fprintf(stderr, "echo_client: signal %d, stopping\n", signal_number);
        cancel_run.emit(asio::cancellation_type::terminal);
        client.close_all();
    });

    int exit_code = 1;
    asio::co_spawn(io, run(client, count),
                   asio::bind_cancellation_slot(cancel_run.slot(), [&](std::exception_ptr e, int wrong) {
                       // Done (or failed): end the connection's reader and the signal
                       // wait, so io.run() returns.
                       client.close_all();
                       signals.cancel();
                       if (!e) {
                           exit_code = wrong == 0 ? 0 : 1;
                           return;
                       }
                       try {
                           std::rethrow_exception(e);
                       } catch (const std::exception& ex) {  // connection refused, timeout, a signal, ...
                           std::fprintf(stderr, "echo_client: %s\n", ex.what());
                       }
                   }));
    io.run();
    if (stopped_by != 0) return 128 + stopped_by;  // as a shell reports a program a signal ended
    return exit_code;
}
