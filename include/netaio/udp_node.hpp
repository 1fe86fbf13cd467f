// netaio/udp_node.hpp - UDPNode: one UDP socket, unicast and multicast, handlers,
// requests, pub/sub and automatic peer discovery.
//
//     netaio::UDPNode node(io.get_executor(), {.host = "127.0.0.1", .port = 0});
//     node.on({netaio::MessageType::REQUEST_URI, "echo"},
//             [](const netaio::Message& m) { return netaio::make_respond_uri_msg(m.body.content, m.body.uri); });
//     node.start();
//
// One datagram is exactly one frame (PROTOCOL §1.9). Per datagram (§9.6): decode,
// outer auth, outer decrypt, routing, inner auth, inner decrypt, handler, reply to
// the sender through the inner then the outer layer. Differences from netaio
// 0.0.9, all deliberate: malformed and unauthenticated datagrams are dropped and
// counted without any reply unless `reply_to_invalid` is set; coroutine handlers
// run (and reply); a node ignores its own adverts by peer id rather than by IP;
// sends larger than a UDP payload fail before any syscall (errc::message_too_large);
// stop() sends its DISCONNECT before closing the socket.
//
// Threading: one executor; call the node's methods from it.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/deadline_alarm.hpp>
#include <netaio/detail/multicast.hpp>
#include <netaio/detail/node_api.hpp>
#include <netaio/detail/node_core.hpp>
#include <netaio/detail/peer_handlers.hpp>
#include <netaio/detail/request_table.hpp>
#include <netaio/detail/request_timeout.hpp>
#include <netaio/frame_decoder.hpp>
#include <netaio/handler.hpp>
#include <netaio/message.hpp>
#include <netaio/options.hpp>
#include <netaio/peer_table.hpp>
#include <netaio/routing.hpp>
#include <netaio/version.hpp>

#include <asio/ip/address.hpp>
#include <asio/ip/multicast.hpp>
#include <asio/ip/udp.hpp>
#include <asio/ip/v6_only.hpp>

#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// Largest UDP payload: 65507 bytes over IPv4, 65527 over IPv6.
inline constexpr std::size_t max_udp_payload_v4 = 65507;
inline constexpr std::size_t max_udp_payload_v6 = 65527;

namespace detail {

inline peer_address to_peer_address(const asio::ip::udp::endpoint& e) {
    return peer_address(e.address().to_string(), e.port());
}

template <message_type_enum E>
class udp_node_impl : public std::enable_shared_from_this<udp_node_impl<E>> {
public:
    using core_type = node_core<E, peer_address>;
    using clock = std::chrono::steady_clock;

    udp_node_impl(asio::any_io_executor ex, udp_node_options options)
        : executor_(ex),
          options_(std::move(options)),
          socket_(ex),
          discovery_socket_(ex),
          registry_{peer_table(options_.peers, options_.clock), {}},
          request_alarm_(ex, [this](clock::time_point now) { return expire_requests(now); }) {
        core.outer = {options_.auth_plugin, options_.cipher_plugin};
        core.on_auth_error = options_.on_auth_error;
        core.peer_plugin = options_.peer_plugin;
        core.log = options_.log;
        core.logger_name = options_.logger_name;
        core.describe(node_kind::udp_node, options_.local_peer ? &*options_.local_peer : nullptr);
        core.on_reject = options_.on_reject;
        // netaio's UDP default reply: NOT_FOUND, uri "ERROR" (BEHAVIOUR B12).
        core.default_handler = make_handler_entry<peer_address>([](const Message&) { return make_error_msg("not found"); });
        if (options_.local_peer) registry_.table.set_local_id(options_.local_peer->id);
    }

    core_type core;
    timeout_handler on_timeout;

    asio::any_io_executor executor() const { return executor_; }
    const udp_node_options& options() const noexcept { return options_; }
    peer_table& peers() noexcept { return registry_.table; }
    peer_registry& registry() noexcept { return registry_; }
    bool started() const noexcept { return socket_.is_open(); }

