// Loopback tests of TCPServer and TCPClient: handlers, routing, request/response,
// pub/sub, lifecycle. Test names cite the BEHAVIOUR.md items they cover.
//
// Never write co_await inside CHECK/REQUIRE: Catch's macros repeat their argument in
// a short-circuited condition, and GCC 12 evaluates the co_await there anyway.
#include "loopback_support.hpp"
#include "tcp_test_support.hpp"

#include <netaio/detail/read_after_poll.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/tcp_server.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/write.hpp>

#include <array>
#include <cctype>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

using namespace netaio;
using netaio_test::echo_reply;
using netaio_test::eventually;
using netaio_test::loopback_server;
using netaio_test::rethrow_if;
using netaio_test::run_loopback;
using netaio_test::slow_echo;
using netaio_test::text_of;

namespace {

/// A request for "slow" (answered after `delay_ms`) whose failure is kept in `error`.
asio::awaitable<void> slow_request(TCPClient& client, std::string delay_ms, std::error_code& error) {
    try {
        (void)co_await client.request("slow", delay_ms, request_options().timeout(5s));
    } catch (const std::system_error& e) {
        error = e.code();
        throw;
    }
}

/// Connect when `connect` is set, then request "echo" with `content`; the reply's content lands in `out`.
asio::awaitable<void> echo_request(TCPClient& client, bool connect, std::string content, std::string& out) {
    if (connect) co_await client.connect();
    Message reply = co_await client.request("echo", content, request_options().timeout(5s));
    out = text_of(reply.body.content);
}

/// On a strand of its own: a request for "echo", then where it was resumed.
asio::awaitable<void> request_on_strand(TCPClient& client, std::string& out, bool& resumed_on_strand) {
    Message reply = co_await client.request("echo", "stranded", request_options().timeout(5s));
    out = text_of(reply.body.content);
    const auto ex = co_await asio::this_coro::executor;
    const auto* strand = ex.target<asio::strand<asio::io_context::executor_type>>();
    resumed_on_strand = strand != nullptr && strand->running_in_this_thread();
}

/// A request for "never" that keeps `token` alive in its frame for as long as it waits.
asio::awaitable<void> parked_forever(TCPClient& client, std::shared_ptr<int> token) {
    (void)co_await client.request("never", "", request_options().timeout(std::chrono::hours(1)));
    (void)token;
}

/// How a request spawned on its own ended (see record_request).
struct request_outcome {
    bool done = false;
    std::error_code error;      ///< empty when a reply came
    std::string reply_content;  ///< the reply's content
};

/// Request `uri` with `content` (10 s timeout) and record how it ended in `out`.
asio::awaitable<void> record_request(TCPClient& client, std::string uri, std::string content, request_outcome& out) {
    try {
        Message reply = co_await client.request(uri, content, request_options().timeout(10s));
        out.reply_content = text_of(reply.body.content);
    } catch (const std::system_error& e) {
        out.error = e.code();
    }
    out.done = true;
}

/// A request for "never" with `timeout`; the order in which such requests ended goes to `order`.
asio::awaitable<void> unanswered_request(TCPClient& client, std::chrono::milliseconds timeout, char name,
                                         std::string& order, std::vector<std::error_code>& errors) {
    try {
        (void)co_await client.request("never", "", request_options().timeout(timeout));
    } catch (const netaio::error& e) {
        errors.push_back(e.code());
    }
    order.push_back(name);
}

}  // namespace

TEST_CASE("tcp: request/response round trip (B59, B62)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        Message reply = co_await client.request("echo", "hello");
        CHECK(reply.type() == MessageType::RESPOND_URI);
        CHECK(text_of(reply.body.content) == "hello");
        CHECK(text_of(reply.body.uri) == "echo");
        co_await server.stop();
    });
}

