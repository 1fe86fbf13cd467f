// netaio/tcp_client.hpp - TCPClient: connections to one or more servers, requests,
// handlers for what the servers push.
//
//     netaio::TCPClient client(io.get_executor(), {.port = port});
//     co_await client.connect();                                 // the default server
//     netaio::Message reply = co_await client.request("echo", "hi");  // uri, content[, request_options]
//
// Every connection has a reader from the moment it connects. A received message
// first completes the oldest pending request for its (server, uri) whose expected
// reply types include it (so many coroutines can request concurrently on one
// connection, FIFO per uri); otherwise it goes to the handlers; what remains
// (handler results, unhandled messages, auth-error results) is kept in a small
// per-connection inbox for receive_once(). The client never replies by itself
// (BEHAVIOUR B57), except PEER_DISCOVERED under peer management. When a connection
// closes, its pending requests fail at once with errc::connection_lost instead of
// waiting for their timeout; with options.reconnect enabled, a connection lost without
// close() is then re-established with jittered exponential backoff (not one the
// client closed itself for idle_timeout; detail/reconnect_rule.hpp).
//
// Writes: a request sent while no other request is in flight on its connection
// (request/response lockstep) is written at once. Everything else queued in one
// turn of the executor (pipelined requests, send() calls) leaves in one write
// once the handlers already scheduled have run.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/deadline_alarm.hpp>
#include <netaio/detail/node_api.hpp>
#include <netaio/detail/node_core.hpp>
#include <netaio/detail/peer_handlers.hpp>
#include <netaio/detail/read_after_poll.hpp>
#include <netaio/detail/reconnect_backoff.hpp>
#include <netaio/detail/reconnect_rule.hpp>
#include <netaio/detail/request_table.hpp>
#include <netaio/detail/request_timeout.hpp>
#include <netaio/detail/tcp_session.hpp>
#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/options.hpp>
#include <netaio/routing.hpp>
#include <netaio/stats.hpp>
#include <netaio/tcp_connection.hpp>
#include <netaio/version.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>
#include <asio/cancellation_state.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/this_coro.hpp>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

NETAIO_BEGIN_NAMESPACE

template <message_type_enum E>
class basic_auto_reconnect_timeout_handler;  // netaio/auto_reconnect_timeout_handler.hpp

namespace detail {

/// Tag of the client handle a timeout handler is given (it does not close the client).
struct borrowed_client_t {};

template <message_type_enum E>
class tcp_client_impl : public std::enable_shared_from_this<tcp_client_impl<E>> {
public:
    using core_type = node_core<E, peer_address>;
    using client_type = basic_tcp_client<E>;
    using timeout_handler_type = basic_tcp_timeout_handler<E>;

    tcp_client_impl(asio::any_io_executor ex, tcp_client_options options)
        : executor_(ex),
          options_(std::move(options)),
          default_key_{options_.host, options_.port},
          sweep_timer_(ex),
          request_alarm_(ex, [this](steady::time_point now) { return expire_requests(now); }),
          peers_{peer_table(options_.peers, options_.clock), {}},
          timeout_tasks_ended_(ex) {
        validate(options_.reconnect);
        on_timeout = handler_from_options(options_.timeout_error_handler);
        if (options_.local_peer) peers_.table.set_local_id(options_.local_peer->id);
        core.outer = {options_.auth_plugin, options_.cipher_plugin};
        core.use_auth = options_.use_auth;
        core.use_cipher = options_.use_cipher;
        core.on_auth_error = options_.on_auth_error;
        core.peer_plugin = options_.peer_plugin;
        core.log = options_.log;
        core.logger_name = options_.logger_name;
        core.describe(node_kind::tcp_client, options_.local_peer ? &*options_.local_peer : nullptr);
        core.on_reject = options_.on_reject;
    }

    core_type core;
    timeout_handler_type on_timeout;

    asio::any_io_executor executor() const { return executor_; }
    const tcp_client_options& options() const noexcept { return options_; }

    peer_address key_of(std::string host, std::uint16_t port) const {
        // Falsy host/port mean the defaults (BEHAVIOUR B49).
        return peer_address{host.empty() ? options_.host : std::move(host), port == 0 ? options_.port : port};
    }
    const peer_address& default_key() const noexcept { return default_key_; }

    // ---- connections -----------------------------------------------------------------

    /// connect(): open a connection to `key` within `timeout` (0: options.connect_timeout).
    static asio::awaitable<void> connect(std::shared_ptr<tcp_client_impl> self, peer_address key,
                                         std::chrono::milliseconds timeout) {
        if (self->shut_down_) throw error(errc::stopped, "the client was destroyed");
        const asio::cancellation_state caller = co_await asio::this_coro::cancellation_state;
        self->core.log.log(log_level::info, self->core.logger_name,
                           [&] { return "connecting to " + key.host + ":" + std::to_string(key.port); });
        const auto attempt = std::make_shared<connect_attempt>(self->executor_, key);
        co_await open(self, attempt, timeout.count() > 0 ? timeout : self->options_.connect_timeout);
        // The socket is connected, but the client may have been closed or destroyed, or
        // the caller's own coroutine (a timeout handler's task) cancelled, since the
        // connect completed: then nothing is adopted, so nothing keeps run() busy.
        if (self->shut_down_ || attempt->aborted)
            throw error(errc::stopped, "connect to " + key.host + ":" + std::to_string(key.port) + " abandoned");
        if (caller.cancelled() != asio::cancellation_type::none)
            throw std::system_error(make_error_code(asio::error::operation_aborted), "connect cancelled");
        self->adopt(key, std::move(attempt->socket));
        self->backoff_attempts_.erase(key);  // an explicit connect starts the reconnect backoff over
    }

    /// Take `socket`, just connected, as the connection to `key`: it replaces any
    /// earlier one and ends automatic reconnect attempts to `key`.
    void adopt(const peer_address& key, asio::ip::tcp::socket socket) {
        stop_reconnecting(key);
        if (auto old = connections_.find(key); old != connections_.end()) {
            if (auto st = states_.find(key); st != states_.end()) st->second->user_closed = true;
            old->second->close(errc::stopped);
        }
        auto s = std::make_shared<tcp_session>(std::move(socket), ++next_id_, options_.connection, core.types);
        auto state = std::make_shared<connection_state>(s, executor_);
        connections_[key] = s;
        states_[key] = state;  // replaces the state of an earlier connection to this key
        if (key == default_key_) default_state_ = state;
        s->write_stats = core.shared_stats;
        ++core.stats.connections_accepted;
        asio::co_spawn(executor_, read_loop(this->shared_from_this(), key, s, state), report("receive loop"));
        if (managing_) send_peer_message(MessageType::ADVERTISE_PEER, key);  // introduce ourselves (B50)
        if (!sweeping_) {
            sweeping_ = true;
            asio::co_spawn(executor_, sweep(this->shared_from_this()), report("sweep"));
        }
    }

