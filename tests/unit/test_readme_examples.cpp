// The README's examples of handlers, the default handler, plugins configured from
// JSON and a logging sink, run over loopback. The lines between `tag::NAME[]` and
// `end::NAME[]` are copied into README.md (tests/readme_snippets.py checks them),
// so what the README shows compiles and does what the README says.
//
// Never write co_await inside CHECK/REQUIRE (GCC 12): assign to a local first.
#include "loopback_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/hmac_auth_plugin.hpp>
#include <netaio/sha256_stream_cipher_plugin.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/steady_timer.hpp>

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

using namespace netaio;
using netaio_test::loopback_server;
using netaio_test::run_loopback;
using netaio_test::text_of;

namespace {

void register_handler_kinds(TCPServer& server) {
    // tag::handler_kinds[]
    // A plain function: the message in, the reply out.
    server.on({MessageType::REQUEST_URI, "echo"},
              [](const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); });
    // The same, turning the request into its reply (no allocation once warm).
    server.on({MessageType::REQUEST_URI, "echo-in-place"},
              [](Message& m) { return reply_in_place(m, MessageType::RESPOND_URI); });
    // With the connection, and maybe a reply (std::nullopt: none).
    server.on({MessageType::REQUEST_URI, "connection-id"},
              [](const Message& m, const tcp_connection& c) -> std::optional<Message> {
                  if (m.body.content.empty()) return std::nullopt;
                  return make_respond_uri_msg(std::to_string(c.id()), m.body.uri);
              });
    // No reply at all.
    server.on(MessageType::NOTIFY_URI, [](const Message&) {});
    // A coroutine: no captures, arguments by value; it may wait before it answers.
    server.on({MessageType::REQUEST_URI, "later"},
              [](Message m, tcp_connection) -> asio::awaitable<std::optional<Message>> {
                  asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(10));
                  co_await timer.async_wait(asio::use_awaitable);
                  co_return make_respond_uri_msg(m.body.content, m.body.uri);
              });
    // A one-time handler is used before the permanent one under the same key, once.
    server.once({MessageType::REQUEST_URI, "echo"},
                [](const Message& m) { return make_respond_uri_msg("first", m.body.uri); });
    // end::handler_kinds[]
}

/// True when nothing waits for receive_once() on the client's default connection.
asio::awaitable<bool> nothing_waiting(TCPClient& client) {
    try {
        std::optional<Message> got = co_await client.receive_once(std::nullopt, std::chrono::milliseconds(1));
        co_return !got;
    } catch (const netaio::error& e) {
        if (e.code() != errc::timed_out) throw;
    }
    co_return true;
}

/// Connect a client with `options` where nothing listens; the connect must fail.
asio::awaitable<void> connect_and_fail(asio::io_context& io, tcp_client_options options) {
    TCPClient client(io.get_executor(), std::move(options));
    bool failed = false;
    try {
        co_await client.connect();
    } catch (const std::system_error&) {
        failed = true;
    }
    CHECK(failed);
}

}  // namespace

TEST_CASE("readme: every handler kind answers as the README says", "[readme][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        register_handler_kinds(server);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();

        Message first = co_await client.request("echo", "hi");
        CHECK(text_of(first.body.content) == "first");  // the once() handler, used once
        Message second = co_await client.request("echo", "hi");
        CHECK(text_of(second.body.content) == "hi");
        Message in_place = co_await client.request("echo-in-place", "moved");
        CHECK(in_place.type() == MessageType::RESPOND_URI);
        CHECK(text_of(in_place.body.content) == "moved");
        Message id = co_await client.request("connection-id", "?");
        CHECK(text_of(id.body.content) == "1");  // the server's first connection
        Message later = co_await client.request("later", "waited");
        CHECK(text_of(later.body.content) == "waited");

        // NOTIFY_URI is consumed without a reply (no default NOT_FOUND): by the time
        // the next request's reply arrives, any reply to it would have arrived first.
        client.send(Message::prepare(Body::prepare("", "news"), MessageType::NOTIFY_URI));
        Message after = co_await client.request("echo", "after");
        CHECK(text_of(after.body.content) == "after");
        const bool quiet = co_await nothing_waiting(client);
        CHECK(quiet);

        // Maybe a reply: std::nullopt sends nothing, the request times out.
        bool timed_out = false;
        try {
            (void)co_await client.request("connection-id", "", request_options().timeout(std::chrono::milliseconds(100)));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        co_await server.stop();
    });
}