    // ---- lifecycle -------------------------------------------------------------------

    void open() {
        if (socket_.is_open()) return;
        const auto address = asio::ip::make_address(options_.host);
        const asio::ip::udp::endpoint endpoint(address, options_.port);
        socket_.open(endpoint.protocol());
        if (options_.reuse_address) socket_.set_option(asio::ip::udp::socket::reuse_address(true));
        if (address.is_v6()) socket_.set_option(asio::ip::v6_only(false));
        socket_.bind(endpoint);
        socket_.non_blocking(true);  // sends never block: a full buffer drops the datagram (counted)
        configure_multicast(socket_, address.is_v6(), /*join=*/!options_.multicast_port);
        if (options_.multicast_port && !options_.multicast_group.empty()) open_discovery_socket();
        stopping_ = false;
        core.log.log(log_level::info, core.logger_name,
                     [&] { return "node started on " + options_.host + ":" + std::to_string(local_port()); });
    }

    std::uint16_t local_port() const {
        std::error_code ec;
        auto endpoint = socket_.local_endpoint(ec);
        return ec ? 0 : endpoint.port();
    }

    /// The port multicasts are sent to and heard on.
    std::uint16_t discovery_port() const {
        if (!discovery_socket_.is_open()) return local_port();
        std::error_code ec;
        auto endpoint = discovery_socket_.local_endpoint(ec);
        return ec ? 0 : endpoint.port();
    }

    static asio::awaitable<void> run(std::shared_ptr<udp_node_impl> self) {
        self->open();
        if (self->discovery_socket_.is_open())
            asio::co_spawn(self->executor_, receive_loop(self, self->discovery_socket_), self->report("discovery socket"));
        co_await receive_loop(self, self->socket_);
    }