    std::shared_ptr<tcp_session> session_for(const peer_address& key) const {
        auto it = connections_.find(key);
        return it == connections_.end() ? nullptr : it->second;
    }

    /// Close one connection (B69): with peer management on, a DISCONNECT goes first
    /// and the socket closes once it is written; the pending requests fail at once.
    /// Ends reconnect attempts, aborts connect()s in flight (they raise errc::stopped)
    /// and cancels the timeout-handler tasks for this server but `calling_task` (the
    /// task whose client handle calls, 0 for none). Throws errc::not_connected for a
    /// server never connected (netaio raises too).
    void close(const peer_address& key, std::uint64_t calling_task = 0) {
        const auto state = states_.find(key);
        if (state == states_.end() && !reconnecting_.contains(key) && !connecting_to(key))
            throw error(errc::not_connected, "close: never connected to " + key.host + ":" + std::to_string(key.port));
        stop_reconnecting(key);
        abort_connects(&key);
        backoff_attempts_.erase(key);
        cancel_timeout_tasks(&key, calling_task);
        if (state == states_.end()) return;
        state->second->user_closed = true;
        auto s = state->second->session;
        if (!s->is_open()) return;
        if (managing_) send_peer_message(MessageType::DISCONNECT, key);
        s->close_when_flushed(errc::stopped);
        state->second->requests.fail_all(errc::connection_lost);  // not once the DISCONNECT is out
    }
    /// Close everything; connect()s in flight raise errc::stopped; every timeout-handler
    /// task but `calling_task` is cancelled.
    void close_all(std::uint64_t calling_task = 0) {
        for (auto& [key, state] : states_) state->user_closed = true;
        for (auto& [key, s] : connections_) s->close(errc::stopped);
        for (auto& [key, r] : reconnecting_) r->cancel();
        reconnecting_.clear();
        abort_connects(nullptr);
        backoff_attempts_.clear();
        cancel_timeout_tasks(nullptr, calling_task);
        sweep_timer_.cancel();
        request_alarm_.disarm();
    }
    /// The owning client object is gone: close everything, refuse new connections.
    void shut_down() {
        shut_down_ = true;
        close_all();
    }

    /// Requests waiting for their reply on the connection to `key`.
    std::size_t pending_requests(const peer_address& key) const {
        const auto& state = state_for(key);
        return state ? state->requests.size() : 0;
    }
    /// Whether automatic reconnect attempts to `key` are under way.
    bool reconnecting(const peer_address& key) const { return reconnecting_.contains(key); }

    // ---- timeout handler tasks (BEHAVIOUR B67) --------------------------------------------

    std::size_t timeout_handler_tasks() const noexcept { return timeout_tasks_.size(); }

    /// Cancel the coroutine timeout handlers still running but `calling_task` (a task
    /// waiting for its own end would wait forever) and wait until they end.
    static asio::awaitable<std::size_t> cancel_timeout_handler_tasks(std::shared_ptr<tcp_client_impl> self,
                                                                     std::uint64_t calling_task) {
        const auto others = [&] {
            return static_cast<std::size_t>(std::count_if(self->timeout_tasks_.begin(), self->timeout_tasks_.end(),
                                                          [&](const timeout_task& t) { return t.id != calling_task; }));
        };
        const std::size_t n = others();
        self->cancel_timeout_tasks(nullptr, calling_task);
        while (others() > 0) co_await self->timeout_tasks_ended_.wait();
        co_return n;
    }

    // ---- peer management (BEHAVIOUR B69-B74) ---------------------------------------------

    peer_registry& peers() noexcept { return peers_; }