TEST_CASE("tcp: request_into reuses one reply Message; reply_in_place handlers; uri/content may point into the reply",
          "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"},
                  [](Message& m) { return reply_in_place(m, MessageType::RESPOND_URI); });
        // A handler that edits the request before returning it as the reply.
        server.on({MessageType::REQUEST_URI, "upper"}, [](Message& m) {
            for (auto& c : m.body.content) c = static_cast<std::uint8_t>(std::toupper(c));
            return reply_in_place(m, MessageType::RESPOND_URI);
        });
        server.on({MessageType::CREATE_URI, "store"}, [](Message& m) { return reply_in_place(m, MessageType::OK); });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();

        Message reply;
        for (int i = 0; i < 50; ++i) {
            const std::string content = "message " + std::to_string(i) + std::string(static_cast<std::size_t>(i) * 7, 'x');
            co_await client.request_into(reply, "echo", content);
            REQUIRE(reply.type() == MessageType::RESPOND_URI);
            CHECK(text_of(reply.body.uri) == "echo");
            CHECK(text_of(reply.body.content) == content);
        }
        co_await client.request_into(reply, "upper", "shout");
        CHECK(text_of(reply.body.content) == "SHOUT");
        // Aliasing: the previous reply's uri and content are the next request's.
        co_await client.request_into(reply, reply.body.uri, reply.body.content);
        CHECK(text_of(reply.body.uri) == "upper");
        CHECK(text_of(reply.body.content) == "SHOUT");
        co_await client.request_into(reply, "echo", reply.body.uri);  // content from the old uri
        CHECK(text_of(reply.body.uri) == "echo");
        CHECK(text_of(reply.body.content) == "upper");
        co_await client.request_into_as(MessageType::CREATE_URI, reply, "store", "value");
        CHECK(reply.type() == MessageType::OK);
        CHECK(text_of(reply.body.content) == "value");
        // Concurrent request_into calls, each with its own Message, on one connection.
        std::array<Message, 8> replies;
        int done = 0;
        for (std::size_t i = 0; i < replies.size(); ++i)
            asio::co_spawn(
                io,
                [](TCPClient& c, Message& r, std::string content, int& finished) -> asio::awaitable<void> {
                    co_await c.request_into(r, "echo", content);
                    CHECK(text_of(r.body.content) == content);
                    ++finished;
                }(client, replies[i], "concurrent " + std::to_string(i), done),
                [](std::exception_ptr e) {
                    if (e) std::rethrow_exception(e);
                });
        co_await eventually([&] { return done == static_cast<int>(replies.size()); });
        // An error leaves the reply empty and raises as request() does.
        bool timed_out = false;
        try {
            co_await client.request_into(reply, "nothing here", "x", request_options().timeout(50ms));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);  // the default NOT_FOUND has an empty uri: it never completes a request (B63)
        // The same Message serves again after an error.
        co_await client.request_into(reply, "echo", "again");
        CHECK(text_of(reply.body.content) == "again");
        co_await server.stop();
    });
}

TEST_CASE("tcp: requests issued in one turn of the executor leave together, and so do their replies", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"},
                  [](Message& m) { return reply_in_place(m, MessageType::RESPOND_URI); });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        {
            Message warm = co_await client.request("echo", "warm-up");
            CHECK(text_of(warm.body.content) == "warm-up");
        }
        const std::uint64_t client_writes = client.stats().writes;
        const std::uint64_t client_frames = client.stats().frames_sent;
        const std::uint64_t server_writes = server.stats().writes;
        constexpr int n = 20;
        int done = 0;
        for (int i = 0; i < n; ++i)
            asio::co_spawn(
                io,
                [](TCPClient& c, int i, int& finished) -> asio::awaitable<void> {
                    Message r = co_await c.request("echo", std::to_string(i));
                    CHECK(text_of(r.body.content) == std::to_string(i));
                    ++finished;
                }(client, i, done),
                [](std::exception_ptr e) {
                    if (e) std::rethrow_exception(e);
                });
        co_await eventually([&] { return done == n; });
        // The first of the 20 finds no request in flight on its connection: it is
        // written at once (request/response lockstep gains a hop). The other 19
        // are queued in the same turn and leave together: one more write. The
        // server answers each read's frames with one corked write: one or two reads.
        CHECK(client.stats().writes - client_writes == 2);
        CHECK(client.stats().frames_sent - client_frames == static_cast<std::uint64_t>(n));
        const std::uint64_t server_writes_made = server.stats().writes - server_writes;
        CHECK(server_writes_made >= 1);
        CHECK(server_writes_made <= 2);
        co_await server.stop();
    });
}

TEST_CASE("tcp: routing - most specific key wins, once handlers are consumed (B4, B5, B6)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on(MessageType::REQUEST_URI, [](const Message& m) { return make_respond_uri_msg("by type", m.body.uri); });
        server.on({MessageType::REQUEST_URI, "a"}, [](const Message& m) { return make_respond_uri_msg("by uri", m.body.uri); });
        server.once({MessageType::REQUEST_URI, "a"},
                    [](const Message& m) { return make_respond_uri_msg("once", m.body.uri); });
        // A permanent (type, uri) handler beats an ephemeral type-only handler.
        server.once(MessageType::REQUEST_URI, [](const Message& m) { return make_respond_uri_msg("once by type", m.body.uri); });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        {
            Message reply_ = co_await client.request("a");
            CHECK(text_of(reply_.body.content) == "once");
        }
        {
            Message reply_ = co_await client.request("a");
            CHECK(text_of(reply_.body.content) == "by uri");
        }
        {
            Message reply_ = co_await client.request("b");
            CHECK(text_of(reply_.body.content) == "once by type");
        }
        {
            Message reply_ = co_await client.request("b");
            CHECK(text_of(reply_.body.content) == "by type");
        }
        CHECK(server.remove_handler({MessageType::REQUEST_URI, "a"}));
        CHECK_FALSE(server.remove_handler({MessageType::REQUEST_URI, "a"}));  // B3: silent no-op
        {
            Message reply_ = co_await client.request("a");
            CHECK(text_of(reply_.body.content) == "by type");
        }
        co_await server.stop();
    });
}

