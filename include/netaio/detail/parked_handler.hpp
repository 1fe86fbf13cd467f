// netaio/detail/parked_handler.hpp - a completion handler held until an event completes it.
//
// A request waits for its reply by parking its coroutine's completion handler here;
// the reader completes it the moment the reply is decoded. Compared with parking on
// a timer that the reply cancels, this spares a timer schedule and cancel and a turn
// of the executor per request.
//
// - No allocation: handlers of up to `inline_capacity` bytes (a coroutine's handler
//   is a few pointers) are stored in place; larger ones go to the heap.
// - Reentrancy: complete() moves the handler out before invoking it, and touches
//   nothing of this object afterwards, so the resumed coroutine may park a new
//   handler here, or release the object that holds it.
// - Executors: a handler whose associated executor is the owner's runs inline (we
//   are on that executor); any other is posted to its own executor, which is kept
//   busy (outstanding work) while the handler is parked.
// - Cancellation: a connected cancellation slot (e.g. a request raced with
//   `awaitable_operators::operator||`) gets a handler that calls `on_cancel`.
#pragma once

#include <netaio/detail/asio_compat.hpp>
#include <netaio/version.hpp>

#include <asio/associated_cancellation_slot.hpp>
#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/cancellation_type.hpp>
#include <asio/execution/outstanding_work.hpp>
#include <asio/post.hpp>
#include <asio/prefer.hpp>

#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <type_traits>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

class parked_handler {
public:
    using cancel_callback = void (*)(void* owner);

    parked_handler() = default;
    parked_handler(const parked_handler&) = delete;
    parked_handler& operator=(const parked_handler&) = delete;
    ~parked_handler() { destroy(); }

    bool parked() const noexcept { return ops_ != nullptr; }

    /// Destroy the parked handler without resuming it (its io_context is shutting
    /// down: what Asio does with the handlers of pending operations).
    void abandon() noexcept { destroy(); }

    /// Hold `handler` (signature void(std::error_code)). `home` is the executor the
    /// owner runs on (and completes from). `on_cancel(owner)` is called if the
    /// handler's cancellation slot is signalled while it is parked.
    template <class Handler>
    void park(Handler&& handler, const asio::any_io_executor& home, void* owner, cancel_callback on_cancel) {
        using H = std::decay_t<Handler>;
        destroy();
        const auto executor = asio::get_associated_executor(handler, home);
        inline_ = executor == home;
        if (!inline_)
            foreign_work_.emplace(asio::prefer(asio::any_io_executor(executor), asio::execution::outstanding_work.tracked));
        slot_ = asio::get_associated_cancellation_slot(handler);
        if constexpr (fits<H>) {
            ::new (static_cast<void*>(storage_)) H(std::forward<Handler>(handler));
        } else {
            ::new (static_cast<void*>(storage_)) H*(new H(std::forward<Handler>(handler)));
        }
        ops_ = &ops_for<H>;
        if (slot_.is_connected()) slot_.template emplace<canceller>(owner, on_cancel);
    }

    /// Resume the parked handler with `ec` (no-op when nothing is parked).
    void complete(std::error_code ec) {
        if (!ops_) return;
        if (slot_.is_connected()) slot_.clear();
        slot_ = {};
        const ops* o = std::exchange(ops_, nullptr);
        if (!inline_) {
            asio::any_io_executor work = std::move(*foreign_work_);
            foreign_work_.reset();
            return o->post(storage_, work, ec);
        }
        // The resumed coroutine runs on our stack until it suspends; nothing of this
        // object is used afterwards (it may be gone). Should the coroutine end, co_spawn
        // dispatches its completion handler through the io_context's executor, which
        // captures an exception thrown there and rethrows it from run() once the
        // current handler is done: it does not unwind through whoever completed us
        // (e.g. a connection's reader).
        o->invoke(storage_, ec);
    }

private:
    static constexpr std::size_t inline_capacity = 64;

    template <class H>
    static constexpr bool fits = sizeof(H) <= inline_capacity && alignof(H) <= alignof(std::max_align_t);

    struct ops {
        void (*invoke)(void* storage, std::error_code ec);  // moves the handler out, then calls it
        void (*post)(void* storage, const asio::any_io_executor& ex, std::error_code ec);
        void (*destroy)(void* storage);
    };

    template <class H>
    static H take(void* storage) {
        if constexpr (fits<H>) {
            H* p = std::launder(static_cast<H*>(storage));
            H h(std::move(*p));
            p->~H();
            return h;
        } else {
            std::unique_ptr<H> p(*std::launder(static_cast<H**>(storage)));
            return H(std::move(*p));
        }
    }

    template <class H>
    static constexpr ops ops_for{
        [](void* storage, std::error_code ec) {
            H h = take<H>(storage);
            std::move(h)(ec);
        },
        [](void* storage, const asio::any_io_executor& ex, std::error_code ec) {
            asio::post(ex, [h = take<H>(storage), ec]() mutable { std::move(h)(ec); });
        },
        [](void* storage) {
            if constexpr (fits<H>) {
                std::launder(static_cast<H*>(storage))->~H();
            } else {
                delete *std::launder(static_cast<H**>(storage));
            }
        },
    };

    struct canceller {
        canceller(void* o, cancel_callback f) : owner(o), on_cancel(f) {}
        void* owner;
        cancel_callback on_cancel;
        void operator()(asio::cancellation_type type) const {
            if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                         asio::cancellation_type::total)) != asio::cancellation_type::none)
                on_cancel(owner);
        }
    };

    void destroy() noexcept {
        if (!ops_) return;
        if (slot_.is_connected()) slot_.clear();
        slot_ = {};
        std::exchange(ops_, nullptr)->destroy(storage_);
        foreign_work_.reset();
    }

    alignas(std::max_align_t) unsigned char storage_[inline_capacity];
    const ops* ops_ = nullptr;
    bool inline_ = true;
    std::optional<asio::any_io_executor> foreign_work_;  // keeps a foreign executor busy
    asio::cancellation_slot slot_;
};

}  // namespace detail
NETAIO_END_NAMESPACE