    void manage_peers(const peer_management_options& pm) {
        if (!options_.local_peer || !options_.local_peer->id)
            throw error(errc::bad_option, "peer management needs a local peer with an id");
        const bytes app_id = to_bytes(pm.app_id);
        std::weak_ptr<tcp_client_impl> weak = this->shared_from_this();
        core.routes.add(route_key(MessageType::ADVERTISE_PEER, app_id),
                        make_handler_entry<peer_address>(
                            [weak](const Message& m, const peer_address& server) {
                                // Unlike netaio's client (B72), the PEER_DISCOVERED reply is sent.
                                auto self = weak.lock();
                                if (self && self->peers_.record(self->core, m, server))
                                    self->send_peer_message(MessageType::PEER_DISCOVERED, server);
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::PEER_DISCOVERED, app_id),
                        make_handler_entry<peer_address>(
                            [weak](const Message& m, const peer_address& server) {
                                if (auto self = weak.lock()) self->peers_.record(self->core, m, server);
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::DISCONNECT, app_id),
                        make_handler_entry<peer_address>(
                            [weak](const Message& m, const peer_address& server) {
                                if (auto self = weak.lock()) self->peers_.forget(self->core, m, server);
                            },
                            pm.plugins));
        managing_ = pm;
        for (const auto& key : servers()) send_peer_message(MessageType::ADVERTISE_PEER, key);  // B71, B74
    }

    void stop_peer_management(const std::string& app_id) {
        const bytes id = to_bytes(app_id);
        core.routes.remove(route_key(MessageType::ADVERTISE_PEER, id));
        core.routes.remove(route_key(MessageType::PEER_DISCOVERED, id));
        core.routes.remove(route_key(MessageType::DISCONNECT, id));
        if (managing_ && managing_->app_id == app_id) {
            for (const auto& key : servers()) send_peer_message(MessageType::DISCONNECT, key);  // B73
            managing_.reset();
        }
    }

    /// A fresh peer message for `server` (netaio replays one prepared copy; here each
    /// gets its own nonce and timestamp).
    void send_peer_message(MessageType type, const peer_address& server) {
        if (!managing_) return;
        try {
            send(make_peer_message(type, managing_->app_id, *options_.local_peer, core.peer_plugin), server,
                 send_options{true, true, managing_->plugins});
        } catch (const error& e) {
            core.log.log(log_level::warning, core.logger_name, [&] { return std::string("peer message not sent: ") + e.what(); });
        }
    }

    std::vector<peer_address> servers() const {
        std::vector<peer_address> out;
        for (const auto& [key, s] : connections_)
            if (s->is_open()) out.push_back(key);
        return out;
    }

    // ---- sending ---------------------------------------------------------------------

    bool send(const Message& m, const peer_address& key, const send_options& opts) {
        auto s = session_for(key);
        if (!s || !s->is_open()) throw not_connected(key);
        return send_on<const Message&>(*s, m, key, opts);
    }

    /// Queue `m` on `s`, the open connection to `key`: framed from a copy when `M` is
    /// const, else sealed in place (the plugins change its fields and body).
    template <class M>
    bool send_on(tcp_session& s, M m, const peer_address& key, const send_options& opts,
                 tcp_session::write_timing timing = tcp_session::write_timing::end_of_turn) {
        const handler_plugins outer = core.outer_layer(opts.use_auth, opts.use_cipher);
        const plugin_context ctx = core.context_for(peers_.table.by_address(key));
        bytes frame = s.take_buffer();
        bool framed = false;
        if constexpr (std::is_const_v<std::remove_reference_t<M>>) {
            framed = core.frame_into(frame, m, &opts.plugins, outer, ctx, key);
        } else {
            framed = core.seal_in_place_into(frame, m, &opts.plugins, outer, ctx, key);
        }
        if (!framed) {
            s.recycle(std::move(frame));
            return false;
        }
        if (s.enqueue(std::move(frame), /*force=*/false, timing)) return true;
        core.reject(errc::queue_full, key);
        return false;
    }

    // ---- requests ----------------------------------------------------------------------

    static asio::awaitable<Message> request(std::shared_ptr<tcp_client_impl> self, MessageType type, bytes uri,
                                            bytes content, request_options opts) {
        Message reply(Header{type, 0, 0, 0}, AuthFields(), Body(std::move(uri), std::move(content)));
        co_await request_into(std::move(self), reply, type, std::move(opts));
        co_return reply;
    }

    /// Send `reply` itself as the request (its body holds uri and content), then
    /// wait for the reply to come back into it. The plugins seal `reply` in place,
    /// and its buffers travel: a copy of the plaintext uri into the pending-request
    /// table, the content and auth fields to the reader (in exchange for the reply's).
    static asio::awaitable<void> request_into(std::shared_ptr<tcp_client_impl> self, Message& reply, MessageType type,
                                              request_options opts) {
        // References: `opts` lives in this frame, the default key as long as `self`.
        const peer_address& key = opts.server() ? *opts.server() : self->default_key();
        // A shared_ptr, since the connection (and its state) may end while we wait.
        const std::shared_ptr<connection_state> state = self->state_for(key);
        if (!state || !state->session->is_open()) throw self->not_connected(key);
        tcp_session& s = *state->session;
        if (state->requests.size() >= self->options_.max_pending_requests) {
            self->core.reject(errc::too_many_pending, key);
            throw error(errc::too_many_pending);
        }
        // Checked before the plugins seal anything: a full queue is not a plugin failure.
        if (!s.queue_has_room()) {
            self->core.reject(errc::queue_full, key);
            throw error(errc::queue_full, "outbound queue to " + key.host + ":" + std::to_string(key.port) + " is full");
        }
        const auto timeout = opts.timeout().count() > 0 ? opts.timeout() : self->options_.request_timeout;
        if (reply.body.uri.size() + reply.body.content.size() > max_body_payload())
            throw error(errc::content_too_long);
        const waiter_lease waiter(self->waiters_, self->waiters_.acquire(type, opts.plugins()));

        send_options send_opts{opts.use_auth(), opts.use_cipher(), opts.plugins()};
        reply.header = Header{type, 0, 0, 0};
        reply.auth_data.clear();
        // The plugins seal `reply` itself (a cipher may encrypt the uri), so the
        // plaintext uri, which replies are matched by, is kept first: in a buffer
        // this waiter recycles.
        bytes uri = std::move(waiter->spare_uri);
        uri.assign(reply.body.uri.begin(), reply.body.uri.end());
        // With no other request in flight on this connection, nothing is likely to
        // join this one in the current turn (request/response lockstep): it is written
        // at once instead of a turn later, which spares every such request a hop
        // (64 connections, 32 B: about 3 % more round trips). Pipelined requests
        // still gather into one write per turn.
        const auto timing = state->requests.size() == 0 ? tcp_session::write_timing::now
                                                        : tcp_session::write_timing::end_of_turn;
        const bool sent = self->template send_on<Message&>(s, reply, key, send_opts, timing);
        // What was sent is done with: its buffers wait in the waiter for the reader,
        // which trades them for the reply's (so neither side allocates).
        waiter->spare_uri = std::move(reply.body.uri);
        waiter->spare_content = std::move(reply.body.content);
        swap(waiter->spare_auth, reply.auth_data);
        reply.auth_data.clear();
        if (!sent) throw error(errc::encrypt_failed, "request could not be prepared (a plugin failed)");
        // Registered after the send: a reply is only read once this coroutine
        // suspends, and the table may keep the uri without copying it.
        state->requests.add(std::move(uri), waiter.get());

        // Parked until the reader resumes us with the reply, the connection fails,
        // the client's deadline alarm times us out, or the wait is cancelled.
        waiter->deadline = deadline_alarm::deadline_after(timeout);
        self->request_alarm_.ring_by(waiter->deadline);
        auto [wait_ec] = co_await waiter->park(use_nothrow);
        if (waiter->reply) {
            reply = std::move(*waiter->reply);
            co_return;
        }
        if (waiter->failure) throw error(waiter->failure);
        uri = state->requests.remove(waiter.get()).value_or(bytes());
        if (wait_ec == asio::error::operation_aborted) throw_request_cancelled();
        // Timed out: tell the timeout handler, raise (BEHAVIOUR B64). Out of line, so
        // that none of it sits in every request's coroutine frame.
        throw on_request_timeout(self, key, uri, timeout, type);
    }

    /// A request timed out: count it, run or start the timeout handler (B64, B67) and
    /// return the error to raise.
    static error on_request_timeout(const std::shared_ptr<tcp_client_impl>& self, const peer_address& key, const bytes& uri,
                                    std::chrono::milliseconds timeout, MessageType type) {
        self->core.stats.add(errc::timed_out);
        std::string text = request_timeout_text(uri, timeout);
        if (self->on_timeout) {
            timeout_event event = make_request_timeout_event(key, uri, timeout, type, text);
            // A copy: a handler may replace itself (set_timeout_handler) while it runs.
            const timeout_handler_type handler = self->on_timeout;
            try {
                std::visit(
                    [&](const auto& fn) {
                        using F = std::decay_t<decltype(fn)>;
                        if constexpr (std::is_same_v<F, typename timeout_handler_type::plain_fn>) {
                            fn(event);
                        } else if constexpr (std::is_same_v<F, typename timeout_handler_type::client_fn>) {
                            client_type client(borrowed_client_t{}, self, 0);
                            fn(client, event);
                        } else if constexpr (std::is_same_v<F, typename timeout_handler_type::coroutine_fn>) {
                            self->start_timeout_task(fn, std::move(event));
                        }
                    },
                    handler.target());
            } catch (const std::exception& e) {
                self->core.log.log(log_level::error, self->core.logger_name,
                                   [&] { return std::string("timeout handler threw: ") + e.what(); });
            }
        }
        return error(errc::timed_out, text);
    }

    /// The error of a request or send to a server without an open connection.
    error not_connected(const peer_address& key) const {
        std::string what = "no connection to " + key.host + ":" + std::to_string(key.port);
        if (reconnecting_.contains(key)) what += " (reconnecting)";
        return error(errc::not_connected, what);
    }

    static asio::awaitable<std::optional<Message>> receive_once(std::shared_ptr<tcp_client_impl> self, peer_address key,
                                                                std::chrono::milliseconds timeout) {
        auto found = self->states_.find(key);
        if (found == self->states_.end())
            throw error(errc::not_connected, "no connection to " + key.host + ":" + std::to_string(key.port));
        auto state = found->second;  // messages received before a close stay readable
        if (state->inbox.empty() && state->session->is_open()) {
            auto waiter = std::make_shared<inbox_waiter>(self->executor_);
            state->inbox_waiters.push_back(waiter);
            waiter->timer.expires_after(timeout.count() > 0 ? timeout : std::chrono::hours(24 * 365));
            co_await waiter->timer.async_wait(use_nothrow);
            std::erase(state->inbox_waiters, waiter);
            if (waiter->delivered) co_return std::move(waiter->message);
            if (!state->session->is_open()) throw error(errc::connection_lost);
            throw error(errc::timed_out, "receive_once timed out");
        }
        if (state->inbox.empty()) throw error(errc::connection_lost);
        std::optional<Message> m = std::move(state->inbox.front());
        state->inbox.pop_front();
        co_return m;
    }

private:
    struct inbox_waiter {
        explicit inbox_waiter(const asio::any_io_executor& ex) : timer(ex) {}
        asio::steady_timer timer;
        bool delivered = false;
        std::optional<Message> message;
    };
    /// Requests and receive_once() state of one connection.
    struct connection_state {
        connection_state(std::shared_ptr<tcp_session> s, const asio::any_io_executor&) : session(std::move(s)) {}
        std::shared_ptr<tcp_session> session;
        steady::time_point opened_at = steady::now();  // a connection lasting reconnect.stable_after proved itself
        bool user_closed = false;       // closed by close() / close_all() / a new connect(): no reconnect
        request_table<bytes> requests;  // keyed by uri: one table per connection
        std::deque<std::optional<Message>> inbox;
        std::vector<std::shared_ptr<inbox_waiter>> inbox_waiters;

        void deliver(std::optional<Message> m, std::size_t inbox_capacity, node_stats& stats) {
            if (!inbox_waiters.empty()) {
                auto w = inbox_waiters.front();
                inbox_waiters.erase(inbox_waiters.begin());
                w->delivered = true;
                w->message = std::move(m);
                w->timer.cancel();
                return;
            }
            if (inbox.size() >= inbox_capacity) {
                inbox.pop_front();  // keep the newest
                stats.add(errc::queue_full);
            }
            inbox.push_back(std::move(m));
        }
        void fail_all(errc reason) {
            requests.fail_all(reason);
            for (auto& w : inbox_waiters) w->timer.cancel();
        }
    };

    /// The requests and inbox of the latest connection to `key` (nullptr: never connected).
    const std::shared_ptr<connection_state>& state_for(const peer_address& key) const {
        static const std::shared_ptr<connection_state> none;
        if (&key == &default_key_) return default_state_;  // most requests: no map lookup
        const auto found = states_.find(key);
        return found == states_.end() ? none : found->second;
    }

    detail::report_exceptions report(const char* what) { return core.reporter(this->weak_from_this(), what); }

    static asio::awaitable<void> read_loop(std::shared_ptr<tcp_client_impl> self, peer_address key,
                                           std::shared_ptr<tcp_session> s, std::shared_ptr<connection_state> state) {
        const abandon_on_shutdown<bytes> parked_requests(state->requests);
        Message incoming;  // every frame is decoded into this one, reusing its buffers
        try {
            while (s->is_open()) {
                auto space = s->read_space();
                // Re-armed after the next reactor poll (read_after_poll.hpp). The server's
                // reader re-arms at once: deferring it too measured no gain (README, Benchmarks).
                auto [ec, n] = co_await async_read_some_after_poll(s->socket(), asio::buffer(space.data(), space.size()), use_nothrow);
                if (ec || n == 0) {
                    if (s->is_open()) {
                        const bool mid = s->decoder().mid_frame();
                        const errc reason = !mid                                   ? errc::connection_lost
                                            : ec == asio::error::connection_reset ? errc::connection_reset
                                                                                  : errc::eof_mid_frame;
                        if (mid) self->core.reject(reason, key);
                        s->close(reason);
                    }
                    break;
                }
                s->decoder().commit(n);
                self->core.stats.bytes_received += n;
                std::size_t completed = 0;
                for (;;) {
                    std::error_code dec_ec;
                    if (s->decoder().next_into(incoming, dec_ec)) {
                        ++completed;
                        ++self->core.stats.frames_received;
                        const typename core_type::entry_ptr coroutine_handler = self->handle_frame(key, *state, incoming);
                        if (coroutine_handler) co_await self->run_coroutine_handler(key, *state, incoming, coroutine_handler);
                        continue;
                    }
                    if (!dec_ec) break;
                    if (dec_ec == errc::checksum_mismatch) {  // discarded, nothing sent back (BEHAVIOUR B53)
                        ++completed;
                        self->core.reject(errc::checksum_mismatch, key);
                        continue;
                    }
                    self->core.reject(static_cast<errc>(dec_ec.value()), key);
                    s->close(static_cast<errc>(dec_ec.value()));
                    break;
                }
                s->note_read(completed);
            }
        } catch (...) {
            s->close(errc::connection_lost);
            self->finish(key, s, *state);
            throw;
        }
        self->finish(key, s, *state);
    }

    void finish(const peer_address& key, const std::shared_ptr<tcp_session>& s, connection_state& state) {
        state.fail_all(errc::connection_lost);  // the state itself stays for receive_once()
        if (auto gone = peers_.table.unbind(key)) peers_.emit(peer_event_kind::removed, *gone, key);
        bool current = false;  // still the connection to `key` (not replaced by a new connect())
        if (auto it = connections_.find(key); it != connections_.end() && it->second == s) {
            connections_.erase(it);
            current = true;
        }
        if (connections_.empty()) {  // no request can be pending, no deadline is watched
            request_alarm_.disarm();
            sweep_timer_.cancel();
        }
        ++core.stats.connections_closed;
        core.log.log(log_level::info, core.logger_name, [&] {
            return "connection to " + key.host + ":" + std::to_string(key.port) + " closed (" +
                   make_error_code(s->close_reason()).message() + ")";
        });
        if (current && !state.user_closed && !shut_down_ && options_.reconnect.enabled)
            after_lost(key, s->close_reason(), state.opened_at);
    }

    /// A connection to `key` was lost (not closed by the application): reconnect or
    /// not, and whether the backoff starts over, by why it closed (reconnect_rule.hpp).
    void after_lost(const peer_address& key, errc reason, steady::time_point opened_at) {
        switch (reconnect_rule(reason)) {
            case after_loss::stay_closed:
                backoff_attempts_.erase(key);
                core.log.log(log_level::info, core.logger_name, [&] {
                    return "not reconnecting to " + key.host + ":" + std::to_string(key.port) +
                           ": the client closed the connection itself (" + make_error_code(reason).message() + ")";
                });
                return;
            case after_loss::reconnect:
                if (steady::now() - opened_at >= options_.reconnect.stable_after) backoff_attempts_.erase(key);
                break;
            case after_loss::reconnect_unproven: break;
        }
        start_reconnecting(key);
    }

    // ---- automatic reconnect (RELIABILITY E10, L8) ------------------------------------------

    /// One resolve + connect, abortable from outside: close(key), close_all() and
    /// shut_down() abort every attempt in flight (connecting_), user ones included.
    struct connect_attempt {
        connect_attempt(const asio::any_io_executor& ex, peer_address server)
            : key(std::move(server)), resolver(ex), socket(ex), deadline(ex) {}
        peer_address key;
        asio::ip::tcp::resolver resolver;
        asio::ip::tcp::socket socket;
        asio::steady_timer deadline;
        bool timed_out = false;
        bool aborted = false;
        void abort() {
            aborted = true;
            resolver.cancel();
            deadline.cancel();
            std::error_code ignored;
            socket.close(ignored);
        }
    };

    /// Keeps an attempt in connecting_ while it runs.
    class connect_registration {
    public:
        connect_registration(std::list<std::shared_ptr<connect_attempt>>& list, std::shared_ptr<connect_attempt> a)
            : list_(list), it_(list.insert(list.end(), std::move(a))) {}
        connect_registration(const connect_registration&) = delete;
        connect_registration& operator=(const connect_registration&) = delete;
        ~connect_registration() { list_.erase(it_); }

    private:
        std::list<std::shared_ptr<connect_attempt>>& list_;
        typename std::list<std::shared_ptr<connect_attempt>>::iterator it_;
    };

    bool connecting_to(const peer_address& key) const {
        return std::any_of(connecting_.begin(), connecting_.end(), [&](const auto& a) { return a->key == key; });
    }
    /// Abort the attempts in flight to `key` (all when null).
    void abort_connects(const peer_address* key) {
        for (const auto& a : connecting_)
            if (!key || a->key == *key) a->abort();
    }

    /// Resolve `a->key` and connect `a->socket` to it within `timeout`, registered in
    /// connecting_ meanwhile. Throws std::system_error (resolve, refused, unreachable),
    /// errc::timed_out, or errc::stopped when aborted.
    static asio::awaitable<void> open(std::shared_ptr<tcp_client_impl> self, std::shared_ptr<connect_attempt> a,
                                      std::chrono::milliseconds timeout) {
        const connect_registration registered(self->connecting_, a);
        const peer_address& key = a->key;
        const std::string where = key.host + ":" + std::to_string(key.port);
        auto [rec, endpoints] = co_await a->resolver.async_resolve(key.host, std::to_string(key.port), use_nothrow);
        if (a->aborted) throw error(errc::stopped, "connect to " + where + " abandoned");
        if (rec) throw std::system_error(rec, "resolve " + key.host);
        // The connect races the deadline; whichever finishes first cancels the other.
        const bool with_deadline = timeout.count() > 0;
        if (with_deadline) {
            a->deadline.expires_after(timeout);
            a->deadline.async_wait([weak = std::weak_ptr<connect_attempt>(a)](std::error_code ec) {
                auto alive = weak.lock();
                if (ec || !alive) return;
                alive->timed_out = true;
                std::error_code ignored;
                alive->socket.close(ignored);
            });
        }
        auto [cec, endpoint] = co_await asio::async_connect(a->socket, endpoints, use_nothrow);
        (void)endpoint;
        if (with_deadline) a->deadline.cancel();
        if (a->aborted) throw error(errc::stopped, "connect to " + where + " abandoned");
        if (a->timed_out) throw error(errc::timed_out, "connect to " + where);
        if (cec) throw std::system_error(cec, "connect to " + where);
    }

    /// The automatic attempts to one server; cancel() ends them at once.
    struct reconnector {
        explicit reconnector(const asio::any_io_executor& ex) : timer(ex) {}
        asio::steady_timer timer;                   // the backoff wait
        std::shared_ptr<connect_attempt> attempt;   // the attempt in progress, if any
        bool cancelled = false;
        void cancel() {
            cancelled = true;
            timer.cancel();
            if (attempt) attempt->abort();
        }
    };

    void start_reconnecting(const peer_address& key) {
        stop_reconnecting(key);
        auto r = std::make_shared<reconnector>(executor_);
        reconnecting_[key] = r;
        asio::co_spawn(executor_, reconnect_loop(this->shared_from_this(), key, r), report("reconnect"));
    }
    void stop_reconnecting(const peer_address& key) {
        if (auto it = reconnecting_.find(key); it != reconnecting_.end()) {
            it->second->cancel();
            reconnecting_.erase(it);
        }
    }

    void emit_reconnect(reconnect_event_kind kind, const peer_address& key, std::size_t attempt,
                        std::chrono::milliseconds delay, std::error_code ec) {
        if (!options_.reconnect.on_event) return;
        try {
            options_.reconnect.on_event(reconnect_event{kind, key, attempt, delay, ec});
        } catch (const std::exception& e) {
            core.log.log(log_level::error, core.logger_name, [&] { return std::string("reconnect callback threw: ") + e.what(); });
        }
    }

    /// Wait, try, repeat with growing jittered delays until connected, cancelled or
    /// out of attempts. Holds the client only while it runs: close(), close_all() and
    /// the client's destructor cancel it. The attempt count goes on from where the
    /// previous losses left it (backoff_attempts_): only a connection that proved
    /// itself (after_lost) or a connect() starts it over.
    static asio::awaitable<void> reconnect_loop(std::shared_ptr<tcp_client_impl> self, peer_address key,
                                                std::shared_ptr<reconnector> r) {
        const reconnect_options& o = self->options_.reconnect;
        const std::string where = key.host + ":" + std::to_string(key.port);
        std::size_t attempt = 0;
        if (const auto it = self->backoff_attempts_.find(key); it != self->backoff_attempts_.end()) attempt = it->second;
        while (!r->cancelled) {
            if (o.max_attempts != 0 && attempt >= o.max_attempts) {
                self->core.log.log(log_level::error, self->core.logger_name, [&] {
                    return "giving up reconnecting to " + where + " after " + std::to_string(attempt) + " attempts";
                });
                self->backoff_attempts_.erase(key);
                self->emit_reconnect(reconnect_event_kind::gave_up, key, attempt, std::chrono::milliseconds(0), {});
                break;
            }
            ++attempt;
            self->backoff_attempts_[key] = attempt;
            const auto delay = backoff_delay(o, attempt);
            self->emit_reconnect(reconnect_event_kind::scheduled, key, attempt, delay, {});
            if (r->cancelled) break;
            r->timer.expires_after(timer_safe(delay));
            auto [wait_ec] = co_await r->timer.async_wait(use_nothrow);
            (void)wait_ec;  // cancel() sets r->cancelled
            if (r->cancelled) break;
            r->attempt = std::make_shared<connect_attempt>(self->executor_, key);
            std::error_code failure;
            try {
                co_await open(self, r->attempt, self->options_.connect_timeout);
            } catch (const std::system_error& e) {
                failure = e.code();
            }
            const std::shared_ptr<connect_attempt> a = std::move(r->attempt);
            r->attempt.reset();
            if (r->cancelled || a->aborted || self->shut_down_) break;
            if (!failure) {
                self->reconnecting_.erase(key);  // r is the registered one: it was not cancelled
                try {
                    self->adopt(key, std::move(a->socket));
                } catch (const std::exception& e) {
                    // Never silently: logged, reported as a failed attempt, and the attempts go on.
                    const auto* se = dynamic_cast<const std::system_error*>(&e);
                    failure = se ? se->code() : make_error_code(errc::connection_lost);
                    self->core.log.log(log_level::error, self->core.logger_name, [&] {
                        return "reconnected to " + where + " but could not set the connection up: " + e.what();
                    });
                    self->reconnecting_[key] = r;
                    self->emit_reconnect(reconnect_event_kind::failed, key, attempt, delay, failure);
                    continue;
                }
                ++self->core.stats.reconnects;
                self->core.log.log(log_level::info, self->core.logger_name,
                                   [&] { return "reconnected to " + where + " (attempt " + std::to_string(attempt) + ")"; });
                self->emit_reconnect(reconnect_event_kind::reconnected, key, attempt, delay, {});
                co_return;
            }
            self->core.log.log(log_level::warning, self->core.logger_name, [&] {
                return "reconnect attempt " + std::to_string(attempt) + " to " + where + " failed: " + failure.message();
            });
            self->emit_reconnect(reconnect_event_kind::failed, key, attempt, delay, failure);
        }
        if (auto it = self->reconnecting_.find(key); it != self->reconnecting_.end() && it->second == r)
            self->reconnecting_.erase(it);
    }

    // ---- timeout handler tasks -------------------------------------------------------------

    struct timeout_task {
        std::uint64_t id = 0;  // the client handle the task is given carries it (see close())
        peer_address server;
        asio::cancellation_signal cancel;
    };

    /// Start a coroutine timeout handler in the background (B67: the request raises at once).
    void start_timeout_task(typename timeout_handler_type::coroutine_fn fn, timeout_event event) {
        const auto task = timeout_tasks_.emplace(timeout_tasks_.end());
        task->id = ++next_task_id_;
        task->server = event.server;
        auto self = this->shared_from_this();
        asio::co_spawn(executor_, run_timeout_task(self, std::move(fn), std::move(event), task->id),
                       asio::bind_cancellation_slot(task->cancel.slot(), [self, task](std::exception_ptr e) {
                           self->timeout_task_ended(task, e);
                       }));
    }

    /// The task's own client handle keeps the client's state alive while it runs, and
    /// names the task, so that its close() / close_all() do not cancel the task itself.
    static asio::awaitable<void> run_timeout_task(std::shared_ptr<tcp_client_impl> self,
                                                  typename timeout_handler_type::coroutine_fn fn, timeout_event event,
                                                  std::uint64_t task_id) {
        const asio::any_io_executor ex = self->executor_;
        client_type client(borrowed_client_t{}, std::move(self), task_id);
        // co_spawn may start us inline: the request raises first, the handler runs a turn later (B67).
        co_await asio::post(ex, asio::use_awaitable);
        asio::awaitable<void> handler = fn(client, std::move(event));
        co_await std::move(handler);
    }

    void timeout_task_ended(typename std::list<timeout_task>::iterator task, std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::system_error& ex) {
                const bool cancelled = ex.code() == asio::error::operation_aborted;
                core.log.log(cancelled ? log_level::info : log_level::error, core.logger_name,
                             [&] { return std::string(cancelled ? "timeout handler cancelled: " : "timeout handler failed: ") + ex.what(); });
            } catch (const std::exception& ex) {
                core.log.log(log_level::error, core.logger_name, [&] { return std::string("timeout handler failed: ") + ex.what(); });
            } catch (...) {
                core.log.log(log_level::error, core.logger_name, [] { return std::string("timeout handler failed"); });
            }
        }
        // Erased a turn later: co_spawn may call us while its frames, which hold the
        // cancellation state living in this task's signal, still unwind.
        asio::post(executor_, [self = this->shared_from_this(), task] {
            self->timeout_tasks_.erase(task);
            self->timeout_tasks_ended_.notify_all();
        });
    }

