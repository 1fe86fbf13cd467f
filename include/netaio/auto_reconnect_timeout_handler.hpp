// netaio/auto_reconnect_timeout_handler.hpp - netaio's AutoReconnectTimeoutHandler
// (BEHAVIOUR B68): a TCP client timeout handler that reconnects to the server whose
// request timed out.
//
//     client.set_timeout_handler(netaio::auto_reconnect_timeout_handler(
//         {.connect_timeout = 2s, .max_retries = 3, .delay = 500ms},
//         [](netaio::TCPClient& c, const netaio::peer_address& server, std::size_t attempt) { ... }));
//
// It is a coroutine handler: it runs in the background and the request raises
// errc::timed_out at once (B67). Unlike options.reconnect, which reacts to a lost
// connection, it reacts to a silent one: a request that got no reply.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/logging.hpp>
#include <netaio/options.hpp>
#include <netaio/tcp_client.hpp>
#include <netaio/version.hpp>

#include <asio/cancellation_state.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Settings of auto_reconnect_timeout_handler; defaults as netaio's.
struct auto_reconnect_options {
    std::chrono::milliseconds connect_timeout = 5s;  ///< limit of each connect() attempt
    std::size_t max_retries = 3;                     ///< connect() attempts before giving up
    std::chrono::milliseconds delay = 1s;            ///< wait between failed attempts (not after the last)
};

/// On "request_timeout" only: up to max_retries connect() attempts to the request's
/// server (the client's default server when the event names none), each within
/// connect_timeout, `delay` apart. On success it calls on_reconnect(client, server,
/// attempt) (awaited when it returns asio::awaitable<void>) and stops. Every failure is
/// logged through the client's logger and never raised; after the last failed
/// attempt it logs an ERROR. Cancelled (cancel_timeout_handler_tasks(), close(),
/// close_all(), the client's destruction), it stops at its next wait; a connect()
/// aborted by close() or close_all() (errc::stopped) ends it too, and adopts nothing.
///
/// One reconnect per client and server at a time: requests that time out together
/// start one handler task each, and all but the first return at once while it runs
/// (the handler's copies, as kept by the client, share this).
template <message_type_enum E = MessageType>
class basic_auto_reconnect_timeout_handler {
public:
    using client_type = basic_tcp_client<E>;
    using reconnect_fn = std::function<asio::awaitable<void>(client_type&, peer_address, std::size_t)>;

    basic_auto_reconnect_timeout_handler() = default;
    explicit basic_auto_reconnect_timeout_handler(auto_reconnect_options options) : options_(options) {}
    /// `on_reconnect`: void(client_type&, const peer_address&, std::size_t) or the same
    /// returning asio::awaitable<void>.
    template <class F>
    basic_auto_reconnect_timeout_handler(auto_reconnect_options options, F on_reconnect)
        : options_(options), on_reconnect_(as_coroutine(std::move(on_reconnect))) {}

    const auto_reconnect_options& options() const noexcept { return options_; }

    /// The coroutine handler (not a coroutine itself: the work runs on copies, so this
    /// object may go away meanwhile).
    asio::awaitable<void> operator()(client_type& client, timeout_event event) const {
        return run(options_, on_reconnect_, busy_, client, std::move(event));
    }

private:
    /// The (client, server) pairs a task of this handler is reconnecting.
    using busy_set = std::set<std::pair<const void*, peer_address>>;
    /// Marks a pair busy for as long as the task runs.
    class busy_mark {
    public:
        busy_mark(busy_set& set, busy_set::iterator it) : set_(set), it_(it) {}
        busy_mark(const busy_mark&) = delete;
        busy_mark& operator=(const busy_mark&) = delete;
        ~busy_mark() { set_.erase(it_); }

    private:
        busy_set& set_;
        busy_set::iterator it_;
    };

    static asio::awaitable<void> done() { co_return; }

    template <class F>
    static reconnect_fn as_coroutine(F f) {
        if constexpr (std::is_same_v<std::invoke_result_t<F&, client_type&, peer_address, std::size_t>, asio::awaitable<void>>) {
            return reconnect_fn(std::move(f));
        } else {
            return [g = std::move(f)](client_type& c, peer_address server, std::size_t attempt) mutable {
                g(c, server, attempt);
                return done();
            };
        }
    }

    static bool cancelled(const asio::cancellation_state& state) { return state.cancelled() != asio::cancellation_type::none; }

    static asio::awaitable<void> run(auto_reconnect_options o, reconnect_fn on_reconnect, std::shared_ptr<busy_set> busy,
                                     client_type& client, timeout_event event) {
        if (event.timeout_type != "request_timeout") co_return;
        const peer_address server = event.server.host.empty() ? client.default_server() : event.server;
        const std::string where = server.host + ":" + std::to_string(server.port);
        // The client's shared state names the client (each task has its own handle).
        const auto [slot, first] = busy->emplace(client.impl_.get(), server);
        if (!first) {
            client.log(log_level::debug, "a reconnect to " + where + " after a request timeout is already under way");
            co_return;
        }
        const busy_mark marked(*busy, slot);
        const asio::cancellation_state state = co_await asio::this_coro::cancellation_state;
        for (std::size_t attempt = 1; attempt <= o.max_retries; ++attempt) {
            std::string failure;
            bool stopped = false;
            try {
                co_await client.connect(server.host, server.port, o.connect_timeout);
            } catch (const std::system_error& e) {
                failure = e.what();
                stopped = e.code() == errc::stopped;
            } catch (const std::exception& e) {
                failure = e.what();
            }
            if (cancelled(state)) co_return;
            if (stopped) {  // close() / close_all() aborted it: the application wants the server closed
                client.log(log_level::info, "reconnect to " + where + " after a request timeout abandoned: " + failure);
                co_return;
            }
            if (failure.empty()) {
                client.log(log_level::info, "reconnected to " + where + " after a request timeout (attempt " +
                                                std::to_string(attempt) + ")");
                if (!on_reconnect) co_return;
                try {
                    asio::awaitable<void> callback = on_reconnect(client, server, attempt);
                    co_await std::move(callback);
                } catch (const std::exception& e) {
                    client.log(log_level::error, std::string("on_reconnect failed: ") + e.what());
                }
                co_return;
            }
            client.log(log_level::warning, "reconnect attempt " + std::to_string(attempt) + "/" + std::to_string(o.max_retries) +
                                               " to " + where + " failed: " + failure);
            if (attempt < o.max_retries) {
                asio::steady_timer pause(co_await asio::this_coro::executor, o.delay);
                auto [ec] = co_await pause.async_wait(detail::use_nothrow);
                if (ec || cancelled(state)) co_return;
            }
        }
        client.log(log_level::error, "giving up reconnecting to " + where + " after " + std::to_string(o.max_retries) +
                                         " attempts");
    }

    auto_reconnect_options options_{};
    reconnect_fn on_reconnect_{};
    std::shared_ptr<busy_set> busy_ = std::make_shared<busy_set>();  // shared by the copies
};

using auto_reconnect_timeout_handler = basic_auto_reconnect_timeout_handler<MessageType>;

NETAIO_END_NAMESPACE
