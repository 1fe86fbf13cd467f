// netaio/handler.hpp - what a message handler may look like, and how it is stored.
//
// A handler receives the fully decrypted message and a context (the connection on
// a TCP server, the server key on a TCP client, the sender on a UDP node). It may
// be a plain function or a coroutine, take the context or not, and return a reply
// (Message), maybe a reply (std::optional<Message>) or nothing (void):
//
//     server.on({MessageType::REQUEST_URI, "echo"}, [](const Message& m) { return m; });
//     server.on({MessageType::REQUEST_URI, "echo"}, [](Message& m) {  // reuses m's buffers
//         return reply_in_place(m, MessageType::RESPOND_URI);
//     });
//     server.on(MessageType::PUBLISH_URI, [](const Message& m, const tcp_connection& c) -> std::optional<Message> {...});
//     server.on(MessageType::CREATE_URI, [](Message m, tcp_connection c) -> asio::awaitable<std::optional<Message>> {
//         co_await store(m);      // coroutine handlers take their arguments BY VALUE
//         co_return make_ok_msg("stored");
//     });
//
// A plain function handler may take the message as `Message&` and move it into its
// reply: the node takes the reply's buffers back once it is written, so such an echo
// allocates nothing once warm.
//
// Coroutine handlers must not be capturing lambdas (the captures die with the
// lambda object at the first suspension; GCC 12 also miscompiles some of them):
// pass state through a captureless lambda that calls a coroutine function.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/message.hpp>
#include <netaio/plugin.hpp>
#include <netaio/version.hpp>

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

NETAIO_BEGIN_NAMESPACE

/// Per-handler plugins (the inner layer, PROTOCOL §9.1).
struct handler_plugins {
    any_auth_plugin auth;
    any_cipher_plugin cipher;
};

namespace detail {

template <class T>
struct is_awaitable : std::false_type {};
template <class T, class Ex>
struct is_awaitable<asio::awaitable<T, Ex>> : std::true_type {};
template <class T>
struct awaitable_value {
    using type = T;
};
template <class T, class Ex>
struct awaitable_value<asio::awaitable<T, Ex>> {
    using type = T;
};

/// Turn a handler's return value into std::optional<Message>.
template <class R>
std::optional<Message> to_reply(R&& r) {
    using T = std::remove_cvref_t<R>;
    if constexpr (std::same_as<T, std::optional<Message>>)
        return std::forward<R>(r);
    else if constexpr (std::same_as<T, Message>)
        return std::optional<Message>(std::forward<R>(r));
    else
        static_assert(sizeof(T) == 0, "netaio: a handler returns Message, std::optional<Message> or void");
}

}  // namespace detail

/// A stored handler for context type `Context`, with its inner plugins.
template <class Context>
struct handler_entry {
    using sync_fn = std::function<std::optional<Message>(Message&, const Context&)>;
    using async_fn = std::function<asio::awaitable<std::optional<Message>>(Message, Context)>;

    std::variant<sync_fn, async_fn> fn;
    handler_plugins plugins;

    bool is_async() const noexcept { return fn.index() == 1; }
};

namespace detail {

/// Result type of calling F with (message, context) or (message).
template <class F, class Context>
auto call_handler(F& f, Message& m, const Context& c) {
    if constexpr (std::is_invocable_v<F&, Message&, const Context&>)
        return f(m, c);
    else
        return f(m);
}

template <class F, class Context>
using handler_result_t = decltype(call_handler(std::declval<F&>(), std::declval<Message&>(),
                                               std::declval<const Context&>()));

/// Coroutine adapter for async handlers: owns copies of its arguments.
template <class F, class Context>
asio::awaitable<std::optional<Message>> run_async_handler(std::shared_ptr<F> f, Message m, Context c) {
    using value_t = typename awaitable_value<handler_result_t<F, Context>>::type;
    if constexpr (std::is_void_v<value_t>) {
        co_await call_handler(*f, m, c);
        co_return std::nullopt;
    } else {
        co_return to_reply(co_await call_handler(*f, m, c));
    }
}

}  // namespace detail

template <class F, class Context>
concept message_handler = std::is_invocable_v<F&, Message&, const Context&> || std::is_invocable_v<F&, Message&>;

/// Build a handler entry from any supported callable.
template <class Context, class F>
    requires message_handler<std::decay_t<F>, Context>
std::shared_ptr<const handler_entry<Context>> make_handler_entry(F&& f, handler_plugins plugins = {}) {
    using Fn = std::decay_t<F>;
    using R = detail::handler_result_t<Fn, Context>;
    auto entry = std::make_shared<handler_entry<Context>>();
    entry->plugins = std::move(plugins);
    if constexpr (detail::is_awaitable<R>::value) {
        auto shared = std::make_shared<Fn>(std::forward<F>(f));
        entry->fn = typename handler_entry<Context>::async_fn(
            [shared](Message m, Context c) { return detail::run_async_handler<Fn, Context>(shared, std::move(m), std::move(c)); });
    } else if constexpr (std::is_void_v<R>) {
        entry->fn = typename handler_entry<Context>::sync_fn(
            [fn = Fn(std::forward<F>(f))](Message& m, const Context& c) mutable -> std::optional<Message> {
                detail::call_handler(fn, m, c);
                return std::nullopt;
            });
    } else {
        entry->fn = typename handler_entry<Context>::sync_fn(
            [fn = Fn(std::forward<F>(f))](Message& m, const Context& c) mutable -> std::optional<Message> {
                return detail::to_reply(detail::call_handler(fn, m, c));
            });
    }
    return entry;
}

NETAIO_END_NAMESPACE