    /// Ask the tasks for `server` (all when null) but `except` to stop; they end on
    /// their next wait. The task that calls is spared: cancelling it would make its own
    /// next co_await (say, connect() after close()) throw.
    void cancel_timeout_tasks(const peer_address* server, std::uint64_t except) {
        for (auto& task : timeout_tasks_)
            if (task.id != except && (!server || task.server == *server)) task.cancel.emit(asio::cancellation_type::terminal);
    }

    /// set_timeout_handler's form of options.timeout_error_handler (which names TCPClient).
    static timeout_handler_type handler_from_options(const tcp_timeout_handler& h) {
        if constexpr (std::is_same_v<E, MessageType>) {
            return h;
        } else {
            if (!h) return {};
            if (const auto* plain = std::get_if<tcp_timeout_handler::plain_fn>(&h.target())) return *plain;
            throw error(errc::bad_option, "timeout_error_handler: this client takes the plain form only here; "
                                          "use set_timeout_handler() for the others");
        }
    }

    /// Handle one decoded frame. `m` is the read loop's recycled message: whatever is
    /// kept (a reply, an inbox entry) is moved out of it. Everything but a coroutine
    /// handler happens here, without a coroutine; a coroutine handler is returned for
    /// the read loop to await (run_coroutine_handler).
    typename core_type::entry_ptr handle_frame(const peer_address& key, connection_state& state, Message& m) {
        const plugin_context ctx = core.context_for(peers_.table.by_address(key));
        typename core_type::opened result;
        if (core.open_counted(m, core.outer_layer(), ctx, key, result)) {
            if (result.auth_reply) state.deliver(std::move(result.auth_reply), inbox_capacity, core.stats);
            return nullptr;
        }
        // A pending request for this (server, uri) takes precedence (its keys are the
        // most specific ones, BEHAVIOUR B59/B60); its own plugins apply exactly once.
        bytes request_uri;
        if (auto w = state.requests.take(m.body.uri, m.type(), &request_uri)) {
            // The parked requester holds the waiter. Without our reference its pool
            // recycles the waiter when the request ends (resumed inline, below).
            pending_request& request = *w;
            w.reset();
            typename core_type::opened inner;
            if (std::error_code ec = core.open_counted(m, request.plugins, ctx, key, inner)) {
                request.fail(ec);
            } else {
                // The reply takes the decoded buffers; the recycled message takes the
                // request's uri, content and auth-field buffers in exchange, so none
                // is allocated.
                Message reply(m.header, AuthFields(), Body(std::move(m.body.uri), std::move(m.body.content)));
                swap(reply.auth_data, m.auth_data);
                swap(m.auth_data, request.spare_auth);
                m.body.uri = std::move(request_uri);
                m.body.content = std::move(request.spare_content);
                request.complete(std::move(reply));
            }
            return nullptr;
        }
        auto entry = core.routes.take(m.type(), m.body.uri, key);
        if (!entry) {
            state.deliver(std::move(m), inbox_capacity, core.stats);
            return nullptr;
        }
        typename core_type::opened inner;
        if (core.open_counted(m, entry->plugins, ctx, key, inner)) {
            if (inner.auth_reply) state.deliver(std::move(inner.auth_reply), inbox_capacity, core.stats);
            return nullptr;
        }
        if (entry->is_async()) return entry;
        // A handler that returned nothing consumed the message; a result goes to receive_once().
        std::optional<Message> result_message = core.call_sync(*entry, m, key);
        if (result_message) state.deliver(std::move(result_message), inbox_capacity, core.stats);
        return nullptr;
    }