    static asio::awaitable<void> receive_loop(std::shared_ptr<udp_node_impl> self, asio::ip::udp::socket& socket) {
        bytes buffer(max_udp_payload_v6 + 1);  // larger than any datagram: no silent truncation
        asio::ip::udp::endpoint sender;
        while (!self->stopping_ && socket.is_open()) {
            auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buffer), sender, use_nothrow);
            if (self->stopping_ || !socket.is_open()) break;
            if (ec) {
                if (ec == asio::error::operation_aborted) break;
                continue;  // e.g. ICMP port unreachable reported on a previous send
            }
            self->core.stats.bytes_received += n;
            self->on_datagram(bytes_view(buffer.data(), n), to_peer_address(sender));
        }
    }

    /// The request alarm rang: time out the requests that are due (each removes
    /// itself from the table when resumed); the next deadline of the others.
    std::optional<clock::time_point> expire_requests(clock::time_point now) {
        const auto keep_alive = this->shared_from_this();  // a resumed requester may drop the node
        std::vector<std::shared_ptr<pending_request>> due;
        std::optional<clock::time_point> next;
        requests_.collect_due(now, due, next);
        for (const auto& w : due) w->expire();
        return next;
    }

    /// Stop peer management (sending DISCONNECTs while the socket is open), fail
    /// pending requests and close the socket.
    void stop() {
        if (stopping_) return;
        for (auto& app_id : advertised_app_ids()) stop_advertising(app_id, /*send_disconnect=*/true);
        stopping_ = true;
        requests_.fail_all(errc::stopped);
        request_alarm_.disarm();
        std::error_code ec;
        socket_.close(ec);
        discovery_socket_.close(ec);
    }

    // ---- sending ---------------------------------------------------------------------

    /// Prepare and send one datagram. False when a plugin failed or the kernel refused
    /// it (counted); throws errc::not_started / errc::message_too_large.
    bool send(const Message& m, const peer_address& to, const send_options& opts) {
        const plugin_context ctx = core.context_for(registry_.table.by_address(to));
        auto frame = core.frame_of(m, &opts.plugins, core.outer_layer(opts.use_auth, opts.use_cipher), ctx, to);
        return frame && send_frame(*frame, to);
    }

    bool send_frame(const bytes& frame, const peer_address& to) {
        if (!socket_.is_open()) throw error(errc::not_started, "UDP node not started");
        std::error_code ec;
        const auto address = asio::ip::make_address(to.host, ec);
        if (ec) throw error(errc::bad_option, "not an IP address: " + to.host);
        const std::size_t limit = address.is_v6() ? max_udp_payload_v6 : max_udp_payload_v4;
        if (frame.size() > limit)
            throw error(errc::message_too_large, std::to_string(frame.size()) + " bytes exceed the UDP payload limit of " +
                                                     std::to_string(limit));
        socket_.send_to(asio::buffer(frame), asio::ip::udp::endpoint(address, to.port), 0, ec);
        if (ec) {
            core.reject(errc::queue_full, to);  // kernel buffer full or unreachable: dropped
            return false;
        }
        ++core.stats.frames_sent;
        core.stats.bytes_sent += frame.size();
        return true;
    }

    /// Prepare once (peer none) and send to the multicast group (BEHAVIOUR B85).
    bool multicast(const Message& m, std::uint16_t port, const send_options& opts) {
        auto frame = core.frame_of(m, &opts.plugins, core.outer_layer(opts.use_auth, opts.use_cipher),
                                        core.context_for(nullptr), group_address(port));
        return frame && send_frame(*frame, group_address(port));
    }

    peer_address group_address(std::uint16_t port) const {
        return peer_address(options_.multicast_group, port == 0 ? discovery_port() : port);
    }

    /// Send to several addresses, preparing once unless a plugin is peer-specific (§9.7).
    std::size_t send_to_many(const std::vector<peer_address>& targets, const Message& m, const send_options& opts) {
        const handler_plugins outer = core.outer_layer(opts.use_auth, opts.use_cipher);
        const bool per_peer = outer.auth.is_peer_specific() || outer.cipher.is_peer_specific() ||
                              opts.plugins.auth.is_peer_specific() || opts.plugins.cipher.is_peer_specific();
        std::optional<bytes> shared;
        if (!per_peer && !targets.empty()) {
            shared = core.frame_of(m, &opts.plugins, outer, core.context_for(nullptr), peer_address());
            if (!shared) return 0;
        }
        std::size_t sent = 0;
        for (const auto& to : targets) {
            if (shared) {
                sent += send_frame(*shared, to) ? 1 : 0;
            } else {
                sent += send(m, to, opts) ? 1 : 0;
            }
        }
        return sent;
    }

    /// One datagram per known peer, to its first address (BEHAVIOUR B86).
    std::size_t broadcast(const Message& m, const send_options& opts) {
        std::vector<peer_address> targets;
        for (const auto& [id, peer] : registry_.table.peers())
            if (!peer.addrs.empty()) targets.push_back(*peer.addrs.begin());
        return send_to_many(targets, m, opts);
    }

    std::size_t notify(const bytes& topic, const Message& m, const send_options& opts) {
        auto it = subscriptions_.find(topic);
        if (it == subscriptions_.end()) return 0;
        if (it->second.empty()) {
            subscriptions_.erase(it);
            return 0;
        }
        return send_to_many(std::vector<peer_address>(it->second.begin(), it->second.end()), m, opts);
    }
    void subscribe(const bytes& topic, const peer_address& a) { subscriptions_[topic].insert(a); }
    void unsubscribe(const bytes& topic, const peer_address& a) {
        auto it = subscriptions_.find(topic);
        if (it == subscriptions_.end()) return;
        it->second.erase(a);
        if (it->second.empty()) subscriptions_.erase(it);
    }
    std::vector<peer_address> subscribers(const bytes& topic) const {
        auto it = subscriptions_.find(topic);
        return it == subscriptions_.end() ? std::vector<peer_address>{}
                                          : std::vector<peer_address>(it->second.begin(), it->second.end());
    }

    // ---- requests ----------------------------------------------------------------------

    static asio::awaitable<Message> request(std::shared_ptr<udp_node_impl> self, MessageType type, bytes uri,
                                            bytes content, peer_address to, request_options opts) {
        if (self->requests_.size() >= self->options_.max_pending_requests) {
            self->core.reject(errc::too_many_pending, to);
            throw error(errc::too_many_pending);
        }
        const auto timeout = opts.timeout().count() > 0 ? opts.timeout() : self->options_.request_timeout;
        const waiter_lease waiter(self->waiters_, self->waiters_.acquire(type, opts.plugins()));
        self->requests_.add(std::pair<peer_address, bytes>(to, uri), waiter.get());
        const send_options send_opts{opts.use_auth(), opts.use_cipher(), opts.plugins()};
        bool sent = false;
        try {
            sent = self->send(Message::prepare(Body::prepare(content, uri), type), to, send_opts);
        } catch (...) {
            self->requests_.remove(waiter.get());
            throw;
        }
        if (!sent) {
            self->requests_.remove(waiter.get());
            throw error(errc::encrypt_failed, "request could not be sent");
        }
        // Parked until a reply resumes us, the node stops, its deadline alarm times
        // us out, or the wait is cancelled.
        waiter->deadline = deadline_alarm::deadline_after(timeout);
        self->request_alarm_.ring_by(waiter->deadline);
        auto [wait_ec] = co_await waiter->park(use_nothrow);
        if (waiter->reply) co_return std::move(*waiter->reply);
        if (waiter->failure) throw error(waiter->failure);
        self->requests_.remove(waiter.get());
        if (wait_ec == asio::error::operation_aborted) throw_request_cancelled();
        self->core.stats.add(errc::timed_out);
        std::string text = request_timeout_text(uri, timeout, to.host + ":" + std::to_string(to.port));
        if (self->on_timeout) {
            // A copy: the handler may replace itself (set_timeout_handler) while it runs.
            const timeout_handler handler = self->on_timeout;
            try {
                handler(make_request_timeout_event(to, uri, timeout, type, text));
            } catch (const std::exception& e) {
                self->core.log.log(log_level::error, self->core.logger_name,
                                   [&] { return std::string("timeout handler threw: ") + e.what(); });
            }
        }
        throw error(errc::timed_out, text);
    }

    // ---- peer management ---------------------------------------------------------------

    void manage_peers(peer_management_options pm) {
        if (!options_.local_peer || !options_.local_peer->id)
            throw error(errc::bad_option, "peer management needs a local peer with an id");
        const bytes app_id = to_bytes(pm.app_id);
        std::weak_ptr<udp_node_impl> weak = this->shared_from_this();
        // The three handlers (BEHAVIOUR B43-B45, B96), with the peer plugins as inner layer.
        core.routes.add(route_key(MessageType::ADVERTISE_PEER, app_id),
                        make_handler_entry<peer_address>(
                            [weak, app_id](const Message& m, const peer_address& from) -> std::optional<Message> {
                                auto self = weak.lock();
                                if (!self || !self->record_peer(m, from)) return std::nullopt;
                                return make_peer_message(MessageType::PEER_DISCOVERED, app_id, *self->options_.local_peer,
                                                         self->core.peer_plugin);
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::PEER_DISCOVERED, app_id),
                        make_handler_entry<peer_address>(
                            [weak](const Message& m, const peer_address& from) {
                                if (auto self = weak.lock()) self->record_peer(m, from);
                            },
                            pm.plugins));
        core.routes.add(route_key(MessageType::DISCONNECT, app_id),
                        make_handler_entry<peer_address>(
                            [weak](const Message& m, const peer_address& from) {
                                if (auto self = weak.lock()) self->forget_peer(m, from);
                            },
                            pm.plugins));
        stop_advertising(pm.app_id, /*send_disconnect=*/false);  // re-registering replaces the old loop (B93 fix)
        auto state = std::make_shared<advertiser>(executor_, pm);
        advertisers_[pm.app_id] = state;
        asio::co_spawn(executor_, advertise_loop(this->shared_from_this(), state), report("advertiser"));
    }

    void stop_peer_management(const std::string& app_id) {
        const bytes id = to_bytes(app_id);
        core.routes.remove(route_key(MessageType::ADVERTISE_PEER, id));
        core.routes.remove(route_key(MessageType::PEER_DISCOVERED, id));
        core.routes.remove(route_key(MessageType::DISCONNECT, id));
        stop_advertising(app_id, /*send_disconnect=*/true);  // the given app id (B98 fix)
    }

    /// Purge peers silent for longer than `timeout` (whole seconds), reporting each.
    std::vector<bytes> remove_timed_out_peers(double timeout) {
        std::vector<Peer> gone;
        for (const auto& [id, peer] : registry_.table.peers())
            if (peer.timed_out(timeout, registry_.table.clock().now())) gone.push_back(peer);
        std::vector<bytes> ids;
        for (const Peer& p : gone) {
            registry_.table.remove(*p.id);
            for (const auto& a : p.addrs) unsubscribe_everywhere(a);
            registry_.emit(peer_event_kind::removed, p, p.addrs.empty() ? peer_address() : *p.addrs.begin());
            ids.push_back(*p.id);
        }
        return ids;
    }

private:
    struct advertiser {
        advertiser(const asio::any_io_executor& ex, peer_management_options o) : timer(ex), options(std::move(o)) {}
        asio::steady_timer timer;
        peer_management_options options;
        bool stopped = false;
    };

    detail::report_exceptions report(const char* what) { return core.reporter(this->weak_from_this(), what); }

    /// Outbound interface, TTL and loopback for sending; the group join for hearing.
    void configure_multicast(asio::ip::udp::socket& socket, bool v6, bool join) {
        if (options_.multicast_group.empty()) return;
        const auto group = asio::ip::make_address(options_.multicast_group);
        const auto iface = resolve_multicast_interface(options_.multicast_interface);
        socket.set_option(asio::ip::multicast::hops(options_.multicast_ttl));
        socket.set_option(asio::ip::multicast::enable_loopback(options_.multicast_loopback));
        if (group.is_v4()) {
            if (iface.v4) socket.set_option(asio::ip::multicast::outbound_interface(*iface.v4));
            if (join && options_.join_multicast)
                socket.set_option(asio::ip::multicast::join_group(group.to_v4(), iface.v4.value_or(asio::ip::address_v4::any())));
        } else {
            if (!v6) throw error(errc::bad_option, "an IPv6 multicast group needs an IPv6 socket (host \"::\")");
            if (iface.index != 0) socket.set_option(asio::ip::multicast::outbound_interface(iface.index));
            if (join && options_.join_multicast) socket.set_option(asio::ip::multicast::join_group(group.to_v6(), iface.index));
        }
    }

    /// The receive-only socket for multicasts on multicast_port (shared with other nodes).
    void open_discovery_socket() {
        const auto group = asio::ip::make_address(options_.multicast_group);
        // Bound to the group itself (IPv4) so it hears nothing but the group's traffic.
        const asio::ip::udp::endpoint endpoint(group.is_v4() ? group : asio::ip::address(asio::ip::address_v6::any()),
                                               *options_.multicast_port);
        discovery_socket_.open(endpoint.protocol());
        discovery_socket_.set_option(asio::ip::udp::socket::reuse_address(true));
        discovery_socket_.bind(endpoint);
        configure_multicast(discovery_socket_, group.is_v6(), /*join=*/true);
    }

    void on_datagram(bytes_view data, const peer_address& from) {
        std::error_code ec;
        Message m = decode_datagram(data, ec, options_.limits, core.types);
        if (ec) {
            core.reject(static_cast<errc>(ec.value()), from);
            if (ec == errc::checksum_mismatch && options_.reply_to_invalid) send_plain(make_error_msg("invalid message"), from);
            return;
        }
        ++core.stats.frames_received;
        const plugin_context ctx = core.context_for(registry_.table.by_address(from));
        typename core_type::opened opened;
        if (core.open_counted(m, core.outer_layer(), ctx, from, opened)) {
            if (opened.auth_reply && options_.reply_to_invalid) send_plain(*opened.auth_reply, from);
            return;
        }
        // A pending request from exactly this address takes precedence (BEHAVIOUR B89, B90).
        if (auto w = requests_.take(std::pair<peer_address, bytes>(from, m.body.uri), m.type())) {
            // The parked requester holds the waiter; without our reference its pool
            // can recycle it when the request ends.
            pending_request& request = *w;
            w.reset();
            typename core_type::opened inner;
            if (std::error_code iec = core.open_counted(m, request.plugins, ctx, from, inner))
                request.fail(iec);
            else
                request.complete(std::move(m));
            return;
        }
        opened.entry = core.routes.take(m.type(), m.body.uri, from);
        if (opened.entry && core.open_counted(m, opened.entry->plugins, ctx, from, opened)) {
            if (opened.auth_reply && options_.reply_to_invalid) send_plain(*opened.auth_reply, from);
            return;  // an auth failure always stops here (BEHAVIOUR B87)
        }
        const auto entry = opened.entry ? opened.entry : core.default_handler;
        if (!entry->is_async()) {
            std::optional<Message> reply = core.call_sync(*entry, m, from);
            if (reply) send_reply(std::move(*reply), opened.entry, from);
            return;
        }
        // Coroutine handlers run (netaio never awaits them, B83) without blocking the socket.
        asio::co_spawn(executor_, run_async_handler(this->shared_from_this(), entry, opened.entry != nullptr, std::move(m), from),
                       report("handler"));
    }

    static asio::awaitable<void> run_async_handler(std::shared_ptr<udp_node_impl> self,
                                                   std::shared_ptr<const typename core_type::entry_type> entry,
                                                   bool matched, Message m, peer_address from) {
        std::optional<Message> reply = co_await self->core.call_async(entry, std::move(m), from, self->options_.handler_timeout);
        if (reply && self->socket_.is_open()) self->send_reply(std::move(*reply), matched ? entry : nullptr, from);
    }

    void send_reply(Message reply, const std::shared_ptr<const typename core_type::entry_type>& matched, const peer_address& to) {
        registry_.table.refresh(to);  // a reply is a sign of life for that peer (BEHAVIOUR B82, B97)
        const plugin_context ctx = core.context_for(registry_.table.by_address(to));
        auto frame = core.seal_to_frame(std::move(reply), matched ? &matched->plugins : nullptr, core.outer_layer(), ctx, to);
        if (!frame) return;
        try {
            send_frame(*frame, to);
        } catch (const error& e) {
            core.reject(static_cast<errc>(e.code().value()), to);
        }
    }

    void send_plain(const Message& m, const peer_address& to) {
        std::error_code ec;
        bytes frame;
        m.encode_into(frame, ec);
        if (!ec) send_frame(frame, to);
    }

    bool record_peer(const Message& m, const peer_address& from) { return registry_.record(core, m, from); }

    /// DISCONNECT: the peer leaves, and with it its subscriptions (BEHAVIOUR B92).
    void forget_peer(const Message& m, const peer_address& from) {
        if (auto gone = registry_.forget(core, m, from))
            for (const auto& a : gone->addrs) unsubscribe_everywhere(a);
    }

    void unsubscribe_everywhere(const peer_address& a) {
        for (auto it = subscriptions_.begin(); it != subscriptions_.end();) {
            it->second.erase(a);
            it = it->second.empty() ? subscriptions_.erase(it) : std::next(it);
        }
    }

    std::vector<std::string> advertised_app_ids() const {
        std::vector<std::string> out;
        for (const auto& [id, a] : advertisers_) out.push_back(id);
        return out;
    }

    void stop_advertising(const std::string& app_id, bool send_disconnect) {
        auto it = advertisers_.find(app_id);
        if (it == advertisers_.end()) return;
        auto state = it->second;
        advertisers_.erase(it);
        state->stopped = true;
        state->timer.cancel();
        if (send_disconnect && socket_.is_open()) send_peer_message(MessageType::DISCONNECT, state->options);
    }

    /// Multicast a peer message and unicast it to the static peers.
    void send_peer_message(MessageType type, const peer_management_options& pm) {
        const Message m = make_peer_message(type, pm.app_id, *options_.local_peer, core.peer_plugin);
        const send_options opts{true, true, pm.plugins};
        try {
            if (!options_.multicast_group.empty()) multicast(m, 0, opts);
            for (const auto& to : pm.static_peers) send(m, to, opts);
        } catch (const error& e) {
            core.log.log(log_level::warning, core.logger_name, [&] { return std::string("advert not sent: ") + e.what(); });
        }
    }

    /// Purge timed-out peers, advertise, sleep; repeat (BEHAVIOUR B93).
    static asio::awaitable<void> advertise_loop(std::shared_ptr<udp_node_impl> self, std::shared_ptr<advertiser> state) {
        using namespace std::chrono;
        while (!state->stopped && self->socket_.is_open()) {
            const auto started = steady_clock::now();
            self->remove_timed_out_peers(duration<double>(state->options.peer_timeout).count());
            self->send_peer_message(MessageType::ADVERTISE_PEER, state->options);
            const auto spent = duration_cast<milliseconds>(steady_clock::now() - started);
            state->timer.expires_after(std::max(milliseconds(100), state->options.advertise_every - spent));
            co_await state->timer.async_wait(use_nothrow);
        }
    }

    asio::any_io_executor executor_;
    udp_node_options options_;
    asio::ip::udp::socket socket_;
    asio::ip::udp::socket discovery_socket_;  // only with options.multicast_port
    peer_registry registry_;
    request_table<std::pair<peer_address, bytes>> requests_;
    waiter_pool waiters_{executor_};
    deadline_alarm request_alarm_;  // times out requests: one timer for all of them
    std::map<bytes, std::set<peer_address>> subscriptions_;
    std::map<std::string, std::shared_ptr<advertiser>> advertisers_;
    bool stopping_ = false;
};

}  // namespace detail

