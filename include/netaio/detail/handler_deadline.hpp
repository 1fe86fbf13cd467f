// netaio/detail/handler_deadline.hpp - a coroutine handler raced against its deadline
// (RELIABILITY E13: a handler that never returns must not hold its connection).
//
// The handler runs as a coroutine of its own; the caller sleeps on a timer that the
// handler's completion cancels. Past the deadline the caller stops waiting: the
// handler is asked to stop (terminal cancellation reaches whatever it awaits) and its
// eventual result, if it ever comes, is dropped. Asio's awaitable `||` would not do:
// it waits for the losing side to finish, which is exactly what a stuck handler never
// does.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/message.hpp>
#include <netaio/version.hpp>

#include <asio/bind_cancellation_slot.hpp>
#include <asio/cancellation_signal.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// How a coroutine handler ended.
struct async_handler_outcome {
    std::optional<Message> reply;  ///< what it returned
    std::exception_ptr failure;    ///< what it threw
    bool timed_out = false;        ///< still running at the deadline (abandoned)
};

/// Shared by the waiting caller and the handler's completion, which may outlive it.
struct handler_race {
    explicit handler_race(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;          ///< the deadline; cancelled when the handler ends
    asio::cancellation_signal cancel;  ///< asks an abandoned handler to stop
    async_handler_outcome outcome;
    bool finished = false;
};

/// Completion of the spawned handler: record the outcome and wake the caller.
struct handler_race_done {
    std::shared_ptr<handler_race> race;
    void operator()(std::exception_ptr failure, std::optional<Message> reply) const {
        race->finished = true;
        race->outcome.failure = std::move(failure);
        race->outcome.reply = std::move(reply);
        race->timer.cancel();
    }
};

/// Run `fn(m, c)` for at most `deadline` (0 or less: no deadline, awaited in place).
template <class Context>
asio::awaitable<async_handler_outcome> run_with_deadline(
    const std::function<asio::awaitable<std::optional<Message>>(Message, Context)>& fn, Message m, Context c,
    std::chrono::milliseconds deadline) {
    if (deadline.count() <= 0) {
        async_handler_outcome outcome;
        try {
            outcome.reply = co_await fn(std::move(m), std::move(c));
        } catch (...) {
            outcome.failure = std::current_exception();
        }
        co_return outcome;
    }
    const asio::any_io_executor ex = co_await asio::this_coro::executor;
    auto race = std::make_shared<handler_race>(ex);
    race->timer.expires_after(deadline);
    asio::co_spawn(ex, fn(std::move(m), std::move(c)),
                   asio::bind_cancellation_slot(race->cancel.slot(), handler_race_done{race}));
    auto [ec] = co_await race->timer.async_wait(use_nothrow);
    (void)ec;  // operation_aborted: the handler finished first
    if (!race->finished) {
        race->cancel.emit(asio::cancellation_type::terminal);
        async_handler_outcome abandoned;
        abandoned.timed_out = true;
        co_return abandoned;
    }
    co_return std::move(race->outcome);
}

}  // namespace detail
NETAIO_END_NAMESPACE