TEST_CASE("tcp: handler keyed by the client's address (B4)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "who"}, [](const Message& m) { return make_respond_uri_msg("anyone", m.body.uri); });
        server.on(MessageType::OK, [&server](const Message&, const tcp_connection& c) {
            // Register a handler for exactly this client's address.
            server.on({MessageType::REQUEST_URI, "who", c.remote()},
                      [](const Message& m) { return make_respond_uri_msg("you", m.body.uri); });
        });
        server.start();
        TCPClient first(io.get_executor(), {.port = server.local_port()});
        TCPClient second(io.get_executor(), {.port = server.local_port()});
        co_await first.connect();
        co_await second.connect();
        first.send(make_ok_msg());
        co_await eventually([&] { return server.stats().handler_calls >= 1; });
        {
            Message reply_ = co_await first.request("who");
            CHECK(text_of(reply_.body.content) == "you");
        }
        {
            Message reply_ = co_await second.request("who");
            CHECK(text_of(reply_.body.content) == "anyone");
        }
        co_await server.stop();
    });
}

TEST_CASE("tcp: default handler replies NOT_FOUND with an empty uri; requests then time out (B12, B63)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        client.send(make_ok_msg("x", "nowhere"));
        std::optional<Message> got = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(got);
        CHECK(got->type() == MessageType::NOT_FOUND);
        CHECK(got->body.uri.empty());
        CHECK(text_of(got->body.content) == "not found");
        CHECK(got->encode() == make_not_found_msg().encode());
        try {
            (void)co_await client.request("nowhere", "", request_options().timeout(100ms));
            FAIL("expected a timeout");
        } catch (const netaio::error& e) {
            CHECK(e.code() == errc::timed_out);
            CHECK(std::string(e.what()).find("Request for URI nowhere timed out after 0.1") != std::string::npos);
        }
        co_await server.stop();
    });
}

TEST_CASE("tcp: custom default handler and handlers returning nothing (B12, B31)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.set_default_handler([](const Message& m) { return make_not_found_msg("no route", m.body.uri); });
        server.on({MessageType::REQUEST_URI, "silent"}, [](const Message&) {});
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        Message reply = co_await client.request("missing");
        CHECK(reply.type() == MessageType::NOT_FOUND);
        CHECK(text_of(reply.body.content) == "no route");
        bool timed_out = false;
        try {
            (void)co_await client.request("silent", "", request_options().timeout(100ms));
        } catch (const netaio::error& e) {
            timed_out = e.code() == errc::timed_out;
        }
        CHECK(timed_out);
        co_await server.stop();
    });
}

TEST_CASE("tcp: coroutine handlers, and a throwing handler yields ERROR while the connection lives", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "slow"}, slow_echo);
        server.on({MessageType::REQUEST_URI, "boom"}, [](const Message&) -> std::optional<Message> {
            throw std::runtime_error("handler exploded");
        });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        Message slow = co_await client.request("slow", "20");
        CHECK(text_of(slow.body.content) == "20");
        client.send(Message::prepare(Body::prepare("", "boom"), MessageType::REQUEST_URI));
        std::optional<Message> error_reply = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(error_reply);
        CHECK(error_reply->type() == MessageType::ERROR);
        CHECK(server.stats().count(errc::handler_failed) == 1);
        {
            Message reply_ = co_await client.request("slow", "1");
            CHECK(text_of(reply_.body.content) == "1");
        }  // still alive
        co_await server.stop();
    });
}