    /// Await a coroutine handler (under its deadline); its result goes to receive_once().
    asio::awaitable<void> run_coroutine_handler(peer_address key, connection_state& state, Message& m,
                                                const typename core_type::entry_ptr& entry) {
        std::optional<Message> result_message = co_await core.call_async(entry, m, key, options_.handler_timeout);
        if (result_message) state.deliver(std::move(result_message), inbox_capacity, core.stats);
    }

    static asio::awaitable<void> sweep(std::shared_ptr<tcp_client_impl> self) {
        while (!self->connections_.empty()) {
            self->sweep_timer_.expires_after(self->sweep_interval());
            co_await self->sweep_timer_.async_wait(use_nothrow);
            const auto now = steady::now();
            for (auto& [key, s] : self->connections_) {
                if (auto reason = s->expired(now)) {
                    self->core.reject(*reason, key);
                    s->close(*reason);
                }
            }
        }
        self->sweeping_ = false;
    }

    /// The request alarm rang: time out the requests that are due (each removes
    /// itself from its table when resumed); the next deadline of the others.
    std::optional<steady::time_point> expire_requests(steady::time_point now) {
        const auto keep_alive = this->shared_from_this();  // a resumed requester may drop the client
        std::vector<std::shared_ptr<pending_request>> due;
        std::optional<steady::time_point> next;
        for (const auto& [key, state] : states_) state->requests.collect_due(now, due, next);
        for (const auto& w : due) w->expire();
        return next;
    }

