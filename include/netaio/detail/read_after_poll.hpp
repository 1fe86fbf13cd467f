// netaio/detail/read_after_poll.hpp - start a socket read one scheduler pass later.
#pragma once

#include <netaio/version.hpp>

#include <asio/async_result.hpp>
#include <asio/buffer.hpp>
#include <asio/post.hpp>

#include <cstddef>
#include <system_error>
#include <utility>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// `socket.async_read_some(buffer, token)`, started from a posted function instead of
/// right away.
///
/// Why: Asio tries every read once before it waits (a "speculative" recv). A reader
/// that re-arms the moment it has answered finds nothing yet, so that recv is a wasted
/// system call, and with many connections the thread then drains its queue and calls
/// epoll_wait for each single event. Started after the other ready handlers and the
/// next reactor poll, the speculative recv usually finds the next frame already there.
template <typename Socket, typename Token>
auto async_read_some_after_poll(Socket& socket, asio::mutable_buffer buffer, Token&& token) {
    return asio::async_initiate<Token, void(std::error_code, std::size_t)>(
        [](auto handler, Socket* s, asio::mutable_buffer b) {
            asio::post(s->get_executor(), [handler = std::move(handler), s, b]() mutable {
                s->async_read_some(b, std::move(handler));
            });
        },
        token, &socket, buffer);
}

}  // namespace detail
NETAIO_END_NAMESPACE