TEST_CASE("tcp: concurrent same-URI requests each get their own reply, in order (E12)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        // Replies carry the request content, so each waiter can check it got its own.
        server.on({MessageType::REQUEST_URI, "same"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        constexpr int n = 50;
        int done = 0;
        int mismatched = 0;
        for (int i = 0; i < n; ++i) {
            asio::co_spawn(
                io,
                [](TCPClient& c, int i, int& done, int& mismatched) -> asio::awaitable<void> {
                    Message r = co_await c.request("same", std::to_string(i));
                    if (text_of(r.body.content) != std::to_string(i)) ++mismatched;
                    ++done;
                }(client, i, done, mismatched),
                [](std::exception_ptr e) {
                    if (e) std::rethrow_exception(e);
                });
        }
        co_await eventually([&] { return done == n; });
        CHECK(mismatched == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp: pipelined frames are answered in order, replies batched", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        for (int i = 0; i < 100; ++i) client.send(Message::prepare(Body::prepare(std::to_string(i), "echo"), MessageType::REQUEST_URI));
        for (int i = 0; i < 100; ++i) {
            std::optional<Message> m = co_await client.receive_once(std::nullopt, 2s);
            REQUIRE(m);
            CHECK(text_of(m->body.content) == std::to_string(i));
        }
        // 100 requests, far fewer writes thanks to batching (both sides): the client's
        // sends of one turn leave in one write, and the server answers everything one
        // read brought in one write (about 2 KiB arrive in one or a few reads).
        CHECK(server.stats().frames_sent == 100);
        CHECK(client.stats().frames_sent == 100);
        CHECK(client.stats().writes <= 2);
        CHECK(server.stats().writes < 10);
        co_await server.stop();
    });
}

TEST_CASE("tcp: writes larger than the socket buffers finish asynchronously, every byte in order", "[tcp]") {
    // The first request parks the server's reader in a slow handler, so nothing is
    // read while the client queues ~2.9 MiB in one turn. With small socket buffers
    // the kernel takes only part of that gathered write at once, and the rest must
    // follow from the right offset; the replies go the same way.
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_connection_options small_buffers;
        small_buffers.send_buffer_size = 16384;
        small_buffers.receive_buffer_size = 16384;
        tcp_server_options server_options = loopback_server();
        server_options.connection = small_buffers;
        TCPServer server(io.get_executor(), server_options);
        server.on({MessageType::REQUEST_URI, "slow"}, slow_echo);
        server.on({MessageType::REQUEST_URI, "big"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port(), .connection = small_buffers});
        co_await client.connect();
        constexpr int n = 48;
        constexpr std::size_t size = 60000;
        auto content_of = [](int i) {
            std::string c(size, '\0');
            for (std::size_t k = 0; k < size; ++k) c[k] = static_cast<char>('a' + (k * 7 + static_cast<std::size_t>(i)) % 26);
            return c;
        };
        REQUIRE(client.send(Message::prepare(Body::prepare("100", "slow"), MessageType::REQUEST_URI)));
        for (int i = 0; i < n; ++i)
            REQUIRE(client.send(Message::prepare(Body::prepare(content_of(i), "big"), MessageType::REQUEST_URI)));
        std::optional<Message> first = co_await client.receive_once(std::nullopt, 5s);
        REQUIRE(first);
        CHECK(text_of(first->body.content) == "100");
        int intact = 0;
        for (int i = 0; i < n; ++i) {
            std::optional<Message> m = co_await client.receive_once(std::nullopt, 5s);
            REQUIRE(m);
            if (text_of(m->body.content) == content_of(i)) ++intact;
        }
        CHECK(intact == n);
        CHECK(server.stats().count(errc::checksum_mismatch) == 0);
        co_await server.stop();
    });
}

TEST_CASE("tcp: subscribe, notify and unsubscribe (B37-B40)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on(MessageType::SUBSCRIBE_URI, [&server](const Message& m, const tcp_connection& c) {
            CHECK_FALSE(server.subscribe(m.body.uri, c));
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_SUBSCRIBE);
        });
        server.on(MessageType::UNSUBSCRIBE_URI, [&server](const Message& m, const tcp_connection& c) {
            server.unsubscribe(m.body.uri, c);
            server.unsubscribe(m.body.uri, c);  // not a member any more: ignored (B38 fix)
            return Message::prepare(Body::prepare("", m.body.uri), MessageType::CONFIRM_UNSUBSCRIBE);
        });
        server.start();
        TCPClient a(io.get_executor(), {.port = server.local_port()});
        TCPClient b(io.get_executor(), {.port = server.local_port()});
        co_await a.connect();
        co_await b.connect();
        a.send(Message::prepare(Body::prepare("", "news"), MessageType::SUBSCRIBE_URI));
        b.send(Message::prepare(Body::prepare("", "news"), MessageType::SUBSCRIBE_URI));
        {
            std::optional<Message> got_ = co_await a.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(got_->type() == MessageType::CONFIRM_SUBSCRIBE);
        }
        {
            std::optional<Message> got_ = co_await b.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(got_->type() == MessageType::CONFIRM_SUBSCRIBE);
        }
        CHECK(server.subscribers("news").size() == 2);

        CHECK(server.notify("news", Message::prepare(Body::prepare("extra", "news"), MessageType::NOTIFY_URI)) == 2);
        {
            std::optional<Message> got_ = co_await a.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(text_of(got_->body.content) == "extra");
        }
        {
            std::optional<Message> got_ = co_await b.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(text_of(got_->body.content) == "extra");
        }
        CHECK(server.notify("other", make_ok_msg()) == 0);  // unknown key: no-op

        b.send(Message::prepare(Body::prepare("", "news"), MessageType::UNSUBSCRIBE_URI));
        {
            std::optional<Message> got_ = co_await b.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(got_->type() == MessageType::CONFIRM_UNSUBSCRIBE);
        }
        CHECK(server.notify("news", Message::prepare(Body::prepare("second", "news"), MessageType::NOTIFY_URI)) == 1);
        {
            std::optional<Message> got_ = co_await a.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(text_of(got_->body.content) == "second");
        }

        // Broadcast reaches every client; a closed client drops out of subscriptions (B25).
        CHECK(server.broadcast(make_ok_msg("all")) == 2);
        {
            std::optional<Message> got_ = co_await a.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(text_of(got_->body.content) == "all");
        }
        {
            std::optional<Message> got_ = co_await b.receive_once(std::nullopt, 2s);
            REQUIRE(got_);
            CHECK(text_of(got_->body.content) == "all");
        }
        a.close();
        co_await eventually([&] { return server.clients().size() == 1; });
        CHECK(server.subscribers("news").empty());
        co_await server.stop();
    });
}