/// A netaio UDP node for message-type enum E (MessageType by default).
template <message_type_enum E = MessageType>
class basic_udp_node : public detail::node_api<detail::udp_node_impl<E>, peer_address> {
    using base = detail::node_api<detail::udp_node_impl<E>, peer_address>;
    using base::impl_;

public:
    using context_type = peer_address;

    explicit basic_udp_node(asio::any_io_executor ex, udp_node_options options = {})
        : base(std::make_shared<detail::udp_node_impl<E>>(std::move(ex), std::move(options))) {}
    ~basic_udp_node() {
        if (impl_) impl_->stop();
    }

    // ---- handlers: on/once/add_handler/remove_handler come from detail::node_api -------

    /// Replace the reply to unmatched messages (default: NOT_FOUND "not found", uri "ERROR").
    template <class F>
        requires message_handler<std::decay_t<F>, peer_address>
    void set_default_handler(F&& handler) {
        impl_->core.default_handler = make_handler_entry<peer_address>(std::forward<F>(handler));
    }

    // ---- lifecycle -------------------------------------------------------------------------

    /// Open and bind the socket, join the multicast group (throws std::system_error).
    void open() { impl_->open(); }
    /// Receive until stop(); opens first if needed.
    asio::awaitable<void> run() { return detail::udp_node_impl<E>::run(impl_); }
    /// open() now and run() in the background.
    void start() {
        impl_->open();
        asio::co_spawn(impl_->executor(), run(), detail::report_exceptions{[log = impl_->core.log, name = impl_->core.logger_name](std::exception_ptr e) {
                           try {
                               std::rethrow_exception(e);
                           } catch (const std::exception& ex) {
                               log.log(log_level::error, name, [&] { return std::string("node failed: ") + ex.what(); });
                           }
                       }});
    }
    /// Send DISCONNECT for every advertised app id, fail pending requests, close.
    void stop() { impl_->stop(); }
    std::uint16_t local_port() const { return impl_->local_port(); }
    /// The port multicasts go to (the own port unless options.multicast_port is set).
    std::uint16_t discovery_port() const { return impl_->discovery_port(); }
    bool started() const noexcept { return impl_->started(); }

