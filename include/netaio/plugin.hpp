// netaio/plugin.hpp - what an auth or cipher plugin is, and type-erased handles.
//
// Plugins are sans-I/O: they transform or verify a Message and never touch a
// socket. Nodes apply them in two layers (PROTOCOL.md §9.1):
//   send:    inner cipher encrypt, inner auth make, outer cipher encrypt, outer auth make
//   receive: outer auth check, outer cipher decrypt, inner auth check, inner cipher decrypt
// Outer plugins are fixed per node; inner plugins come with a handler or a call,
// so they are held through the copyable handles any_auth_plugin / any_cipher_plugin.
#pragma once

#include <netaio/errors.hpp>
#include <netaio/logging.hpp>
#include <netaio/message.hpp>
#include <netaio/version.hpp>

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

NETAIO_BEGIN_NAMESPACE

struct Peer;               // <netaio/peer.hpp>
class DefaultPeerPlugin;   // <netaio/peer.hpp>

/// Which kind of node applies a plugin.
enum class node_kind : std::uint8_t { tcp_server, tcp_client, udp_node };

/// The node applying a plugin, as the plugin may see it.
///
/// netaio passes the node itself to every plugin call (make(..., node, peer,
/// peer_plugin)). Nodes here are templates on their message-type enum and own
/// sockets a plugin must not touch, so plugins get this read-only view instead:
/// what kind of node it is, its own identity and its logger. It lives as long as
/// the node; plugins must not keep the pointer beyond the call.
struct node_view {
    node_kind kind = node_kind::tcp_server;
    /// The node's own peer (its options.local_peer), or nullptr when it has none.
    const Peer* local_peer = nullptr;
    /// The node's logger and logger name (nullptr: none).
    const logger* node_logger = nullptr;
    std::string_view logger_name{};

    /// Log through the node's logger, so that a plugin's lines go where its node's do.
    template <class MakeText>
    void log(log_level level, MakeText&& make_text) const {
        if (node_logger) node_logger->log(level, logger_name, std::forward<MakeText>(make_text));
    }
};

/// What a plugin may know about the exchange: the node applying it, the other
/// side, and the message type.
///
/// Peer-specific plugins (is_peer_specific() == true, e.g. X25519) need the
/// remote peer; the symmetric plugins ignore the context.
struct plugin_context {
    // Constructors (not an aggregate) so that plugin_context{peer, peer_plugin}
    // stays valid, without -Wmissing-field-initializers, as members are added.
    plugin_context() = default;
    plugin_context(const Peer* remote, const DefaultPeerPlugin* plugin = nullptr,
                   std::optional<std::uint8_t> type = std::nullopt, const node_view* applying_node = nullptr) noexcept
        : peer(remote), peer_plugin(plugin), message_type(type), node(applying_node) {}

    /// The remote peer when known, else nullptr.
    const Peer* peer = nullptr;
    /// The node's peer plugin (decodes peer data), else nullptr.
    const DefaultPeerPlugin* peer_plugin = nullptr;
    /// The type byte of the message being sealed or opened. AuthPlugin::make and
    /// check see only the auth fields and the body, so the pipeline
    /// (detail/pipeline.hpp) fills this in for every auth call; plugins that bind
    /// the type (Ed25519AuthPlugin signs it) need it, the others ignore it.
    /// nullopt when a caller applies a plugin by hand without saying.
    std::optional<std::uint8_t> message_type;
    /// The node applying the plugin (every node fills it in), else nullptr when a
    /// caller applies a plugin by hand.
    const node_view* node = nullptr;
};

/// An authentication plugin: adds auth fields to outgoing messages and checks incoming ones.
///
/// - make(fields, body, ctx): add this layer's auth fields for `body` (the body as
///   it will be framed at this layer). May throw netaio::error.
/// - check(fields, body, ctx): an empty error_code when the message verifies,
///   otherwise the reason (errc::auth_failed, missing_auth_field,
///   bad_auth_field_length, replayed, replay_cache_full, stale_timestamp, ...).
/// - error(): the AUTH_ERROR reply sent to a peer whose message failed check().
/// - is_peer_specific(): whether make() depends on the peer (disables the
///   prepare-once broadcast optimisation, PROTOCOL.md §9.7).
template <class P>
concept AuthPlugin = requires(P& p, AuthFields& f, const AuthFields& cf, const Body& b, const plugin_context& ctx) {
    { p.make(f, b, ctx) } -> std::same_as<void>;
    { p.check(cf, b, ctx) } -> std::same_as<std::error_code>;
    { p.error() } -> std::same_as<Message>;
    { p.is_peer_specific() } -> std::convertible_to<bool>;
};

/// A cipher plugin: transforms a whole message in place.
///
/// - encrypt(message, ctx): replace body (and possibly auth fields) with the
///   encrypted form. May throw netaio::error (e.g. errc::content_too_long).
/// - decrypt(message, ctx): restore the plaintext; an empty error_code on
///   success, otherwise the reason (errc::decrypt_failed, ...). On failure the
///   message is left unchanged.
/// - is_peer_specific(): as for AuthPlugin.
template <class P>
concept CipherPlugin = requires(P& p, Message& m, const plugin_context& ctx) {
    { p.encrypt(m, ctx) } -> std::same_as<void>;
    { p.decrypt(m, ctx) } -> std::same_as<std::error_code>;
    { p.is_peer_specific() } -> std::convertible_to<bool>;
};

namespace detail {

[[noreturn]] inline void throw_empty_plugin_handle() {
    throw error(errc::bad_plugin_config, "netaio: call through an empty plugin handle");
}

}  // namespace detail