TEST_CASE("tcp: a client connects to several servers at once (B49)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer one(io.get_executor(), loopback_server());
        TCPServer two(io.get_executor(), loopback_server());
        one.on({MessageType::REQUEST_URI, "name"}, [](const Message& m) { return make_respond_uri_msg("one", m.body.uri); });
        two.on({MessageType::REQUEST_URI, "name"}, [](const Message& m) { return make_respond_uri_msg("two", m.body.uri); });
        one.start();
        two.start();
        TCPClient client(io.get_executor(), {.port = one.local_port()});
        co_await client.connect();
        co_await client.connect("127.0.0.1", two.local_port());
        CHECK(client.servers().size() == 2);
        {
            Message reply_ = co_await client.request("name");
            CHECK(text_of(reply_.body.content) == "one");
        }
        const peer_address second{"127.0.0.1", two.local_port()};
        {
            Message reply_ = co_await client.request("name", "", request_options().to(second));
            CHECK(text_of(reply_.body.content) == "two");
        }
        co_await one.stop();
        co_await two.stop();
    });
}

TEST_CASE("tcp: pending requests fail at once when the server stops, not at their timeout (E10)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options options = loopback_server();
        options.stop_timeout = 5s;  // far beyond the slow handler: stop() must not wait for it
        TCPServer server(io.get_executor(), options);
        int slow_started = 0;
        int never_started = 0;
        // Plain lambdas (not coroutines) may capture: they note the call and hand
        // the message to the coroutine handler, or drop it.
        server.on({MessageType::REQUEST_URI, "slow"}, [&slow_started](Message m, tcp_connection c) {
            ++slow_started;
            return slow_echo(std::move(m), std::move(c));
        });
        server.on({MessageType::REQUEST_URI, "never"}, [&never_started](const Message&) { ++never_started; });
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        // Two requests in flight when stop() is called: one on a handler that finishes
        // during stop() (its reply must still arrive), one that never gets a reply
        // (it must fail with connection_lost once the connection closes, long before
        // its 10 s timeout).
        request_outcome slow, never;
        asio::co_spawn(io, record_request(client, "slow", "150", slow), rethrow_if);
        asio::co_spawn(io, record_request(client, "never", "", never), rethrow_if);
        co_await eventually([&] { return slow_started == 1 && never_started == 1; });
        const auto started = std::chrono::steady_clock::now();
        co_await server.stop();
        co_await eventually([&] { return slow.done && never.done; }, 2s);
        const auto took = std::chrono::steady_clock::now() - started;
        CHECK(!slow.error);
        CHECK(slow.reply_content == "150");
        CHECK(never.error == errc::connection_lost);
        CHECK(took < 2s);
        bool refused = false;
        try {
            (void)co_await client.request("slow", "1");  // no connection any more
        } catch (const netaio::error& e) {
            refused = e.code() == errc::not_connected;
        }
        CHECK(refused);
    });
}

TEST_CASE("tcp: a request cancelled by its caller (it lost an operator|| race) raises operation_aborted, not a timeout",
          "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "slow"}, slow_echo);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        int timeout_handler_calls = 0;
        client.set_timeout_handler([&timeout_handler_calls](const timeout_event&) { ++timeout_handler_calls; });
        co_await client.connect();

        std::error_code request_error;
        const auto winner = co_await (slow_request(client, "300", request_error) || netaio_test::pause(30ms));
        CHECK(winner.index() == 1);
        CHECK(request_error == asio::error::operation_aborted);
        CHECK(timeout_handler_calls == 0);
        CHECK(client.stats().count(errc::timed_out) == 0);

        // The cancelled request left the table: its late reply is an unsolicited
        // message (receive_once), and the next request gets its own reply.
        std::optional<Message> late = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(late);
        CHECK(late->type() == MessageType::RESPOND_URI);
        CHECK(text_of(late->body.content) == "300");
        Message next = co_await client.request("slow", "1", request_options().timeout(2s));
        CHECK(text_of(next.body.content) == "1");
        co_await server.stop();
    });
}

