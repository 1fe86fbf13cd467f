// netaio/detail/node_core.hpp - what every node kind shares: handler tables, the
// outer plugin layer, the receive/send pipelines, counters and logging.
//
// `Context` is what handlers receive besides the message: the connection (TCP
// server), the server key (TCP client) or the sender's address (UDP node).
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/detail/handler_deadline.hpp>
#include <netaio/detail/pipeline.hpp>
#include <netaio/handler.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/message_type.hpp>
#include <netaio/options.hpp>
#include <netaio/peer.hpp>
#include <netaio/plugin.hpp>
#include <netaio/routing.hpp>
#include <netaio/stats.hpp>
#include <netaio/version.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <string>

NETAIO_BEGIN_NAMESPACE
namespace detail {

template <message_type_enum E, class Context>
class node_core {
public:
    node_core() = default;
    node_core(const node_core&) = delete;  // `stats` refers to this node's own counters
    node_core& operator=(const node_core&) = delete;

    using entry_type = handler_entry<Context>;
    using entry_ptr = std::shared_ptr<const entry_type>;

    routing_table<entry_type> routes;
    entry_ptr default_handler;  // nullptr: none (the TCP client)
    handler_plugins outer;
    bool use_auth = true;
    bool use_cipher = true;
    auth_error_handler on_auth_error;
    DefaultPeerPlugin peer_plugin;
    logger log;
    std::string logger_name;
    reject_callback on_reject;
    // Held through a shared_ptr: the TCP sessions count their writes into it
    // directly (no callback per write), and a session may outlive its node.
    std::shared_ptr<node_stats> shared_stats = std::make_shared<node_stats>();
    node_stats& stats = *shared_stats;
    message_type_set types = message_type_set::of<E>();

    /// The outer layer as enabled by the node's flags and a call's flags.
    handler_plugins outer_layer(bool call_use_auth = true, bool call_use_cipher = true) const {
        handler_plugins layer;
        if (use_auth && call_use_auth) layer.auth = outer.auth;
        if (use_cipher && call_use_cipher) layer.cipher = outer.cipher;
        return layer;
    }

    /// What plugins see of this node (plugin_context::node); set by describe().
    node_view view;

    /// Fill in `view`; each node calls it once its logger and options are in place.
    /// `local` must live as long as the node (it points into the node's options).
    void describe(node_kind kind, const Peer* local) {
        view.kind = kind;
        view.local_peer = local;
        view.node_logger = &log;
        view.logger_name = logger_name;
    }

    plugin_context context_for(const Peer* peer) const { return plugin_context{peer, &peer_plugin, std::nullopt, &view}; }

    /// Count a refused frame or closed connection and tell the observer.
    void reject(errc reason, const peer_address& from) {
        stats.add(reason);
        log.log(log_level::debug, logger_name, [&] {
            return "rejected from " + from.host + ":" + std::to_string(from.port) + ": " +
                   make_error_code(reason).message();
        });
        if (on_reject) on_reject(reason, from);
    }

    /// The plaintext reply to a message that failed an auth check (or nullopt).
    std::optional<Message> auth_error_reply(const any_auth_plugin& failing, const Message& received) {
        try {
            if (on_auth_error) return on_auth_error(failing, received);
            return default_auth_error_reply<E>(failing, received);
        } catch (const std::exception& e) {
            log.log(log_level::error, logger_name, [&] { return std::string("auth error handler threw: ") + e.what(); });
            return std::nullopt;
        }
    }

    /// Result of the receive pipeline up to the handler.
    struct opened {
        bool dispatch = false;               ///< call `entry` (or the default handler when null)
        entry_ptr entry;                     ///< the matched handler, null for the default
        std::optional<Message> auth_reply;   ///< on auth failure: what to send back, plaintext
    };

    /// Apply one receive layer; on failure count it, fill the auth reply and return the reason.
    std::error_code open_counted(Message& m, const handler_plugins& layer, const plugin_context& ctx,
                                 const peer_address& from, opened& out) {
        open_result r = open_layer(m, layer, ctx);
        if (r) return {};
        const errc reason = r.error.category() == error_category() ? static_cast<errc>(r.error.value())
                                                                   : (r.failed_auth ? errc::auth_failed : errc::decrypt_failed);
        reject(reason, from);
        if (r.failed_auth) out.auth_reply = auth_error_reply(*r.failed_auth, m);
        return make_error_code(reason);
    }

    /// Outer auth, outer decrypt, routing, inner auth, inner decrypt (PROTOCOL §9.2).
    /// An auth failure always stops processing: the handler never runs (BEHAVIOUR
    /// B34's Python bug is not reproduced).
    opened open_and_route(Message& m, const peer_address& from, const plugin_context& ctx) {
        opened out;
        if (open_counted(m, outer_layer(), ctx, from, out)) return out;
        out.entry = routes.take(m.type(), m.body.uri, from);
        if (out.entry && open_counted(m, out.entry->plugins, ctx, from, out)) return out;
        out.dispatch = true;
        return out;
    }

    /// Seal a reply or outgoing message and append its frame to `frame` (a recycled
    /// buffer, so the hot path allocates nothing once warm). False (counted) when a
    /// plugin or the encoder fails - the message is then not sent.
    bool seal_into(bytes& frame, Message m, const handler_plugins* inner, const handler_plugins& outer_layer_used,
                   const plugin_context& ctx, const peer_address& to) {
        return seal_in_place_into(frame, m, inner, outer_layer_used, ctx, to);
    }