    std::chrono::milliseconds sweep_interval() const {
        using ms = std::chrono::milliseconds;
        ms shortest = ms(1000);
        for (ms d : {options_.connection.frame_timeout, options_.connection.idle_timeout, options_.connection.write_timeout})
            if (d.count() > 0) shortest = std::min(shortest, d);
        return std::max(ms(5), shortest / 4);
    }

    static constexpr std::size_t inbox_capacity = 256;

    asio::any_io_executor executor_;
    waiter_pool waiters_{executor_};
    tcp_client_options options_;
    peer_address default_key_;  // (options_.host, options_.port)
    asio::steady_timer sweep_timer_;
    bool sweeping_ = false;
    deadline_alarm request_alarm_;  // times out requests: one timer for all of them
    std::map<peer_address, std::shared_ptr<tcp_session>> connections_;
    std::map<peer_address, std::shared_ptr<connection_state>> states_;  // by server key
    std::shared_ptr<connection_state> default_state_;                  // states_[default_key_], if any
    peer_registry peers_;
    std::optional<peer_management_options> managing_;
    std::uint64_t next_id_ = 0;
    std::map<peer_address, std::shared_ptr<reconnector>> reconnecting_;  // servers being reconnected
    std::map<peer_address, std::size_t> backoff_attempts_;  // attempts since the last proven connection
    std::list<std::shared_ptr<connect_attempt>> connecting_;  // every resolve + connect in flight
    std::list<timeout_task> timeout_tasks_;  // coroutine timeout handlers running
    std::uint64_t next_task_id_ = 0;
    async_signal timeout_tasks_ended_;       // a task ended
    bool shut_down_ = false;                 // the owning client object is gone
};

}  // namespace detail