TEST_CASE("tcp: requests time out at their own deadlines, earliest first, whatever the order they were sent in (B64)",
          "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        int timeouts_reported = 0;
        client.set_timeout_handler([&timeouts_reported](const timeout_event&) { ++timeouts_reported; });
        co_await client.connect();
        // One timer serves every request's deadline: a later request with an earlier
        // deadline must bring it forward, and each expiry must set it for the next.
        std::string order;
        std::vector<std::error_code> errors;
        const auto started = std::chrono::steady_clock::now();
        const auto rethrow = [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        };
        asio::co_spawn(io, unanswered_request(client, 900ms, 'A', order, errors), rethrow);
        asio::co_spawn(io, unanswered_request(client, 100ms, 'B', order, errors), rethrow);
        asio::co_spawn(io, unanswered_request(client, 400ms, 'C', order, errors), rethrow);
        co_await eventually([&order] { return order.size() == 1; }, 2s);
        const auto first = std::chrono::steady_clock::now() - started;
        co_await eventually([&order] { return order.size() == 3; }, 3s);
        const auto last = std::chrono::steady_clock::now() - started;
        CHECK(order == "BCA");
        CHECK(first >= 100ms);
        CHECK(first < 400ms);
        CHECK(last >= 900ms);
        CHECK(errors == std::vector<std::error_code>(3, make_error_code(errc::timed_out)));
        CHECK(timeouts_reported == 3);
        CHECK(client.stats().count(errc::timed_out) == 3);
        // The connection is unharmed: the next request is answered, and so is one
        // whose timeout is as long as can be (its deadline saturates, no overflow).
        Message reply = co_await client.request("echo", "after", request_options().timeout(2s));
        CHECK(text_of(reply.body.content) == "after");
        Message forever = co_await client.request("echo", "forever", request_options().timeout(std::chrono::milliseconds::max()));
        CHECK(text_of(forever.body.content) == "forever");
        co_await server.stop();
    });
}

TEST_CASE("tcp: once its connections are closed, a client leaves io_context::run() free to return (no request deadline "
          "keeps it busy)",
          "[tcp]") {
    asio::io_context io;
    TCPServer server(io.get_executor(), loopback_server());
    server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
    server.start();
    TCPClient client(io.get_executor(), {.port = server.local_port()});  // outlives the run
    netaio_test::require_runs_out_of_work(
        io,
        [](TCPClient& c, TCPServer& s) -> asio::awaitable<void> {
            co_await c.connect();
            // Answered at once, but its deadline, 30 s away, was set on the client's alarm.
            Message reply = co_await c.request("echo", "x", request_options().timeout(30s));
            CHECK(text_of(reply.body.content) == "x");
            c.close();
            co_await s.stop();
        }(client, server));
}

TEST_CASE("tcp: a requester whose completion handler throws: the exception leaves io_context::run(), the connection lives",
          "[tcp]") {
    // A reply resumes its requester on the reader's stack. If that requester ends and
    // its co_spawn handler throws, the exception must reach the caller of run() (as
    // from any handler), not unwind through the reader and close the connection.
    asio::io_context io;
    TCPServer server(io.get_executor(), loopback_server());
    server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
    server.start();
    TCPClient client(io.get_executor(), {.port = server.local_port()});
    std::string first;
    asio::co_spawn(io, echo_request(client, true, "first", first), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
        throw std::runtime_error("completion handler threw");
    });
    std::string what;
    try {
        io.run_for(5s);
    } catch (const std::runtime_error& e) {
        what = e.what();
    }
    CHECK(what == "completion handler threw");
    CHECK(first == "first");

    std::string second;
    bool done = false;
    asio::co_spawn(io, echo_request(client, false, "second", second), [&done](std::exception_ptr e) {
        done = true;
        if (e) std::rethrow_exception(e);
    });
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!done && std::chrono::steady_clock::now() < until) io.run_one_for(100ms);
    REQUIRE(done);
    CHECK(second == "second");
    CHECK(client.stats().connections_closed == 0);
    CHECK(client.stats().frames_received == 2);
}

TEST_CASE("tcp: a requester running on another executor (a strand) is resumed there, not on the reader's", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        std::string content;
        bool resumed_on_strand = false;
        bool done = false;
        asio::co_spawn(asio::make_strand(io), request_on_strand(client, content, resumed_on_strand),
                       [&done](std::exception_ptr e) {
                           done = true;
                           if (e) std::rethrow_exception(e);
                       });
        co_await eventually([&done] { return done; }, 3s);
        CHECK(content == "stranded");
        CHECK(resumed_on_strand);
        co_await server.stop();
    });
}

TEST_CASE("tcp: a request still waiting when its io_context is destroyed is freed with it (no ownership cycle)", "[tcp]") {
    std::weak_ptr<int> request_frame;
    {
        asio::io_context io;
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.on({MessageType::REQUEST_URI, "never"}, [](const Message&) {});
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        const auto rethrow = [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        };
        std::string echoed;
        asio::co_spawn(io, echo_request(client, true, "connected", echoed), rethrow);
        const auto until = std::chrono::steady_clock::now() + 5s;
        while (echoed.empty() && std::chrono::steady_clock::now() < until) io.run_one_for(100ms);
        REQUIRE(echoed == "connected");

        auto token = std::make_shared<int>(0);
        request_frame = token;
        asio::co_spawn(io, parked_forever(client, std::move(token)), rethrow);
        while (server.stats().frames_received < 2 && std::chrono::steady_clock::now() < until) io.run_one_for(100ms);
        REQUIRE(server.stats().frames_received == 2);  // the request is out, its coroutine parked
        CHECK_FALSE(request_frame.expired());
    }  // client, server and io_context destroyed while the request waits
    // As Asio destroys the handlers of pending operations, the parked request's
    // coroutine is destroyed too (its waiter, handler and frame own one another).
    CHECK(request_frame.expired());
}