TEST_CASE("readme: a default handler that keeps the uri completes the client's request", "[readme][tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        // tag::default_handler[]
        server.set_default_handler([](const Message& m) { return make_not_found_msg("no route", m.body.uri); });
        // end::default_handler[]
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        Message reply = co_await client.request("missing");
        CHECK(reply.type() == MessageType::NOT_FOUND);
        CHECK(text_of(reply.body.uri) == "missing");
        CHECK(text_of(reply.body.content) == "no route");
        co_await server.stop();
    });
}

TEST_CASE("readme: HMAC and stream-cipher plugins configured from JSON", "[readme][tcp][plugins]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options server_options = loopback_server();
        // tag::plugins_json[]
        const nlohmann::json hmac_config = {{"secret", "a secret of at least 16 bytes"}};
        const nlohmann::json cipher_config = {{"key", "a key of at least 16 bytes"}, {"encrypt_uri", true}};
        server_options.auth_plugin = HMACAuthPlugin(hmac_config);
        server_options.cipher_plugin = Sha256StreamCipherPlugin(cipher_config);
        // end::plugins_json[]
        TCPServer server(io.get_executor(), server_options);
        server.on({MessageType::REQUEST_URI, "echo"},
                  [](const Message& m) { return make_respond_uri_msg(m.body.content, m.body.uri); });
        server.start();

        // A client configured the same way (its own plugin instances) is answered.
        tcp_client_options client_options{.port = server.local_port()};
        client_options.auth_plugin = HMACAuthPlugin(hmac_config);
        client_options.cipher_plugin = Sha256StreamCipherPlugin(cipher_config);
        TCPClient client(io.get_executor(), client_options);
        co_await client.connect();
        Message reply = co_await client.request("echo", "configured");
        CHECK(text_of(reply.body.content) == "configured");
        CHECK(server.stats().count(errc::auth_failed) == 0);

        // Another secret is refused: the request is counted as an auth failure and times out.
        tcp_client_options other_options{.port = server.local_port()};
        other_options.auth_plugin = HMACAuthPlugin(nlohmann::json{{"secret", "another secret of 16+ bytes"}});
        other_options.cipher_plugin = Sha256StreamCipherPlugin(cipher_config);
        TCPClient other(io.get_executor(), other_options);
        co_await other.connect();
        bool timed_out = false;
        try {
            (void)co_await other.request("echo", "refused", request_options().timeout(std::chrono::milliseconds(200)));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        CHECK(server.stats().count(errc::auth_failed) == 1);
        co_await server.stop();
    });

    // Bad settings are typed errors.
    const auto config_error = [](const nlohmann::json& config, bool cipher) {
        try {
            if (cipher)
                (void)Sha256StreamCipherPlugin(config);
            else
                (void)HMACAuthPlugin(config);
        } catch (const netaio::error& e) {
            return e.code() == errc::bad_plugin_config;
        }
        return false;
    };
    CHECK(config_error(nlohmann::json::object(), false));                   // no "secret"
    CHECK(config_error(nlohmann::json{{"secret", "short"}}, false));        // under 16 bytes
    CHECK(config_error(nlohmann::json{{"secret", 42}}, false));             // not text or bytes
    CHECK(config_error(nlohmann::json{{"key", "a key of 16+ bytes"}, {"encrypt_uri", "yes"}}, true));
    CHECK(config_error(nlohmann::json::array(), true));                     // not an object
}

TEST_CASE("readme: a logging sink of one's own", "[readme][logging]") {
    std::vector<std::string> lines;
    tcp_client_options options;
    options.port = 1;  // nothing listens there: the connect fails, after its INFO line
    options.connect_timeout = std::chrono::seconds(2);
    // tag::logging_sink[]
    options.log = netaio::logger{netaio::log_level::info,
                                 [&lines](netaio::log_level level, std::string_view name, std::string_view text) {
                                     lines.push_back(std::string(netaio::to_string(level)) + " " + std::string(name) +
                                                     ": " + std::string(text));
                                 }};
    // end::logging_sink[]
    run_loopback([&options](asio::io_context& io) { return connect_and_fail(io, options); });
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.front() == "INFO netaio.client: connecting to 127.0.0.1:1");
}