/// A netaio TCP client for message-type enum E (MessageType by default).
template <message_type_enum E = MessageType>
class basic_tcp_client : public detail::node_api<detail::tcp_client_impl<E>, peer_address> {
    using base = detail::node_api<detail::tcp_client_impl<E>, peer_address>;
    using base::impl_;

public:
    using context_type = peer_address;
    using timeout_handler_type = basic_tcp_timeout_handler<E>;

    /// Throws netaio::error(errc::bad_option) for invalid reconnect options.
    explicit basic_tcp_client(asio::any_io_executor ex, tcp_client_options options = {})
        : base(std::make_shared<detail::tcp_client_impl<E>>(std::move(ex), std::move(options))) {}
    /// Closes every connection, ends reconnect attempts, aborts connect()s in flight
    /// (they raise errc::stopped and adopt nothing) and cancels the timeout handlers
    /// still running (they hold a client handle of their own, so they may still
    /// finish their current step; connect() then fails with errc::stopped).
    ~basic_tcp_client() {
        if (impl_ && owner_) impl_->shut_down();
    }

    // ---- connections -------------------------------------------------------------------

    /// Connect (or reconnect) to a server; empty host / port 0 mean the defaults (B49).
    /// `timeout`: 0 means options.connect_timeout. Replaces an open connection to the
    /// same server (its pending requests fail with errc::connection_lost); once
    /// connected, it ends automatic reconnect attempts to it and starts their backoff
    /// over (a failed connect() leaves them running). Throws std::system_error
    /// (refused, unreachable), netaio::error(errc::timed_out), or errc::stopped when
    /// close(), close_all() or the client's destruction abort it meanwhile.
    asio::awaitable<void> connect(std::string host = {}, std::uint16_t port = 0,
                                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
        return detail::tcp_client_impl<E>::connect(impl_, impl_->key_of(std::move(host), port), timeout);
    }
    /// Close one connection (default server when omitted), as netaio's close (B69): a
    /// DISCONNECT first under peer management, then the socket. Its pending requests
    /// fail at once with errc::connection_lost; reconnect attempts end, connect()s in
    /// flight to it raise errc::stopped, and timeout-handler tasks for that server are
    /// cancelled (not the one calling through its own handle). Closing a server never
    /// connected throws netaio::error(errc::not_connected), as netaio raises; closing
    /// one already closed or lost does nothing.
    void close(std::optional<peer_address> server = std::nullopt) {
        impl_->close(server.value_or(impl_->default_key()), task_);
    }
    /// Close every connection; ends all reconnect attempts, connect()s in flight and
    /// timeout-handler tasks (not the one calling through its own handle), so nothing
    /// of the client keeps io_context::run() busy.
    void close_all() { impl_->close_all(task_); }
    /// The servers with an open connection.
    std::vector<peer_address> servers() const { return impl_->servers(); }
    /// The key of the default server (host, port from the options).
    peer_address default_server() const { return impl_->default_key(); }
    /// Requests waiting for their reply from a server (default server when omitted).
    std::size_t pending_requests(std::optional<peer_address> server = std::nullopt) const {
        return server ? impl_->pending_requests(*server) : impl_->pending_requests(impl_->default_key());
    }
    /// Whether automatic reconnect attempts to a server are under way (options.reconnect).
    bool reconnecting(std::optional<peer_address> server = std::nullopt) const {
        return impl_->reconnecting(server.value_or(impl_->default_key()));
    }
    /// Log through the client's logger (for timeout handlers and other helpers).
    void log(log_level level, std::string_view text) const { impl_->core.log.log(level, impl_->core.logger_name, text); }