    /// seal_into, sealing `m` itself: the caller keeps its buffers (to reuse them).
    bool seal_in_place_into(bytes& frame, Message& m, const handler_plugins* inner, const handler_plugins& outer_layer_used,
                            const plugin_context& ctx, const peer_address& to) {
        try {
            seal(m, inner, &outer_layer_used, ctx);
            return encode_counted(frame, m, to);
        } catch (const error& e) {
            reject(e.code().category() == error_category() ? static_cast<errc>(e.code().value()) : errc::encrypt_failed, to);
        } catch (const std::exception& e) {
            log.log(log_level::warning, logger_name, [&] { return std::string("preparing a message failed: ") + e.what(); });
            reject(errc::encrypt_failed, to);
        }
        return false;
    }

    /// Like seal_into, without copying the message when no plugin applies.
    bool frame_into(bytes& frame, const Message& m, const handler_plugins* inner, const handler_plugins& outer_layer_used,
                    const plugin_context& ctx, const peer_address& to) {
        const bool no_plugins = (!inner || (!inner->auth && !inner->cipher)) && !outer_layer_used.auth && !outer_layer_used.cipher;
        if (!no_plugins) return seal_into(frame, m, inner, outer_layer_used, ctx, to);
        return encode_counted(frame, m, to);
    }

    /// seal_into a fresh buffer; nullopt when it fails.
    std::optional<bytes> seal_to_frame(Message m, const handler_plugins* inner, const handler_plugins& outer_layer_used,
                                       const plugin_context& ctx, const peer_address& to) {
        bytes frame;
        if (!seal_into(frame, std::move(m), inner, outer_layer_used, ctx, to)) return std::nullopt;
        return frame;
    }

    /// frame_into a fresh buffer; nullopt when it fails.
    std::optional<bytes> frame_of(const Message& m, const handler_plugins* inner, const handler_plugins& outer_layer_used,
                                  const plugin_context& ctx, const peer_address& to) {
        bytes frame;
        if (!frame_into(frame, m, inner, outer_layer_used, ctx, to)) return std::nullopt;
        return frame;
    }

    /// Append m's frame to `frame`; counted errc::field_too_large when a part is too long.
    bool encode_counted(bytes& frame, const Message& m, const peer_address& to) {
        std::error_code ec;
        frame.reserve(frame.size() + header_size + 3 + m.body.size() + 16 * m.auth_data.size());
        m.encode_into(frame, ec);
        if (!ec) return true;
        reject(errc::field_too_large, to);
        return false;
    }

    /// Completion handler for the node's internal coroutines (accept loop, readers,
    /// sweeps, advertisers): an exception is logged, never lost, never rethrown
    /// into io_context::run(). `owner` is the object holding this core.
    report_exceptions reporter(std::weak_ptr<const void> owner, const char* what) {
        return {[this, owner = std::move(owner), what](std::exception_ptr e) {
            if (owner.expired()) return;  // `this` died with its owner
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log.log(log_level::error, logger_name, [&] { return std::string(what) + " failed: " + ex.what(); });
            } catch (...) {
                log.log(log_level::error, logger_name, [&] { return std::string(what) + " failed"; });
            }
        }};
    }

    /// Call a synchronous handler; a throwing handler yields an ERROR reply.
    std::optional<Message> call_sync(const entry_type& entry, Message& m, const Context& c) {
        ++stats.handler_calls;
        try {
            return std::get<typename entry_type::sync_fn>(entry.fn)(m, c);
        } catch (const std::exception& e) {
            return handler_failed(e.what());
        }
    }

    /// Call a coroutine handler with a deadline (0: none). A handler that throws
    /// yields ERROR "handler error"; one still running at its deadline is asked to
    /// stop, abandoned, and yields ERROR "handler timed out" (RELIABILITY E13).
    /// Either way the connection and the node live on.
    asio::awaitable<std::optional<Message>> call_async(entry_ptr entry, Message m, Context c,
                                                       std::chrono::milliseconds deadline) {
        ++stats.handler_calls;
        async_handler_outcome outcome = co_await run_with_deadline<Context>(
            std::get<typename entry_type::async_fn>(entry->fn), std::move(m), std::move(c), deadline);
        if (outcome.timed_out) co_return handler_timed_out(deadline);
        if (outcome.failure) co_return handler_failed(outcome.failure);
        co_return std::move(outcome.reply);
    }

    /// The reply when a handler throws (the connection lives on).
    std::optional<Message> handler_failed(const char* what) {
        stats.add(errc::handler_failed);
        log.log(log_level::error, logger_name, [&] { return std::string("handler threw: ") + what; });
        return make_error_msg("handler error");
    }
    std::optional<Message> handler_failed(const std::exception_ptr& failure) {
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            return handler_failed(e.what());
        } catch (...) {
            return handler_failed("an exception not derived from std::exception");
        }
    }

    /// The reply when a coroutine handler outlives its deadline.
    std::optional<Message> handler_timed_out(std::chrono::milliseconds deadline) {
        stats.add(errc::handler_timeout);
        log.log(log_level::warning, logger_name,
                [&] { return "handler still running after " + std::to_string(deadline.count()) + " ms: abandoned"; });
        return make_error_msg("handler timed out");
    }
};

}  // namespace detail
NETAIO_END_NAMESPACE
