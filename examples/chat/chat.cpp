// examples/chat/chat.cpp - end-to-end encrypted chat through an untrusted relay
// (chat_app.hpp explains the design and the threat model).
//
//   netaio_chat --demo                                   relay + alice, bob, carol in one process
//   netaio_chat --relay [--host 127.0.0.1] [--port 8888] prints "READY <host> <port>", runs until SIGINT/SIGTERM
//   netaio_chat --client NAME [--host H] [--port P]      reads stdin lines "to: text", prints what arrives
//
// Client commands: "bob: hello" sends "hello" to bob, "/who" lists the pinned
// contacts and their key fingerprints, "/quit" (or end of input) leaves once the
// messages typed so far have been handed to the relay.
//
// --demo exits 0 only if every message between every pair arrived intact, no
// byte the relay handled contained a plaintext, and the relay's three attacks
// (flip a ciphertext byte, re-label the sender, replay a frame) were all refused.
// Everything has a deadline (--demo: 20 s in all). Exit codes: 0 ok, 1 failure,
// 2 bad command line.
#include "chat_app.hpp"

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

namespace {

using namespace std::chrono_literals;

struct settings {
    enum class mode { none, demo, relay, client } run = mode::none;
    std::string name;
    std::string host = "127.0.0.1";
    std::uint16_t port = 8888;
    std::chrono::milliseconds timeout{5000};
    bool verbose = false;
};

void usage(const char* program) {
    std::fprintf(stderr,
                 "usage: %s --demo\n"
                 "       %s --relay [--host HOST] [--port PORT] [--verbose]\n"
                 "       %s --client NAME [--host HOST] [--port PORT] [--timeout-ms MS] [--verbose]\n"
                 "  --port 0 lets the relay pick a free port (printed as READY <host> <port>)\n"
                 "  client input: \"NAME: text\" sends, \"/who\" lists contacts, \"/quit\" leaves\n",
                 program, program, program);
}

std::optional<settings> parse(int argc, char** argv) {
    settings s;
    const char* program = argc > 0 ? argv[0] : "netaio_chat";
    for (int i = 1; i < argc; ++i) {
        const std::string_view flag = argv[i];
        if (flag == "--demo") {
            s.run = settings::mode::demo;
        } else if (flag == "--relay") {
            s.run = settings::mode::relay;
        } else if (flag == "--verbose") {
            s.verbose = true;
        } else if ((flag == "--client" || flag == "--host" || flag == "--port" || flag == "--timeout-ms") && i + 1 < argc) {
            const std::string value = argv[++i];
            if (flag == "--client") {
                s.run = settings::mode::client;
                s.name = value;
                if (!chat::valid_name(value)) {
                    std::fprintf(stderr, "%s: a name is 1-32 of A-Z a-z 0-9 _ -\n", program);
                    return std::nullopt;
                }
            } else if (flag == "--host") {
                s.host = value;
            } else {
                char* end = nullptr;
                const unsigned long n = std::strtoul(value.c_str(), &end, 10);
                const unsigned long max = flag == "--port" ? 65535 : 3'600'000;
                if (value.empty() || *end != '\0' || n > max || (flag == "--timeout-ms" && n == 0)) {
                    std::fprintf(stderr, "%s: bad value for %s: '%s'\n", program, argv[i - 1], value.c_str());
                    return std::nullopt;
                }
                if (flag == "--port") s.port = static_cast<std::uint16_t>(n);
                else s.timeout = std::chrono::milliseconds(n);
            }
        } else {
            std::fprintf(stderr, "%s: unknown option or missing value: '%s'\n", program, argv[i]);
            usage(program);
            return std::nullopt;
        }
    }
    if (s.run == settings::mode::none) {
        usage(program);
        return std::nullopt;
    }
    return s;
}

std::string short_hex(netaio::bytes_view b, std::size_t n = 16) {
    const std::string h = netaio::to_hex(b.subspan(0, std::min(n, b.size())));
    return b.size() > n ? h + "..." : h;
}

/// The last `n` bytes in hex: the end of a sealed frame is ciphertext (its start is
/// the frame header and the signature's auth fields).
std::string tail_hex(netaio::bytes_view b, std::size_t n = 24) {
    const std::size_t k = std::min(n, b.size());
    return (b.size() > n ? "..." : "") + netaio::to_hex(b.subspan(b.size() - k, k));
}

/// Run `task` on `io` for at most `limit`; its int result, or 1 on an exception or timeout.
template <class Task>
int run_with_deadline(asio::io_context& io, Task task, std::chrono::milliseconds limit, const char* what) {
    int exit_code = -1;
    asio::co_spawn(io, std::move(task), [&io, &exit_code, what](std::exception_ptr e, int code) {
        exit_code = code;
        if (e) {
            exit_code = 1;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::fprintf(stderr, "netaio_chat %s: %s\n", what, ex.what());
            }
        }
        io.stop();
    });
    io.run_for(limit);
    if (exit_code < 0) {
        std::fprintf(stderr, "netaio_chat %s: did not finish within %lld ms\n", what, static_cast<long long>(limit.count()));
        return 1;
    }
    return exit_code;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Wait until `condition()` holds, checking every 2 ms; false after `limit`.
template <class Condition>
asio::awaitable<bool> wait_until(Condition condition, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= until) co_return false;
        co_await sleep_for(2ms);
    }
    co_return true;
}