    // ---- messages ------------------------------------------------------------------------------

    /// Queue a message for a server. False when a plugin failed or the queue is full;
    /// throws netaio::error(errc::not_connected) for a server never connected.
    bool send(const Message& m, std::optional<peer_address> server = std::nullopt, const send_options& opts = {}) {
        return impl_->send(m, server.value_or(impl_->default_key()), opts);
    }
    /// The next message on that connection that neither completed a request nor was
    /// consumed by a handler: a handler's result, the message itself when no handler
    /// matched, or an auth-error result (BEHAVIOUR B53, B58). Messages that arrive
    /// before the call wait in a small inbox. Throws errc::connection_lost / errc::timed_out.
    asio::awaitable<std::optional<Message>> receive_once(std::optional<peer_address> server = std::nullopt,
                                                         std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
        return detail::tcp_client_impl<E>::receive_once(impl_, server.value_or(impl_->default_key()), timeout);
    }

    /// REQUEST_URI and wait for RESPOND_URI / NOT_FOUND / ERROR / AUTH_ERROR with the same uri
    /// (BEHAVIOUR B59-B66). Throws netaio::error: timed_out, connection_lost, not_connected,
    /// too_many_pending, queue_full (the connection's outbound queue is full),
    /// content_too_long (over the frame limits), encrypt_failed (a plugin could not
    /// prepare the request), auth_failed / decrypt_failed (the reply failed the
    /// request's plugins).
    asio::awaitable<Message> request(byte_source uri, byte_source content = std::string_view(),
                                     request_options opts = request_options()) {
        return request_as(MessageType::REQUEST_URI, uri, content, std::move(opts));
    }
    /// CREATE_URI with `data`; replies OK / ERROR / AUTH_ERROR.
    asio::awaitable<Message> create(byte_source uri, byte_source data, request_options opts = request_options()) {
        return request_as(MessageType::CREATE_URI, uri, data, std::move(opts));
    }
    /// UPDATE_URI with `data`; replies OK / NOT_FOUND / ERROR / AUTH_ERROR.
    asio::awaitable<Message> update(byte_source uri, byte_source data, request_options opts = request_options()) {
        return request_as(MessageType::UPDATE_URI, uri, data, std::move(opts));
    }
    /// DELETE_URI (Python: delete); replies OK / NOT_FOUND / ERROR / AUTH_ERROR.
    asio::awaitable<Message> delete_(byte_source uri, request_options opts = request_options()) {
        return request_as(MessageType::DELETE_URI, uri, std::string_view(), std::move(opts));
    }
    /// Any request type with the standard reply matching.
    asio::awaitable<Message> request_as(MessageType type, byte_source uri, byte_source content,
                                        request_options opts = request_options()) {
        return detail::tcp_client_impl<E>::request(impl_, type, uri.to_bytes(), content.to_bytes(), std::move(opts));
    }

    /// request() into a Message you keep: `reply`'s buffers carry the request out and
    /// the reply comes back in them, so a loop reusing one Message allocates nothing
    /// once warm (request() must copy uri and content, and hands over new buffers).
    /// uri and content may point into `reply`. Throws as request() does; `reply`
    /// then holds no reply, and its body is unspecified.
    ///
    ///     netaio::Message reply;
    ///     for (...) co_await client.request_into(reply, "echo", payload);
    asio::awaitable<void> request_into(Message& reply, byte_source uri, byte_source content = std::string_view(),
                                       request_options opts = request_options()) {
        return request_into_as(MessageType::REQUEST_URI, reply, uri, content, std::move(opts));
    }
    /// request_into() for any request type (create, update, delete_ replies).
    asio::awaitable<void> request_into_as(MessageType type, Message& reply, byte_source uri, byte_source content,
                                          request_options opts = request_options()) {
        detail::assign_body(reply.body, uri.view, content.view);
        return detail::tcp_client_impl<E>::request_into(impl_, reply, type, std::move(opts));
    }

    // ---- peers (BEHAVIOUR B69-B74) -----------------------------------------------------------

    /// Advertise to every connected server now and on each later connect, record the
    /// servers' PEER_DISCOVERED replies, answer their adverts. Needs options.local_peer.
    void manage_peers_automatically(const peer_management_options& options = {}) { impl_->manage_peers(options); }
    /// Remove the handlers and send DISCONNECT to every connected server.
    void stop_peer_management(const std::string& app_id = "netaio") { impl_->stop_peer_management(app_id); }
    const peer_table& peers() const noexcept { return impl_->peers().table; }
    peer_table& peers() noexcept { return impl_->peers().table; }
    void set_peer_callback(peer_callback cb) { impl_->peers().on_peer = std::move(cb); }

    // ---- request timeouts (BEHAVIOUR B64, B67, B68) ----------------------------------------------

    /// Replace the timeout handler (options.timeout_error_handler); any of the forms of
    /// basic_tcp_timeout_handler: a plain one runs before the request raises
    /// errc::timed_out, a coroutine one is started in the background and the request
    /// raises at once. nullptr removes it. A handler may replace or remove itself.
    void set_timeout_handler(timeout_handler_type h) { impl_->on_timeout = std::move(h); }
    /// Coroutine timeout handlers still running.
    std::size_t timeout_handler_tasks() const noexcept { return impl_->timeout_handler_tasks(); }
    /// Cancel the coroutine timeout handlers still running and wait until they have
    /// ended; returns how many there were. Awaited by a timeout handler through the
    /// handle it received, it spares (and does not wait for) that handler itself.
    asio::awaitable<std::size_t> cancel_timeout_handler_tasks() {
        return detail::tcp_client_impl<E>::cancel_timeout_handler_tasks(impl_, task_);
    }

private:
    friend class detail::tcp_client_impl<E>;
    friend class basic_auto_reconnect_timeout_handler<E>;  // coalesces per client and server
    /// A handle for timeout-handler task `task`: shares the client's state, closes nothing.
    basic_tcp_client(detail::borrowed_client_t, std::shared_ptr<detail::tcp_client_impl<E>> impl, std::uint64_t task)
        : base(std::move(impl)), owner_(false), task_(task) {}

    bool owner_ = true;      // false: a borrowed handle (see above)
    std::uint64_t task_ = 0; // the timeout-handler task this handle was given to (0: none)
};

using TCPClient = basic_tcp_client<MessageType>;

NETAIO_END_NAMESPACE
