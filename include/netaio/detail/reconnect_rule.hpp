// netaio/detail/reconnect_rule.hpp - whether a TCP client reconnects after losing a
// connection, decided by why it closed (README, "Automatic reconnect").
//
// A connection the client closed by its own policy (idle_timeout) was healthy, only
// quiet: reconnecting would reopen it every idle_timeout, forever. A server that
// broke the protocol (a bad or oversized frame, a frame left unfinished) is retried,
// but its connection never counts as proven, so the backoff keeps growing. Any other
// loss (the server closed or reset, a write deadline) is retried, and the backoff
// starts over if the connection had stayed up for reconnect_options::stable_after.
#pragma once

#include <netaio/errors.hpp>
#include <netaio/version.hpp>

NETAIO_BEGIN_NAMESPACE
namespace detail {

enum class after_loss {
    stay_closed,         ///< no automatic reconnect
    reconnect,           ///< reconnect; a connection that lasted stable_after resets the backoff
    reconnect_unproven,  ///< reconnect; the backoff goes on growing however long it lasted
};

/// The rule for a connection closed with `reason` (its tcp_session::close_reason()),
/// not by close() / close_all() / a new connect().
constexpr after_loss reconnect_rule(errc reason) noexcept {
    if (reason == errc::idle_timeout || reason == errc::stopped) return after_loss::stay_closed;
    const int value = static_cast<int>(reason);
    const bool frame_or_packify_error = value >= 1 && value < 200;  // the decoder's fatal errors
    if (frame_or_packify_error || reason == errc::frame_timeout || reason == errc::protocol_errors)
        return after_loss::reconnect_unproven;
    return after_loss::reconnect;
}

}  // namespace detail
NETAIO_END_NAMESPACE