    // ---- sending ----------------------------------------------------------------------------

    /// Send one datagram; false when a plugin failed or the kernel dropped it.
    /// Throws errc::not_started, errc::message_too_large (before any syscall).
    bool send(const Message& m, const peer_address& to, const send_options& opts = {}) { return impl_->send(m, to, opts); }
    /// Send to the multicast group at `port` (0: our own port).
    bool multicast(const Message& m, std::uint16_t port = 0, const send_options& opts = {}) {
        return impl_->multicast(m, port, opts);
    }
    /// One datagram per known peer.
    std::size_t broadcast(const Message& m, const send_options& opts = {}) { return impl_->broadcast(m, opts); }
    std::size_t notify(byte_source topic, const Message& m, const send_options& opts = {}) {
        return impl_->notify(topic.to_bytes(), m, opts);
    }
    void subscribe(byte_source topic, const peer_address& a) { impl_->subscribe(topic.to_bytes(), a); }
    void unsubscribe(byte_source topic, const peer_address& a) { impl_->unsubscribe(topic.to_bytes(), a); }
    std::vector<peer_address> subscribers(byte_source topic) const { return impl_->subscribers(topic.to_bytes()); }

    /// REQUEST_URI to `to`; the reply must come from exactly that address (BEHAVIOUR B89, B90).
    asio::awaitable<Message> request(byte_source uri, peer_address to, byte_source content = std::string_view(),
                                     request_options opts = request_options()) {
        return request_as(MessageType::REQUEST_URI, uri, std::move(to), content, std::move(opts));
    }
    asio::awaitable<Message> create(byte_source uri, byte_source data, peer_address to,
                                    request_options opts = request_options()) {
        return request_as(MessageType::CREATE_URI, uri, std::move(to), data, std::move(opts));
    }
    asio::awaitable<Message> update(byte_source uri, byte_source data, peer_address to,
                                    request_options opts = request_options()) {
        return request_as(MessageType::UPDATE_URI, uri, std::move(to), data, std::move(opts));
    }
    asio::awaitable<Message> delete_(byte_source uri, peer_address to, request_options opts = request_options()) {
        return request_as(MessageType::DELETE_URI, uri, std::move(to), std::string_view(), std::move(opts));
    }
    asio::awaitable<Message> request_as(MessageType type, byte_source uri, peer_address to, byte_source content,
                                        request_options opts = request_options()) {
        return detail::udp_node_impl<E>::request(impl_, type, uri.to_bytes(), content.to_bytes(), std::move(to), std::move(opts));
    }