TEST_CASE("tcp: stop lets a running handler finish and its reply drain (graceful stop)", "[tcp]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        TCPServer server(io.get_executor(), loopback_server());
        server.on({MessageType::REQUEST_URI, "slow"}, slow_echo);
        server.start();
        TCPClient client(io.get_executor(), {.port = server.local_port()});
        co_await client.connect();
        client.send(Message::prepare(Body::prepare("100", "slow"), MessageType::REQUEST_URI));
        co_await netaio_test::pause(20ms);  // the handler is now running
        co_await server.stop();
        std::optional<Message> reply = co_await client.receive_once(std::nullopt, 2s);
        REQUIRE(reply);
        CHECK(text_of(reply->body.content) == "100");
    });
}

TEST_CASE("tcp: IPv6 - a dual-stack server on :: answers clients on ::1 and 127.0.0.1", "[tcp][ipv6]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        tcp_server_options options;
        options.host = "::";  // dual stack (IPV6_V6ONLY off); tests only connect over loopback
        options.port = 0;
        TCPServer server(io.get_executor(), options);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.start();
        TCPClient six(io.get_executor(), {.host = "::1", .port = server.local_port()});
        co_await six.connect();
        Message r6 = co_await six.request("echo", "v6");
        CHECK(text_of(r6.body.content) == "v6");
        TCPClient four(io.get_executor(), {.host = "127.0.0.1", .port = server.local_port()});
        co_await four.connect();
        Message r4 = co_await four.request("echo", "v4");
        CHECK(text_of(r4.body.content) == "v4");
        co_await server.stop();
    });
}

// The client's reader re-arms with detail::async_read_some_after_poll. It must deliver
// what async_read_some delivers, start only after the handlers already queued, and
// free its handler, uninvoked, when the io_context goes away first.
namespace {

struct loopback_pair {
    explicit loopback_pair(asio::io_context& io) : near(io), far(io) {
        asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
        near.connect(acceptor.local_endpoint());  // completes in the backlog: no accept needed first
        acceptor.accept(far);
    }
    asio::ip::tcp::socket near, far;
};

struct read_result {
    bool done = false;
    std::error_code ec;
    std::size_t n = 0;
};

}  // namespace

TEST_CASE("tcp: a read started after the poll delivers the bytes like async_read_some", "[tcp][read_after_poll]") {
    asio::io_context io;
    loopback_pair pair(io);
    std::array<char, 16> buffer{};
    read_result got;
    detail::async_read_some_after_poll(pair.far, asio::buffer(buffer), [&got](std::error_code ec, std::size_t n) {
        got = {true, ec, n};
    });
    asio::write(pair.near, asio::buffer("hello", 5));
    io.run_for(5s);  // returns as soon as the read completes (no work left)
    REQUIRE(got.done);
    CHECK_FALSE(got.ec);
    REQUIRE(got.n == 5);
    CHECK(std::string(buffer.data(), got.n) == "hello");
}

TEST_CASE("tcp: a read started after the poll starts after the handlers already queued", "[tcp][read_after_poll]") {
    asio::io_context io;
    loopback_pair pair(io);
    std::array<char, 16> buffer{};
    read_result got;
    // Queued first, so it runs before the read starts: the read then finds the socket
    // closed (bad_descriptor). A read started at once would have been pending when
    // the socket closed, and cancelled (operation_aborted).
    asio::post(io, [&pair] { pair.far.close(); });
    detail::async_read_some_after_poll(pair.far, asio::buffer(buffer), [&got](std::error_code ec, std::size_t n) {
        got = {true, ec, n};
    });
    io.run_for(5s);
    REQUIRE(got.done);
    CHECK(got.ec == asio::error::bad_descriptor);
    CHECK(got.n == 0);
}

TEST_CASE("tcp: a read still waiting for its pass is freed, uninvoked, with its io_context", "[tcp][read_after_poll]") {
    auto token = std::make_shared<int>(0);
    const std::weak_ptr<int> watch = token;
    bool invoked = false;
    std::array<char, 16> buffer{};
    {
        asio::io_context io;
        asio::ip::tcp::socket socket(io, asio::ip::tcp::v4());
        detail::async_read_some_after_poll(socket, asio::buffer(buffer),
                                           [&invoked, token = std::move(token)](std::error_code, std::size_t) { invoked = true; });
        REQUIRE_FALSE(watch.expired());  // held by the queued start of the read
    }
    CHECK_FALSE(invoked);
    CHECK(watch.expired());
}

// ---- logging (BEHAVIOUR B47, B75) ----------------------------------------------------------

namespace {

/// A callback sink that keeps every line it is given.
struct log_capture {
    struct line {
        log_level level;
        std::string name;
        std::string text;
    };
    std::vector<line> lines;