// ==================================================================================== demo

/// One attack by the relay: `rejected` must go up by one at `victim`, nothing delivered.
asio::awaitable<bool> expect_refused(chat::client& victim, std::uint64_t delivered_before, std::uint64_t rejected_before,
                                     const char* what) {
    const bool refused = co_await wait_until([&] { return victim.rejected() > rejected_before; }, 2000ms);
    co_await sleep_for(20ms);  // anything delivered by mistake would have arrived by now too
    const bool ok = refused && victim.delivered() == delivered_before && victim.rejected() == rejected_before + 1;
    std::string reasons;
    for (const auto& [reason, n] : victim.rejections()) reasons += " [" + reason + ": " + std::to_string(n) + "]";
    std::printf("  %-34s -> %s %s (rejections so far:%s)\n", what, victim.name().c_str(), ok ? "refused it" : "FAILED",
                reasons.c_str());
    co_return ok;
}

asio::awaitable<int> run_demo(asio::io_context& io) {
    chat::relay_options ro;
    chat::relay relay(io.get_executor(), ro);
    std::vector<chat::relay_frame> seen;  // everything the relay forwarded, both directions
    relay.on_frame = [&seen](const chat::relay_frame& f) {
        if (f.dir == chat::relay_frame::direction::received)
            std::printf("  relay saw  %-5s -> %-5s sealed %zu bytes: %s\n", f.from.c_str(), f.to.c_str(), f.sealed.size(),
                        tail_hex(f.sealed).c_str());
        seen.push_back(f);
    };
    relay.start();
    std::printf("relay on 127.0.0.1:%u (holds no secret key)\n\n", static_cast<unsigned>(relay.port()));

    chat::client_options co;
    co.port = relay.port();
    co.timeout = 3000ms;
    co.name = "alice";
    chat::client alice(io.get_executor(), co);
    co.name = "bob";
    chat::client bob(io.get_executor(), co);
    co.name = "carol";
    chat::client carol(io.get_executor(), co);
    std::vector<chat::client*> clients{&alice, &bob, &carol};

    std::map<std::string, std::vector<chat::chat_message>> inbox;
    for (chat::client* c : clients) {
        c->on_message = [&inbox, c](const chat::chat_message& m) {
            std::printf("  %-5s decrypted from %-5s: \"%s\"\n", c->name().c_str(), m.from.c_str(), m.text.c_str());
            inbox[c->name()].push_back(m);
        };
    }

    std::printf("clients (keys made here, never sent to anyone but as public keys in peer data):\n");
    for (chat::client* c : clients) {
        co_await c->connect();
        std::printf("  %-5s pubkey %s  vk %s\n", c->name().c_str(), short_hex(c->public_key()).c_str(),
                    short_hex(c->verify_key()).c_str());
    }
    bool ok = true;
    for (chat::client* c : clients) {
        std::vector<std::string> others;
        for (chat::client* o : clients)
            if (o != c) others.push_back(o->name());
        const bool found = co_await c->wait_for_contacts(others, 3000ms);
        if (!found) std::printf("  %s did not learn every key in time\n", c->name().c_str());
        // On an honest relay the pinned keys are the real ones (first use).
        for (chat::client* o : clients) {
            auto it = c->contacts().find(o->name());
            if (o != c && (it == c->contacts().end() || !chat::contact_record(it->second, netaio::DefaultPeerPlugin()))) ok = false;
        }
        ok = ok && found;
    }
    std::printf("relay's peer list (\"_peers\"): %zu peers\n\n", relay.server().peers().size());

    std::printf("messages (every ordered pair):\n");
    std::map<std::string, std::vector<chat::chat_message>> expected;
    std::vector<std::string> plaintexts;
    for (chat::client* from : clients) {
        for (chat::client* to : clients) {
            if (from == to) continue;
            const std::string text = "hi " + to->name() + ", " + from->name() + " here: the key is under the mat #" +
                                     std::to_string(plaintexts.size() + 1);
            plaintexts.push_back(text);
            expected[to->name()].push_back(chat::chat_message{from->name(), text});
            std::printf("  %-5s sends to %-5s: \"%s\"\n", from->name().c_str(), to->name().c_str(), text.c_str());
            co_await from->send(to->name(), text);
        }
    }
    const std::size_t total = plaintexts.size();
    const bool all_arrived = co_await wait_until(
        [&] { return alice.delivered() + bob.delivered() + carol.delivered() >= total; }, 3000ms);
    for (chat::client* c : clients) {
        const auto& got = inbox[c->name()];
        const auto& want = expected[c->name()];
        const bool same = got.size() == want.size() &&
                          std::equal(got.begin(), got.end(), want.begin(), [](const auto& a, const auto& b) {
                              return a.from == b.from && a.text == b.text;
                          });
        ok = ok && same;
    }
    std::size_t leaks = 0;
    for (const chat::relay_frame& f : seen)
        for (const std::string& text : plaintexts)
            if (chat::contains(f.frame, netaio::as_bytes_view(text))) ++leaks;
    std::printf("\n%zu/%zu messages intact; relay handled %zu frames, plaintext found in %zu of them\n",
                static_cast<std::size_t>(alice.delivered() + bob.delivered() + carol.delivered()), total, seen.size(), leaks);
    ok = ok && all_arrived && leaks == 0;

    // The relay turns hostile. Each attack targets bob; each must be refused.
    std::printf("\nthe relay attacks (bob must refuse each):\n");
    netaio::DefaultPeerPlugin peer_plugin;
    std::optional<netaio::Message> recorded;  // an honest notification to bob, kept for the replay
    for (const chat::relay_frame& f : seen)
        if (f.dir == chat::relay_frame::direction::forwarded && f.to == "bob") recorded = netaio::Message::decode(f.frame);

    relay.tamper = [&peer_plugin](netaio::Message& m) { chat::flip_sealed_byte(m, peer_plugin); };
    std::uint64_t d = bob.delivered(), r = bob.rejected();
    co_await alice.send("bob", "pay carol 10 coins");
    const bool flip_refused = co_await expect_refused(bob, d, r, "flip a ciphertext byte (CRCs fixed)");

    const netaio::Peer carol_record = *relay.server().peers().by_id(netaio::to_bytes("carol"));
    relay.tamper = [&peer_plugin, carol_record](netaio::Message& m) { chat::relabel_sender(m, carol_record, peer_plugin); };
    d = bob.delivered();
    r = bob.rejected();
    co_await alice.send("bob", "this is alice, not carol");
    const bool relabel_refused = co_await expect_refused(bob, d, r, "re-label alice's message as carol's");
    relay.tamper = nullptr;

    d = bob.delivered();
    r = bob.rejected();
    bool replay_refused = false;
    if (recorded && relay.push("bob", *recorded)) replay_refused = co_await expect_refused(bob, d, r, "replay an earlier frame");
    ok = ok && flip_refused && relabel_refused && replay_refused;

    for (chat::client* c : clients) c->close();
    co_await relay.stop();
    std::printf("\n%s\n", ok ? "OK: every message arrived intact, the relay saw only ciphertext, every attack was refused"
                              : "FAILED");
    co_return ok ? 0 : 1;
}