/// A copyable, nullable handle to any AuthPlugin (itself an AuthPlugin).
///
/// The handle has pointer semantics: its calls are const because they do not
/// change the handle, only (possibly) the shared plugin behind it.
/// Copies share one plugin instance, so state such as a replay cache is shared
/// too. A default-constructed handle is empty: `if (handle)` tests for a plugin,
/// is_peer_specific() is false, and the other calls throw
/// netaio::error(errc::bad_plugin_config).
class any_auth_plugin {
public:
    any_auth_plugin() = default;
    any_auth_plugin(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)

    /// Take ownership of a plugin value.
    template <class P>
        requires(!std::same_as<std::remove_cvref_t<P>, any_auth_plugin> && AuthPlugin<std::remove_cvref_t<P>>)
    any_auth_plugin(P&& plugin)  // NOLINT(google-explicit-constructor)
        : impl_(std::make_shared<model<std::remove_cvref_t<P>>>(
              std::make_shared<std::remove_cvref_t<P>>(std::forward<P>(plugin)))) {}

    /// Share a plugin the caller keeps access to (e.g. to inspect its replay cache).
    template <AuthPlugin P>
    any_auth_plugin(std::shared_ptr<P> plugin)  // NOLINT(google-explicit-constructor)
        : impl_(plugin ? std::make_shared<model<P>>(std::move(plugin)) : nullptr) {}

    explicit operator bool() const noexcept { return impl_ != nullptr; }

    void make(AuthFields& fields, const Body& body, const plugin_context& ctx) const {
        if (!impl_) detail::throw_empty_plugin_handle();
        impl_->make(fields, body, ctx);
    }
    std::error_code check(const AuthFields& fields, const Body& body, const plugin_context& ctx) const {
        if (!impl_) detail::throw_empty_plugin_handle();
        return impl_->check(fields, body, ctx);
    }
    Message error() const {
        if (!impl_) detail::throw_empty_plugin_handle();
        return impl_->error();
    }
    bool is_peer_specific() const { return impl_ && impl_->is_peer_specific(); }

private:
    struct iface {
        virtual ~iface() = default;
        virtual void make(AuthFields&, const Body&, const plugin_context&) = 0;
        virtual std::error_code check(const AuthFields&, const Body&, const plugin_context&) = 0;
        virtual Message error() = 0;
        virtual bool is_peer_specific() const = 0;
    };
    template <class P>
    struct model final : iface {
        explicit model(std::shared_ptr<P> p) : plugin(std::move(p)) {}
        void make(AuthFields& f, const Body& b, const plugin_context& ctx) override { plugin->make(f, b, ctx); }
        std::error_code check(const AuthFields& f, const Body& b, const plugin_context& ctx) override {
            return plugin->check(f, b, ctx);
        }
        Message error() override { return plugin->error(); }
        bool is_peer_specific() const override { return static_cast<bool>(plugin->is_peer_specific()); }
        std::shared_ptr<P> plugin;
    };
    std::shared_ptr<iface> impl_;
};

/// A copyable, nullable handle to any CipherPlugin (itself a CipherPlugin).
///
/// Same sharing and emptiness rules as any_auth_plugin.
class any_cipher_plugin {
public:
    any_cipher_plugin() = default;
    any_cipher_plugin(std::nullptr_t) {}  // NOLINT(google-explicit-constructor)

    /// Take ownership of a plugin value.
    template <class P>
        requires(!std::same_as<std::remove_cvref_t<P>, any_cipher_plugin> && CipherPlugin<std::remove_cvref_t<P>>)
    any_cipher_plugin(P&& plugin)  // NOLINT(google-explicit-constructor)
        : impl_(std::make_shared<model<std::remove_cvref_t<P>>>(
              std::make_shared<std::remove_cvref_t<P>>(std::forward<P>(plugin)))) {}

    /// Share a plugin the caller keeps access to.
    template <CipherPlugin P>
    any_cipher_plugin(std::shared_ptr<P> plugin)  // NOLINT(google-explicit-constructor)
        : impl_(plugin ? std::make_shared<model<P>>(std::move(plugin)) : nullptr) {}

    explicit operator bool() const noexcept { return impl_ != nullptr; }

    void encrypt(Message& message, const plugin_context& ctx) const {
        if (!impl_) detail::throw_empty_plugin_handle();
        impl_->encrypt(message, ctx);
    }
    std::error_code decrypt(Message& message, const plugin_context& ctx) const {
        if (!impl_) detail::throw_empty_plugin_handle();
        return impl_->decrypt(message, ctx);
    }
    bool is_peer_specific() const { return impl_ && impl_->is_peer_specific(); }

private:
    struct iface {
        virtual ~iface() = default;
        virtual void encrypt(Message&, const plugin_context&) = 0;
        virtual std::error_code decrypt(Message&, const plugin_context&) = 0;
        virtual bool is_peer_specific() const = 0;
    };
    template <class P>
    struct model final : iface {
        explicit model(std::shared_ptr<P> p) : plugin(std::move(p)) {}
        void encrypt(Message& m, const plugin_context& ctx) override { plugin->encrypt(m, ctx); }
        std::error_code decrypt(Message& m, const plugin_context& ctx) override { return plugin->decrypt(m, ctx); }
        bool is_peer_specific() const override { return static_cast<bool>(plugin->is_peer_specific()); }
        std::shared_ptr<P> plugin;
    };
    std::shared_ptr<iface> impl_;
};

static_assert(AuthPlugin<any_auth_plugin>);
static_assert(CipherPlugin<any_cipher_plugin>);

NETAIO_END_NAMESPACE