    logger at(log_level level) {
        return logger{level, [this](log_level l, std::string_view name, std::string_view message) {
                          lines.push_back({l, std::string(name), std::string(message)});
                      }};
    }
    /// How many lines at `level` from `name` contain `part`.
    std::size_t count(log_level level, std::string_view name, std::string_view part) const {
        std::size_t n = 0;
        for (const auto& l : lines)
            if (l.level == level && l.name == name && l.text.find(part) != std::string::npos) ++n;
        return n;
    }
    bool has(log_level level, std::string_view name, std::string_view part) const { return count(level, name, part) > 0; }
    /// True when every line is at `level` or above.
    bool all_at_least(log_level level) const {
        for (const auto& l : lines)
            if (l.level < level) return false;
        return true;
    }
};

}  // namespace

TEST_CASE("logging: the level filters before the text is made; off and an empty sink are silent", "[logging]") {
    log_capture capture;
    const logger warnings = capture.at(log_level::warning);
    int made = 0;
    const auto make_text = [&made] {
        ++made;
        return std::string("made");
    };
    warnings.log(log_level::info, "n", make_text);
    warnings.log(log_level::debug, "n", make_text);
    CHECK(made == 0);  // below the threshold: never formatted
    CHECK(capture.lines.empty());
    warnings.log(log_level::warning, "n", make_text);
    warnings.log(log_level::error, "n", "plain text");
    CHECK(made == 1);
    REQUIRE(capture.lines.size() == 2);
    CHECK(capture.lines[0].level == log_level::warning);
    CHECK(capture.lines[0].name == "n");
    CHECK(capture.lines[0].text == "made");
    CHECK(capture.lines[1].level == log_level::error);
    CHECK(capture.lines[1].text == "plain text");

    const logger off = capture.at(log_level::off);
    CHECK_FALSE(off.enabled(log_level::error));
    off.log(log_level::error, "n", make_text);
    const logger no_sink{log_level::debug, {}};  // the nodes' default: silent
    CHECK_FALSE(no_sink.enabled(log_level::error));
    no_sink.log(log_level::error, "n", make_text);
    CHECK(made == 1);
    CHECK(capture.lines.size() == 2);
    CHECK(to_string(log_level::warning) == "WARNING");
}

TEST_CASE("tcp: server and client log through a callback sink at its level; set_logger replaces the sink (B47, B75)",
          "[tcp][logging]") {
    run_loopback([](asio::io_context& io) -> asio::awaitable<void> {
        log_capture server_log, server_log_2, client_log, client_log_2;
        // (The designated form of options.hpp's header comment.)
        tcp_server_options server_options{.host = "127.0.0.1", .port = 0, .connection = {.idle_timeout = 30s}};
        server_options.log = server_log.at(log_level::info);
        TCPServer server(io.get_executor(), server_options);
        server.on({MessageType::REQUEST_URI, "echo"}, echo_reply);
        server.on({MessageType::REQUEST_URI, "boom"}, [](const Message&) -> std::optional<Message> {
            throw std::runtime_error("handler exploded");
        });
        server.start();
        const std::string port = std::to_string(server.local_port());
        CHECK(server_log.count(log_level::info, "netaio.server", "server started on 127.0.0.1:" + port) == 1);

        tcp_client_options client_options{.port = server.local_port()};
        client_options.log = client_log.at(log_level::info);
        TCPClient client(io.get_executor(), client_options);
        co_await client.connect();
        CHECK(client_log.count(log_level::info, "netaio.client", "connecting to 127.0.0.1:" + port) == 1);
        co_await eventually([&] { return server_log.has(log_level::info, "netaio.server", "client connected from 127.0.0.1:"); });
        Message reply = co_await client.request("echo", "hi");
        CHECK(text_of(reply.body.content) == "hi");

        // set_logger on the server: a sink at WARNING. The throwing handler's ERROR line
        // goes to the new sink; the INFO line of a new connection is filtered out; the
        // old sink hears nothing more.
        server.set_logger(server_log_2.at(log_level::warning));
        const std::size_t old_server_lines = server_log.lines.size();
        TCPClient second(io.get_executor(), {.port = server.local_port()});
        co_await second.connect();
        second.send(Message::prepare(Body::prepare("", "boom"), MessageType::REQUEST_URI));
        std::optional<Message> error_reply = co_await second.receive_once(std::nullopt, 2s);
        REQUIRE(error_reply);
        CHECK(error_reply->type() == MessageType::ERROR);
        CHECK(server_log_2.count(log_level::error, "netaio.server", "handler threw: handler exploded") == 1);
        CHECK(server_log_2.all_at_least(log_level::warning));
        CHECK_FALSE(server_log_2.has(log_level::info, "netaio.server", "client connected from"));
        CHECK(server_log.lines.size() == old_server_lines);

        // set_logger on the client: the next connect is logged to the new sink only.
        client.set_logger(client_log_2.at(log_level::info));
        co_await client.connect();  // reconnects: the old connection is replaced
        CHECK(client_log_2.count(log_level::info, "netaio.client", "connecting to 127.0.0.1:" + port) == 1);
        CHECK(client_log.count(log_level::info, "netaio.client", "connecting to") == 1);

        // The sinks die with this coroutine; the nodes' last lines must not outlive them.
        client.set_logger({});
        server.set_logger({});
        client.close_all();
        second.close_all();
        co_await server.stop();
    });
}