// =================================================================================== relay

asio::awaitable<void> stop_relay_on_signal(asio::signal_set& signals, chat::relay& relay) {
    const int signal_number = co_await signals.async_wait(asio::use_awaitable);
    std::fprintf(stderr, "netaio_chat relay: signal %d, stopping\n", signal_number);
    co_await relay.stop();
}

int run_relay(const settings& s) {
    asio::io_context io;
    chat::relay_options ro;
    ro.host = s.host;
    ro.port = s.port;
    ro.log = netaio::stderr_logger(s.verbose ? netaio::log_level::info : netaio::log_level::warning);
    chat::relay relay(io.get_executor(), ro);
    relay.on_frame = [](const chat::relay_frame& f) {
        if (f.dir == chat::relay_frame::direction::received)
            std::printf("%s -> %s: %zu bytes sealed %s\n", f.from.c_str(), f.to.c_str(), f.sealed.size(),
                        tail_hex(f.sealed).c_str());
        std::fflush(stdout);
    };
    try {
        relay.start();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio_chat relay: cannot listen on %s:%u: %s\n", s.host.c_str(),
                     static_cast<unsigned>(s.port), e.what());
        return 1;
    }
    std::printf("READY %s %u\n", s.host.c_str(), static_cast<unsigned>(relay.port()));
    std::fflush(stdout);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::co_spawn(io, stop_relay_on_signal(signals, relay), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run();  // returns once the relay has stopped
    return 0;
}

