// netaio/stats.hpp - per-reason counters every node keeps.
//
// Every frame a node refuses, every drop and every timeout is counted by its
// netaio::errc reason, so operators (and tests) can see what happened without
// logs. Traffic totals sit next to them. Nodes run on one executor; read the
// counters from it (or after it stopped).
#pragma once

#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <cstdint>
#include <map>
#include <string>

NETAIO_BEGIN_NAMESPACE

struct node_stats {
    std::uint64_t frames_received = 0;
    std::uint64_t frames_sent = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t writes = 0;  ///< socket write operations (TCP: each carries one or more frames)
    std::uint64_t handler_calls = 0;
    std::uint64_t connections_accepted = 0;
    std::uint64_t connections_closed = 0;
    std::uint64_t reconnects = 0;  ///< TCP client: lost connections re-established automatically

    /// Count of one reason (rejected frames, auth and decrypt failures, drops, timeouts...).
    std::uint64_t count(errc reason) const {
        auto it = rejected_.find(reason);
        return it == rejected_.end() ? 0 : it->second;
    }
    /// Sum over all reasons.
    std::uint64_t total_rejected() const {
        std::uint64_t sum = 0;
        for (const auto& [reason, n] : rejected_) sum += n;
        return sum;
    }
    void add(errc reason, std::uint64_t n = 1) { rejected_[reason] += n; }
    const std::map<errc, std::uint64_t>& by_reason() const noexcept { return rejected_; }

    /// One line per non-zero counter, for logs and tools.
    std::string to_string() const {
        std::string out = "frames_received=" + std::to_string(frames_received) + " frames_sent=" +
                          std::to_string(frames_sent) + " writes=" + std::to_string(writes) + " handler_calls=" + std::to_string(handler_calls) +
                          " connections_accepted=" + std::to_string(connections_accepted) +
                          " connections_closed=" + std::to_string(connections_closed);
        if (reconnects > 0) out += " reconnects=" + std::to_string(reconnects);
        for (const auto& [reason, n] : rejected_)
            out += " " + make_error_code(reason).message() + "=" + std::to_string(n);
        return out;
    }

private:
    std::map<errc, std::uint64_t> rejected_;
};

NETAIO_END_NAMESPACE
