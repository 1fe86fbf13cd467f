// netaio/detail/node_api.hpp - the public calls every node kind shares: handler
// registration (BEHAVIOUR B2-B6) and the outer plugins, logger and counters.
//
// TCPServer, TCPClient and UDPNode derive from it; `Impl` is the node's shared
// state (which owns a node_core in `core`) and `Context` what its handlers receive.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/handler.hpp>
#include <netaio/logging.hpp>
#include <netaio/options.hpp>
#include <netaio/plugin.hpp>
#include <netaio/routing.hpp>
#include <netaio/stats.hpp>
#include <netaio/version.hpp>

#include <memory>
#include <type_traits>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

template <class Impl, class Context>
class node_api {
public:
    node_api(const node_api&) = delete;
    node_api& operator=(const node_api&) = delete;

    // ---- handlers (BEHAVIOUR B2-B6) -------------------------------------------------

    /// Register (or replace) a handler; `plugins` is its inner layer.
    template <class F>
        requires message_handler<std::decay_t<F>, Context>
    void on(route_key key, F&& handler, handler_plugins plugins = {}) {
        impl_->core.routes.add(std::move(key), make_handler_entry<Context>(std::forward<F>(handler), std::move(plugins)));
    }
    /// Register a handler used for the next matching message only.
    template <class F>
        requires message_handler<std::decay_t<F>, Context>
    void once(route_key key, F&& handler, handler_plugins plugins = {}) {
        impl_->core.routes.add_ephemeral(std::move(key), make_handler_entry<Context>(std::forward<F>(handler), std::move(plugins)));
    }
    /// netaio's names for on() and once().
    template <class F>
    void add_handler(route_key key, F&& handler, handler_plugins plugins = {}) {
        on(std::move(key), std::forward<F>(handler), std::move(plugins));
    }
    template <class F>
    void add_ephemeral_handler(route_key key, F&& handler, handler_plugins plugins = {}) {
        once(std::move(key), std::forward<F>(handler), std::move(plugins));
    }
    /// Remove; false (and no effect) when absent (B3).
    bool remove_handler(const route_key& key) { return impl_->core.routes.remove(key); }
    bool remove_ephemeral_handler(const route_key& key) { return impl_->core.routes.remove_ephemeral(key); }

    // ---- plugins, logging, counters ----------------------------------------------------

    /// Replace the outer layer at any time (B15).
    void set_auth_plugin(any_auth_plugin p) { impl_->core.outer.auth = std::move(p); }
    void set_cipher_plugin(any_cipher_plugin p) { impl_->core.outer.cipher = std::move(p); }
    void set_logger(logger l) { impl_->core.log = std::move(l); }
    void set_auth_error_handler(auth_error_handler h) { impl_->core.on_auth_error = std::move(h); }
    void set_reject_callback(reject_callback cb) { impl_->core.on_reject = std::move(cb); }
    /// Traffic totals and per-reason counters.
    const node_stats& stats() const noexcept { return impl_->core.stats; }
    asio::any_io_executor get_executor() const { return impl_->executor(); }

protected:
    explicit node_api(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    ~node_api() = default;

    std::shared_ptr<Impl> impl_;
};

}  // namespace detail
NETAIO_END_NAMESPACE