// ================================================================================== client

/// Lines typed on stdin, handed from the reading thread to the io_context thread.
/// A blocking read() in a thread works for terminals, pipes and files alike.
struct line_feed {
    std::mutex mutex;
    std::deque<std::string> lines;
    bool eof = false;
    bool closed = false;                 // set once the io_context stops: no more posts
    asio::io_context* io = nullptr;
    asio::steady_timer* wake = nullptr;  // lives on the io thread; cancelled to wake the reader coroutine

    void push(std::optional<std::string> line) {
        std::lock_guard lock(mutex);
        if (closed) return;
        if (line) lines.push_back(std::move(*line));
        else eof = true;
        asio::post(*io, [timer = wake] { timer->cancel(); });
    }
};

void read_stdin(std::shared_ptr<line_feed> feed) {
    std::string pending;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(STDIN_FILENO, buffer, sizeof buffer);
        if (n <= 0) break;
        pending.append(buffer, static_cast<std::size_t>(n));
        for (std::size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
            feed->push(pending.substr(0, nl));
            pending.erase(0, nl + 1);
        }
    }
    if (!pending.empty()) feed->push(pending);
    feed->push(std::nullopt);
}

std::string trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

asio::awaitable<int> run_client_session(chat::client& c, std::shared_ptr<line_feed> feed, asio::steady_timer& wake) {
    c.on_message = [](const chat::chat_message& m) {
        std::printf("[%s] %s\n", m.from.c_str(), m.text.c_str());
        std::fflush(stdout);
    };
    co_await c.connect();
    const std::size_t contacts = co_await c.refresh_directory();
    std::printf("connected as %s (pubkey %s, vk %s); %zu other client(s) online\n", c.name().c_str(),
                short_hex(c.public_key()).c_str(), short_hex(c.verify_key()).c_str(), contacts);
    std::fflush(stdout);
    int failures = 0;
    for (;;) {
        std::optional<std::string> line;
        bool eof = false;
        {
            std::lock_guard lock(feed->mutex);
            if (!feed->lines.empty()) {
                line = std::move(feed->lines.front());
                feed->lines.pop_front();
            }
            eof = feed->eof;
        }
        if (!line) {
            if (eof) break;
            wake.expires_after(std::chrono::hours(24));
            co_await wake.async_wait(netaio::detail::use_nothrow);
            continue;
        }
        const std::string text = trimmed(*line);
        if (text.empty()) continue;
        if (text == "/quit") break;
        if (text == "/who") {
            const std::size_t n = co_await c.refresh_directory();
            std::printf("%zu contact(s):\n", n);
            for (const auto& [name, record] : c.contacts()) {
                const netaio::packify::value data = netaio::DefaultPeerPlugin().parse_data(record);
                const auto* d = data.get_if<netaio::packify::dict>();
                std::string keys;
                for (const char* key : {"pubkey", "vk"}) {
                    const auto* k = d ? d->find(netaio::packify::value(key)) : nullptr;
                    const auto* raw = k ? k->get_if<netaio::bytes>() : nullptr;
                    keys += std::string(" ") + key + " " + (raw ? netaio::to_hex(*raw) : "?");
                }
                std::printf("  %s:%s\n", name.c_str(), keys.c_str());
            }
            std::fflush(stdout);
            continue;
        }
        const std::size_t colon = text.find(':');
        if (colon == std::string::npos) {
            std::fprintf(stderr, "say \"NAME: text\", \"/who\" or \"/quit\"\n");
            continue;
        }
        const std::string to = trimmed(std::string_view(text).substr(0, colon));
        const std::string message = trimmed(std::string_view(text).substr(colon + 1));
        try {
            co_await c.send(to, message);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "not sent to %s: %s\n", to.c_str(), e.what());
            ++failures;
        }
    }
    c.close();
    co_return failures == 0 ? 0 : 1;
}

