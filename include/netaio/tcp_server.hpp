// netaio/tcp_server.hpp - TCPServer: accepts connections and dispatches messages to handlers.
//
//     asio::io_context io;
//     netaio::TCPServer server(io.get_executor(), {.host = "127.0.0.1", .port = 0});
//     server.on({netaio::MessageType::REQUEST_URI, "echo"},
//               [](const netaio::Message& m) { return netaio::make_respond_uri_msg(m.body.content, m.body.uri); });
//     server.start();            // bind now (see local_port()), serve in the background
//     io.run();
//
// Per frame (PROTOCOL §9.2): checksum, outer auth, outer decrypt, routing, inner
// auth, inner decrypt, handler, reply through the inner then the outer layer.
// Unlike netaio 0.0.9 the server bounds everything: frame and auth sizes from the
// header, frame/idle/write deadlines, connection caps, outbound queues with a
// policy for slow readers, and an ERROR reply instead of a dead connection when a
// handler throws.
//
// Threading: a server and its handlers run on one executor; call its methods
// from that executor (e.g. from handlers or coroutines spawned on it).
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/node_api.hpp>
#include <netaio/detail/node_core.hpp>
#include <netaio/detail/peer_handlers.hpp>
#include <netaio/detail/tcp_session.hpp>
#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/options.hpp>
#include <netaio/routing.hpp>
#include <netaio/stats.hpp>
#include <netaio/tcp_connection.hpp>
#include <netaio/version.hpp>

#include <asio/ip/address.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ip/v6_only.hpp>

#include <map>
#include <memory>
#include <set>
#include <unordered_map>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace detail {

template <message_type_enum E>
class tcp_server_impl : public std::enable_shared_from_this<tcp_server_impl<E>> {
public:
    using core_type = node_core<E, tcp_connection>;
    using entry_ptr = typename core_type::entry_ptr;

    tcp_server_impl(asio::any_io_executor ex, tcp_server_options options)
        : executor_(ex),
          options_(std::move(options)),
          acceptor_(ex),
          sweep_timer_(ex),
          stopped_signal_(ex),
          peers_{peer_table(tcp_peer_options(options_.peers), options_.clock), {}} {
        if (options_.local_peer) peers_.table.set_local_id(options_.local_peer->id);
        core.outer = {options_.auth_plugin, options_.cipher_plugin};
        core.use_auth = options_.use_auth;
        core.use_cipher = options_.use_cipher;
        core.on_auth_error = options_.on_auth_error;
        core.peer_plugin = options_.peer_plugin;
        core.log = options_.log;
        core.logger_name = options_.logger_name;
        core.describe(node_kind::tcp_server, options_.local_peer ? &*options_.local_peer : nullptr);
        core.on_reject = options_.on_reject;
        core.default_handler = make_handler_entry<tcp_connection>([](const Message&) { return make_not_found_msg(); });
    }

    core_type core;

    const tcp_server_options& options() const noexcept { return options_; }
    peer_registry& peers() noexcept { return peers_; }

    /// On TCP a peer's address is its connection: no extra ports on a bound host.
    static peer_table_options tcp_peer_options(peer_table_options o) {
        o.allow_new_port_on_bound_host = false;
        return o;
    }

    // ---- peer management (BEHAVIOUR B42-B46) -----------------------------------------

