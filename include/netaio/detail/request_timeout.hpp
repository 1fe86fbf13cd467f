// netaio/detail/request_timeout.hpp - what a request timeout reports: netaio's
// TimeoutError text and the timeout handler's event (BEHAVIOUR B64, B67, B91).
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/detail/request_table.hpp>
#include <netaio/detail/utf8.hpp>
#include <netaio/errors.hpp>
#include <netaio/options.hpp>
#include <netaio/version.hpp>

#include <charconv>
#include <chrono>
#include <string>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// A duration in seconds as Python prints a float: the shortest text that reads back
/// as the same double, and ".0" when it is whole (0.2 -> "0.2", 10 s -> "10.0").
/// Durations in milliseconds stay below 1e16 s, where Python would switch to exponents.
inline std::string python_float_seconds(std::chrono::milliseconds d) {
    const double seconds = static_cast<double>(d.count()) / 1000.0;
    char text[64];
    const auto [end, ec] = std::to_chars(text, text + sizeof text, seconds, std::chars_format::fixed);
    std::string out = ec == std::errc() ? std::string(text, end) : std::to_string(seconds);
    if (out.find('.') == std::string::npos) out += ".0";
    return out;
}

/// netaio's TimeoutError text: "Request for URI <uri> timed out after <seconds>s", the
/// uri decoded as UTF-8 with invalid bytes replaced by U+FFFD; UDP adds " @ <where>".
inline std::string request_timeout_text(const bytes& uri, std::chrono::milliseconds timeout, const std::string& where = {}) {
    std::string text = "Request for URI " + utf8_replacing_invalid(uri);
    if (!where.empty()) text += " @ " + where;
    return text + " timed out after " + python_float_seconds(timeout) + "s";
}

/// The event of a request that timed out (netaio's handler arguments timeout_type,
/// server, error and context).
inline timeout_event make_request_timeout_event(const peer_address& server, const bytes& uri, std::chrono::milliseconds timeout,
                                                MessageType request_type, std::string text) {
    timeout_event event;
    event.timeout_type = "request_timeout";
    event.server = server;
    event.error = make_error_code(errc::timed_out);
    event.message = std::move(text);
    event.context.uri = uri;
    event.context.timeout = timeout;
    event.context.server = server;
    event.context.response_types = response_types_for(request_type);
    return event;
}

}  // namespace detail
NETAIO_END_NAMESPACE