int run_client(const settings& s) {
    asio::io_context io;
    asio::steady_timer wake(io);
    auto feed = std::make_shared<line_feed>();
    feed->io = &io;
    feed->wake = &wake;

    chat::client_options co;
    co.name = s.name;
    co.host = s.host;
    co.port = s.port;
    co.timeout = s.timeout;
    co.log = netaio::stderr_logger(s.verbose ? netaio::log_level::info : netaio::log_level::warning);
    chat::client client(io.get_executor(), co);

    std::thread(read_stdin, feed).detach();  // blocks in read(); never joined, it may outlive main
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&io, &client](std::error_code ec, int) {
        if (ec) return;
        client.close();
        io.stop();
    });
    int exit_code = -1;
    asio::co_spawn(io, run_client_session(client, feed, wake), [&io, &exit_code](std::exception_ptr e, int code) {
        exit_code = code;
        if (e) {
            exit_code = 1;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                std::fprintf(stderr, "netaio_chat client: %s\n", ex.what());
            }
        }
        io.stop();
    });
    io.run();
    {
        std::lock_guard lock(feed->mutex);
        feed->closed = true;  // from here the reading thread posts nothing to `io`
    }
    return exit_code < 0 ? 0 : exit_code;  // < 0: stopped by a signal
}

}  // namespace

int main(int argc, char** argv) {
    const std::optional<settings> s = parse(argc, argv);
    if (!s) return 2;
    try {
        switch (s->run) {
            case settings::mode::demo: {
                asio::io_context io;
                return run_with_deadline(io, run_demo(io), 20s, "demo");
            }
            case settings::mode::relay: return run_relay(*s);
            case settings::mode::client: return run_client(*s);
            case settings::mode::none: break;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "netaio_chat: %s\n", e.what());
        return 1;
    }
    return 2;
}