    void manage_peers(const peer_management_options& pm) {
        if (!options_.local_peer || !options_.local_peer->id)
            throw error(errc::bad_option, "peer management needs a local peer with an id");
        const bytes app_id = to_bytes(pm.app_id);
        std::weak_ptr<tcp_server_impl> weak = this->shared_from_this();
        core.routes.add(route_key(MessageType::ADVERTISE_PEER, app_id),
                        make_handler_entry<tcp_connection>(
                            [weak, app_id](const Message& m, const tcp_connection& c) -> std::optional<Message> {
                                auto self = weak.lock();
                                if (!self || !self->peers_.record(self->core, m, c.remote())) return std::nullopt;
                                return make_peer_message(MessageType::PEER_DISCOVERED, app_id, *self->options_.local_peer,
                                                         self->core.peer_plugin);
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::PEER_DISCOVERED, app_id),
                        make_handler_entry<tcp_connection>(
                            [weak](const Message& m, const tcp_connection& c) {
                                if (auto self = weak.lock()) self->peers_.record(self->core, m, c.remote());
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::DISCONNECT, app_id),
                        make_handler_entry<tcp_connection>(
                            [weak](const Message& m, const tcp_connection& c) {
                                auto self = weak.lock();
                                if (self && self->peers_.forget(self->core, m, c.remote())) self->unsubscribe_all(c.id());
                            },
                            pm.plugins));
    }

    void stop_peer_management(const std::string& app_id) {
        const bytes id = to_bytes(app_id);
        core.routes.remove(route_key(MessageType::ADVERTISE_PEER, id));
        core.routes.remove(route_key(MessageType::PEER_DISCOVERED, id));
        core.routes.remove(route_key(MessageType::DISCONNECT, id));
    }

    /// The peer behind a connection, if known.
    const Peer* peer_of(const peer_address& remote) const { return peers_.table.by_address(remote); }
    asio::any_io_executor executor() const { return executor_; }

    // ---- lifecycle -------------------------------------------------------------------

    void listen() {
        if (acceptor_.is_open()) return;
        const auto address = asio::ip::make_address(options_.host);
        asio::ip::tcp::endpoint endpoint(address, options_.port);
        acceptor_.open(endpoint.protocol());
        acceptor_.set_option(asio::ip::tcp::acceptor::reuse_address(true));
        if (address.is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
        acceptor_.bind(endpoint);
        acceptor_.listen(asio::socket_base::max_listen_connections);
        stopping_ = false;
        core.log.log(log_level::info, core.logger_name,
                     [&] { return "server started on " + options_.host + ":" + std::to_string(local_port()); });
    }

    std::uint16_t local_port() const {
        std::error_code ec;
        auto endpoint = acceptor_.local_endpoint(ec);
        return ec ? 0 : endpoint.port();
    }

    static asio::awaitable<void> run(std::shared_ptr<tcp_server_impl> self) {
        self->listen();
        self->running_ = true;
        asio::co_spawn(self->executor_, sweep(self), self->report("sweep"));
        for (;;) {
            auto [ec, socket] = co_await self->acceptor_.async_accept(use_nothrow);
            if (self->stopping_ || !self->acceptor_.is_open()) break;
            if (ec) {
                // EMFILE and friends: back off instead of spinning.
                const std::string why = ec.message();  // (clang 14 cannot capture structured bindings)
                self->core.log.log(log_level::error, self->core.logger_name, [&] { return "accept failed: " + why; });
                asio::steady_timer pause(self->executor_, std::chrono::milliseconds(100));
                co_await pause.async_wait(use_nothrow);
                continue;
            }
            self->admit(std::move(socket));
        }
        // Wait for the sessions to end (stop() drains and closes them).
        while (!self->sessions_.empty()) co_await self->stopped_signal_.wait();
        self->running_ = false;
        self->sweep_timer_.cancel();
        self->stopped_signal_.notify_all();
    }

    /// Stop accepting, stop reading, let running handlers finish and queued replies
    /// drain for up to stop_timeout, then close every connection.
    static asio::awaitable<void> stop(std::shared_ptr<tcp_server_impl> self) {
        if (!self->stopping_) {
            self->stopping_ = true;
            std::error_code ec;
            self->acceptor_.close(ec);
            for (auto& [id, s] : self->sessions_) s->shutdown_receive();
            self->stop_deadline_ = steady::now() + self->options_.stop_timeout;
            self->sweep_timer_.cancel();  // let the sweep enforce the stop deadline promptly
        }
        while (!self->sessions_.empty() || self->running_) co_await self->stopped_signal_.wait();
    }

    /// Close everything now.
    void close_now() {
        stopping_ = true;
        std::error_code ec;
        acceptor_.close(ec);
        auto sessions = sessions_;
        for (auto& [id, s] : sessions) s->close(errc::stopped);
        sweep_timer_.cancel();
    }

    // ---- sending -------------------------------------------------------------------

    bool send(const tcp_connection& to, const Message& m, const send_options& opts) {
        if (!to.is_open()) return false;
        const handler_plugins outer = core.outer_layer(opts.use_auth, opts.use_cipher);
        auto frame = core.frame_of(m, &opts.plugins, outer, core.context_for(peer_of(to.remote())), to.remote());
        return frame && push(to.session(), std::move(*frame));
    }

    std::size_t send_to_many(const std::vector<std::shared_ptr<tcp_session>>& targets, const Message& m,
                             const send_options& opts) {
        const handler_plugins outer = core.outer_layer(opts.use_auth, opts.use_cipher);
        const bool per_peer = outer.auth.is_peer_specific() || outer.cipher.is_peer_specific() ||
                              opts.plugins.auth.is_peer_specific() || opts.plugins.cipher.is_peer_specific();
        std::size_t sent = 0;
        std::optional<bytes> shared;
        if (!per_peer && !targets.empty()) {  // prepare once, send the same bytes to all (PROTOCOL §9.7)
            shared = core.frame_of(m, &opts.plugins, outer, core.context_for(nullptr), peer_address{});
            if (!shared) return 0;
        }
        for (const auto& s : targets) {
            std::optional<bytes> frame =
                shared ? std::optional<bytes>(*shared)
                       : core.frame_of(m, &opts.plugins, outer, core.context_for(peer_of(s->remote())), s->remote());
            if (frame && push(s, std::move(*frame))) ++sent;
        }
        return sent;
    }

    std::size_t broadcast(const Message& m, const send_options& opts) {
        std::vector<std::shared_ptr<tcp_session>> targets;
        for (auto& [id, s] : sessions_)
            if (s->is_open()) targets.push_back(s);
        return send_to_many(targets, m, opts);
    }

    std::size_t notify(const bytes& topic, const Message& m, const send_options& opts) {
        auto it = subscriptions_.find(topic);
        if (it == subscriptions_.end()) return 0;
        if (it->second.empty()) {
            subscriptions_.erase(it);
            return 0;
        }
        std::vector<std::shared_ptr<tcp_session>> targets;
        for (std::uint64_t id : it->second)
            if (auto s = sessions_.find(id); s != sessions_.end() && s->second->is_open()) targets.push_back(s->second);
        return send_to_many(targets, m, opts);
    }

    // ---- subscriptions ---------------------------------------------------------------

    std::error_code subscribe(const bytes& topic, const tcp_connection& c) {
        if (!c.is_open()) return make_error_code(errc::not_connected);
        auto it = subscriptions_.find(topic);
        if (it != subscriptions_.end() && it->second.contains(c.id())) return {};  // already subscribed
        const auto own = topics_of_.find(c.id());
        const std::size_t mine = own == topics_of_.end() ? 0 : own->second.size();
        if (mine >= options_.max_subscriptions_per_connection ||
            (it == subscriptions_.end() && subscriptions_.size() >= options_.max_topics)) {
            core.reject(errc::too_many_subscriptions, c.remote());
            return make_error_code(errc::too_many_subscriptions);
        }
        if (it == subscriptions_.end()) it = subscriptions_.try_emplace(topic).first;
        it->second.insert(c.id());
        topics_of_[c.id()].insert(&it->first);
        return {};
    }
    void unsubscribe(const bytes& topic, const tcp_connection& c) {
        auto it = subscriptions_.find(topic);
        if (it == subscriptions_.end()) return;
        // Not a member: ignored (BEHAVIOUR B38's Python bug).
        if (it->second.erase(c.id()) > 0) forget_subscription(c.id(), it->first);
        if (it->second.empty()) subscriptions_.erase(it);
    }
    /// Topics with at least one subscriber.
    std::size_t topic_count() const noexcept { return subscriptions_.size(); }
    std::vector<tcp_connection> subscribers(const bytes& topic) const {
        std::vector<tcp_connection> out;
        if (auto it = subscriptions_.find(topic); it != subscriptions_.end())
            for (std::uint64_t id : it->second)
                if (auto s = sessions_.find(id); s != sessions_.end()) out.emplace_back(s->second);
        return out;
    }
    std::vector<tcp_connection> clients() const {
        std::vector<tcp_connection> out;
        for (const auto& [id, s] : sessions_)
            if (s->is_open()) out.emplace_back(s);
        return out;
    }

private:
    detail::report_exceptions report(const char* what) { return core.reporter(this->weak_from_this(), what); }

    /// Queue a frame for a session; apply the full-queue policy.
    bool push(const std::shared_ptr<tcp_session>& s, bytes frame) {
        if (s->enqueue(std::move(frame))) return true;
        if (!s->is_open()) return false;
        core.reject(errc::queue_full, s->remote());
        if (options_.connection.on_queue_full == queue_full_policy::close_connection) s->close(errc::queue_full);
        return false;
    }

    void admit(asio::ip::tcp::socket socket) {
        std::error_code ec;
        auto endpoint = socket.remote_endpoint(ec);
        if (ec) return;
        const std::string ip = endpoint.address().to_string();
        if (sessions_.size() >= options_.max_connections || per_ip_[ip] >= options_.max_connections_per_ip) {
            core.reject(errc::over_capacity, peer_address{ip, endpoint.port()});
            socket.close(ec);
            if (per_ip_[ip] == 0) per_ip_.erase(ip);
            return;
        }
        auto s = std::make_shared<tcp_session>(std::move(socket), ++next_id_, options_.connection, core.types);
        ++per_ip_[ip];
        sessions_.emplace(s->id(), s);
        ++core.stats.connections_accepted;
        s->write_stats = core.shared_stats;
        core.log.log(log_level::info, core.logger_name,
                     [&] { return "client connected from " + s->remote().host + ":" + std::to_string(s->remote().port); });
        asio::co_spawn(executor_, serve(this->shared_from_this(), s), report("connection"));
    }

    /// Forget a session: connection tables, per-IP count, subscriptions.
    void forget(const std::shared_ptr<tcp_session>& s) {
        if (sessions_.erase(s->id()) == 0) return;
        ++core.stats.connections_closed;
        if (auto it = per_ip_.find(s->remote().host); it != per_ip_.end() && --it->second == 0) per_ip_.erase(it);
        unsubscribe_all(s->id());
        // The connection was the peer's address: a peer left without one is gone
        // (netaio keeps it, B25; then a reconnect could never re-bind its id).
        if (auto gone = peers_.table.unbind(s->remote())) peers_.emit(peer_event_kind::removed, *gone, s->remote());
        core.log.log(log_level::info, core.logger_name, [&] {
            return "client disconnected: " + s->remote().host + ":" + std::to_string(s->remote().port) + " (" +
                   make_error_code(s->close_reason()).message() + ")";
        });
        stopped_signal_.notify_all();
    }

    /// The per-connection reader: read, decode every complete frame, dispatch.
    static asio::awaitable<void> serve(std::shared_ptr<tcp_server_impl> self, std::shared_ptr<tcp_session> s) {
        const tcp_connection conn(s);
        std::size_t bad_in_a_row = 0;
        reply_limiter error_replies;
        errc end_reason = errc::connection_lost;
        bool reported = false;
        Message incoming;  // every frame is decoded into this one, reusing its buffers
        try {
            while (s->is_open()) {
                auto space = s->read_space();
                auto [ec, n] = co_await s->socket().async_read_some(asio::buffer(space.data(), space.size()), use_nothrow);
                if (ec || n == 0) {
                    if (!s->is_open()) break;  // closed by us (deadline, stop, policy): already counted
                    end_reason = s->decoder().mid_frame() ? errc::eof_mid_frame : errc::connection_lost;
                    if (ec == asio::error::connection_reset && s->decoder().mid_frame()) end_reason = errc::connection_reset;
                    if (s->decoder().mid_frame()) {
                        self->core.reject(end_reason, s->remote());
                        reported = true;
                    }
                    break;
                }
                s->decoder().commit(n);
                self->core.stats.bytes_received += n;
                std::size_t completed = 0;
                s->cork();  // the replies to this read's frames leave in one write
                for (;;) {
                    std::error_code dec_ec;
                    if (s->decoder().next_into(incoming, dec_ec)) {
                        ++completed;
                        bad_in_a_row = 0;
                        ++self->core.stats.frames_received;
                        // Neither our handler's time nor our own backpressure counts against
                        // the peer's idle and frame deadlines.
                        s->pause_peer_clocks();
                        if (!s->queue_has_room()) co_await s->wait_for_queue_room();  // bound the queue (E8)
                        if (s->is_open()) {
                            const std::optional<coroutine_call> call = self->handle_frame(s, conn, incoming);
                            if (call) co_await self->run_coroutine_handler(s, conn, incoming, *call);
                        }
                        if (!s->is_open()) break;
                        continue;
                    }
                    if (!dec_ec) break;  // need more bytes
                    if (dec_ec == errc::checksum_mismatch) {
                        ++completed;
                        self->core.reject(errc::checksum_mismatch, s->remote());
                        if (++bad_in_a_row > self->options_.max_consecutive_bad_frames) {
                            self->core.reject(errc::protocol_errors, s->remote());
                            s->close(errc::protocol_errors);
                            break;
                        }
                        if (error_replies.allow(self->options_.max_error_replies, self->options_.error_reply_window))
                            self->reply_invalid_message(s);
                        else
                            self->core.reject(errc::error_reply_suppressed, s->remote());  // counted, not answered
                        continue;
                    }
                    // Fatal: the stream cannot be re-synchronised (as Python, close it).
                    self->core.reject(static_cast<errc>(dec_ec.value()), s->remote());
                    reported = true;
                    s->close(static_cast<errc>(dec_ec.value()));
                    break;
                }
                s->uncork();
                s->note_read(completed);
            }
        } catch (...) {
            s->close(errc::connection_lost);
            self->forget(s);
            throw;
        }
        if (s->is_open()) {
            // End of stream: let queued replies go out (stop() or the client half-closed).
            co_await s->wait_until_flushed();
            s->close(end_reason);
        } else if (!reported && s->close_reason() != errc::stopped && s->close_reason() != errc::connection_lost) {
            (void)0;  // deadline/policy closes were counted where they happened
        }
        self->forget(s);
    }

    /// Drop every subscription of a connection: its own topics only, not every topic.
    void unsubscribe_all(std::uint64_t connection_id) {
        auto own = topics_of_.extract(connection_id);
        if (own.empty()) return;
        for (const bytes* topic : own.mapped()) {
            const auto it = subscriptions_.find(*topic);  // *topic is that node's key: read it before erasing
            it->second.erase(connection_id);
            if (it->second.empty()) subscriptions_.erase(it);
        }
    }

    void forget_subscription(std::uint64_t connection_id, const bytes& topic) {
        auto own = topics_of_.find(connection_id);
        if (own == topics_of_.end()) return;
        own->second.erase(&topic);
        if (own->second.empty()) topics_of_.erase(own);
    }

    /// The per-connection limit on ERROR "invalid message" replies: at most `limit`
    /// in a fixed window opened by the first reply (reads the clock only for bad frames).
    struct reply_limiter {
        steady::time_point window_start{};
        std::size_t sent = 0;

        bool allow(std::size_t limit, std::chrono::milliseconds window) {
            if (limit == 0) return false;
            const auto now = steady::now();
            if (sent == 0 || now - window_start >= window) {
                window_start = now;
                sent = 0;
            }
            if (sent >= limit) return false;
            ++sent;
            return true;
        }
    };

    /// What handle_frame leaves to be awaited: a coroutine handler to run.
    struct coroutine_call {
        entry_ptr entry;
        bool matched = false;  // a route matched (its inner plugins seal the reply)
    };

    /// Process one decoded frame: pipeline, handler, reply. A plain function
    /// handler runs here, with no coroutine of its own (the common case, and the
    /// cheap one); a coroutine handler is returned for the reader to await
    /// (run_coroutine_handler). `m` is the reader's recycled message.
    std::optional<coroutine_call> handle_frame(const std::shared_ptr<tcp_session>& s, const tcp_connection& conn, Message& m) {
        // The peer is looked up once, before the handler runs (PROTOCOL §9.2); only
        // a coroutine handler's reply looks it up again (it may be gone by then).
        const plugin_context ctx = core.context_for(peer_of(s->remote()));
        auto opened = core.open_and_route(m, s->remote(), ctx);
        if (!opened.dispatch) {
            if (opened.auth_reply) send_plain(s, *opened.auth_reply);  // plaintext (BEHAVIOUR B33)
            return std::nullopt;
        }
        const entry_ptr& entry = opened.entry ? opened.entry : core.default_handler;
        if (entry->is_async()) return coroutine_call{entry, opened.entry != nullptr};
        std::optional<Message> reply = core.call_sync(*entry, m, conn);
        if (reply) send_reply(s, m, *reply, opened.entry ? &opened.entry->plugins : nullptr, ctx);
        return std::nullopt;
    }

    /// Await a coroutine handler (under its deadline) and send its reply. `m` is
    /// moved to the handler and gets the reply's buffers back.
    asio::awaitable<void> run_coroutine_handler(std::shared_ptr<tcp_session> s, tcp_connection conn, Message& m,
                                                const coroutine_call& call) {
        // It may wait for anything, even a reply to something it sends on this
        // connection: nothing may stay held while it runs.
        s->uncork();
        std::optional<Message> reply = co_await core.call_async(call.entry, std::move(m), conn, options_.handler_timeout);
        s->cork();  // back to gathering the rest of this read's replies
        // The peer is looked up again: the one seen before may have gone meanwhile.
        const plugin_context ctx = core.context_for(peer_of(s->remote()));
        if (reply) send_reply(s, m, *reply, call.matched ? &call.entry->plugins : nullptr, ctx);
    }

    /// Seal and queue a handler's reply, then recycle its buffers into `m`.
    void send_reply(const std::shared_ptr<tcp_session>& s, Message& m, Message& reply, const handler_plugins* inner,
                    const plugin_context& ctx) {
        if (!s->is_open()) return;
        const handler_plugins outer = core.outer_layer();
        bytes frame = s->take_buffer();
        if (core.seal_in_place_into(frame, reply, inner, outer, ctx, s->remote()))
            s->enqueue(std::move(frame), /*force=*/true);
        else
            s->recycle(std::move(frame));
        // A handler may have moved the request into its reply (or the message went to
        // a coroutine handler): the next frame decodes into those buffers again.
        reclaim_buffers(m, reply);
    }

    /// Give `into` whichever of each buffer has more room; `from` is done with.
    static void reclaim_buffers(Message& into, Message& from) noexcept {
        if (from.body.uri.capacity() > into.body.uri.capacity()) into.body.uri.swap(from.body.uri);
        if (from.body.content.capacity() > into.body.content.capacity()) into.body.content.swap(from.body.content);
        swap(into.auth_data, from.auth_data);  // the entries keep their storage for the next decode
    }

    void send_plain(const std::shared_ptr<tcp_session>& s, const Message& m) {
        std::error_code ec;
        bytes frame;
        m.encode_into(frame, ec);
        if (!ec) s->enqueue(std::move(frame), /*force=*/true);
    }

    /// ERROR "invalid message" through the outer layer (BEHAVIOUR B27).
    void reply_invalid_message(const std::shared_ptr<tcp_session>& s) {
        auto frame = core.seal_to_frame(make_error_msg("invalid message"), nullptr, core.outer_layer(),
                                        core.context_for(nullptr), s->remote());
        if (frame) s->enqueue(std::move(*frame), /*force=*/true);
    }

    /// Enforce deadlines: one timer for the whole server.
    static asio::awaitable<void> sweep(std::shared_ptr<tcp_server_impl> self) {
        while (self->acceptor_.is_open() || !self->sessions_.empty()) {
            self->sweep_timer_.expires_after(self->sweep_interval());
            co_await self->sweep_timer_.async_wait(use_nothrow);
            const auto now = steady::now();
            std::vector<std::shared_ptr<tcp_session>> expired;
            for (auto& [id, s] : self->sessions_) {
                if (self->stopping_ && now >= self->stop_deadline_) {
                    expired.push_back(s);
                } else if (auto reason = s->expired(now)) {
                    self->core.reject(*reason, s->remote());
                    s->close(*reason);
                }
            }
            for (auto& s : expired) {
                // Past the stop deadline: close and forget at once, even if a handler
                // on it never returns (its coroutine finishes on its own later).
                s->close(errc::stopped);
                self->forget(s);
            }
            if (!self->running_ && self->sessions_.empty()) break;
        }
    }

    /// A quarter of the shortest deadline (so deadlines are enforced within +25%).
    std::chrono::milliseconds sweep_interval() const {
        using ms = std::chrono::milliseconds;
        ms shortest = ms(1000);
        for (ms d : {options_.connection.frame_timeout, options_.connection.idle_timeout, options_.connection.write_timeout})
            if (d.count() > 0) shortest = std::min(shortest, d);
        if (stopping_) shortest = std::min(shortest, std::max(ms(1), options_.stop_timeout));
        return std::max(ms(5), shortest / 4);
    }

    asio::any_io_executor executor_;
    tcp_server_options options_;
    asio::ip::tcp::acceptor acceptor_;
    asio::steady_timer sweep_timer_;
    async_signal stopped_signal_;
    std::unordered_map<std::uint64_t, std::shared_ptr<tcp_session>> sessions_;
    std::unordered_map<std::string, std::size_t> per_ip_;
    std::map<bytes, std::set<std::uint64_t>> subscriptions_;
    // Per connection (only with at least one), the topics it subscribes to, as pointers
    // to subscriptions_'s keys: a topic's node lives while it has a subscriber, and
    // each subscriber lists it here, so the pointers never dangle while listed.
    std::unordered_map<std::uint64_t, std::set<const bytes*>> topics_of_;
    peer_registry peers_;
    std::uint64_t next_id_ = 0;
    bool stopping_ = false;
    bool running_ = false;
    steady::time_point stop_deadline_{};
};

}  // namespace detail

/// A netaio TCP server for message-type enum E (MessageType by default).
template <message_type_enum E = MessageType>
class basic_tcp_server : public detail::node_api<detail::tcp_server_impl<E>, tcp_connection> {
    using base = detail::node_api<detail::tcp_server_impl<E>, tcp_connection>;
    using base::impl_;

public:
    using context_type = tcp_connection;

    explicit basic_tcp_server(asio::any_io_executor ex, tcp_server_options options = {})
        : base(std::make_shared<detail::tcp_server_impl<E>>(std::move(ex), std::move(options))) {}
    /// Closes the listener and every connection (use stop() for a graceful end).
    ~basic_tcp_server() {
        if (impl_) impl_->close_now();
    }

    // ---- handlers: on/once/add_handler/remove_handler come from detail::node_api -------

    /// Replace the handler for unmatched messages (default: NOT_FOUND "not found", uri "").
    template <class F>
        requires message_handler<std::decay_t<F>, tcp_connection>
    void set_default_handler(F&& handler) {
        impl_->core.default_handler = make_handler_entry<tcp_connection>(std::forward<F>(handler));
    }

    // ---- lifecycle -------------------------------------------------------------------

    /// Bind and listen now (throws std::system_error); then local_port() is known.
    void listen() { impl_->listen(); }
    /// Serve until stop(); listens first if needed.
    asio::awaitable<void> run() { return detail::tcp_server_impl<E>::run(impl_); }
    /// listen() now and run() in the background (errors go to the logger).
    void start() {
        impl_->listen();
        asio::co_spawn(impl_->executor(), run(), detail::report_exceptions{[log = impl_->core.log, name = impl_->core.logger_name](std::exception_ptr e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               log.log(log_level::error, name, [&] { return std::string("server failed: ") + ex.what(); });
                           }
                       }});
    }
    /// Graceful stop (see tcp_server_options::stop_timeout); completes when all is closed.
    asio::awaitable<void> stop() { return detail::tcp_server_impl<E>::stop(impl_); }
    /// Close the listener and every connection at once.
    void close() { impl_->close_now(); }

    std::uint16_t local_port() const { return impl_->local_port(); }

    // ---- sending (BEHAVIOUR B35-B39) ---------------------------------------------------

    /// Queue a message for one connection; false if it was not sent (closed, full, plugin failure).
    bool send(const tcp_connection& to, const Message& m, const send_options& opts = {}) { return impl_->send(to, m, opts); }
    /// Send to every connected client; returns how many got it.
    std::size_t broadcast(const Message& m, const send_options& opts = {}) { return impl_->broadcast(m, opts); }
    /// Send to every subscriber of `topic`; never waits for slow subscribers.
    std::size_t notify(byte_source topic, const Message& m, const send_options& opts = {}) {
        return impl_->notify(topic.to_bytes(), m, opts);
    }
    /// Subscribe a connection to `topic` (subscribing twice is one subscription).
    /// Refused, with the connection's other subscriptions intact, past
    /// max_subscriptions_per_connection or, for a topic nobody has yet, past
    /// max_topics: errc::too_many_subscriptions (counted; netaio-style servers answer
    /// NOT_PERMITTED). errc::not_connected for a closed connection. Empty on success.
    [[nodiscard]] std::error_code subscribe(byte_source topic, const tcp_connection& c) {
        return impl_->subscribe(topic.to_bytes(), c);
    }
    void unsubscribe(byte_source topic, const tcp_connection& c) { impl_->unsubscribe(topic.to_bytes(), c); }
    /// How many topics have subscribers (bounded by max_topics).
    std::size_t topic_count() const noexcept { return impl_->topic_count(); }
    std::vector<tcp_connection> subscribers(byte_source topic) const { return impl_->subscribers(topic.to_bytes()); }
    /// The connected clients.
    std::vector<tcp_connection> clients() const { return impl_->clients(); }

    // ---- peers (BEHAVIOUR B42-B46) -----------------------------------------------------

    /// Answer ADVERTISE_PEER with PEER_DISCOVERED and track peers per connection.
    /// Needs options.local_peer. Clients introduce themselves; the server never advertises first.
    void manage_peers_automatically(const peer_management_options& options = {}) { impl_->manage_peers(options); }
    void stop_peer_management(const std::string& app_id = "netaio") { impl_->stop_peer_management(app_id); }
    const peer_table& peers() const noexcept { return impl_->peers().table; }
    peer_table& peers() noexcept { return impl_->peers().table; }
    void set_peer_callback(peer_callback cb) { impl_->peers().on_peer = std::move(cb); }

};

using TCPServer = basic_tcp_server<MessageType>;

NETAIO_END_NAMESPACE