    // ---- peers -------------------------------------------------------------------------------

    /// Start automatic peer management: the three peer handlers for the app id and
    /// an ADVERTISE_PEER multicast every advertise_every (BEHAVIOUR B96).
    void manage_peers_automatically(peer_management_options options = {}) { impl_->manage_peers(std::move(options)); }
    /// Remove the app id's handlers and stop its advertiser, sending DISCONNECT.
    void stop_peer_management(const std::string& app_id = "netaio") { impl_->stop_peer_management(app_id); }
    /// Purge peers silent for more than `timeout_seconds` (whole seconds, strictly greater).
    std::vector<bytes> remove_timed_out_peers(double timeout_seconds) { return impl_->remove_timed_out_peers(timeout_seconds); }
    const peer_table& peers() const noexcept { return impl_->peers(); }
    peer_table& peers() noexcept { return impl_->peers(); }
    /// Called on every discovered, updated and removed peer.
    void set_peer_callback(peer_callback cb) { impl_->registry().on_peer = std::move(cb); }

    /// Called when a request times out, before the error is raised (B64/B67).
    void set_timeout_handler(timeout_handler h) { impl_->on_timeout = std::move(h); }
};

using UDPNode = basic_udp_node<MessageType>;

NETAIO_END_NAMESPACE
