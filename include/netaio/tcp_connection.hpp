// netaio/tcp_connection.hpp - a handle to one connection of a TCP server.
//
// Handlers of a TCPServer receive the connection a message came on; keep the
// handle to send to it later, subscribe it to topics, or close it. Handles are
// cheap to copy and compare by connection id; a handle to a closed connection
// stays valid (is_open() becomes false, sends fail).
#pragma once

#include <netaio/detail/tcp_session.hpp>
#include <netaio/peer.hpp>
#include <netaio/version.hpp>

#include <memory>

NETAIO_BEGIN_NAMESPACE

class tcp_connection {
public:
    tcp_connection() = default;
    explicit tcp_connection(std::shared_ptr<detail::tcp_session> session) : session_(std::move(session)) {}

    /// Unique within its server (starts at 1); 0 for an empty handle.
    std::uint64_t id() const noexcept { return session_ ? session_->id() : 0; }
    /// The client's address as the socket reports it.
    peer_address remote() const { return session_ ? session_->remote() : peer_address{}; }
    bool is_open() const noexcept { return session_ && session_->is_open(); }
    /// Frames queued for this connection and not yet written.
    std::size_t queued_messages() const noexcept { return session_ ? session_->queued_messages() : 0; }
    /// Close the connection now (queued frames are discarded).
    void close() {
        if (session_) session_->close(errc::stopped);
    }

    explicit operator bool() const noexcept { return session_ != nullptr; }
    friend bool operator==(const tcp_connection& a, const tcp_connection& b) noexcept { return a.id() == b.id(); }
    friend auto operator<=>(const tcp_connection& a, const tcp_connection& b) noexcept { return a.id() <=> b.id(); }

    /// The underlying session (library use).
    const std::shared_ptr<detail::tcp_session>& session() const noexcept { return session_; }

private:
    std::shared_ptr<detail::tcp_session> session_;
};

NETAIO_END_NAMESPACE
