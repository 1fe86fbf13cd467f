// netaio/logging.hpp - logging through a callback sink; no logging dependency.
//
// Nodes log through a `logger`: a level threshold and a sink function. Messages
// below the threshold are never formatted. The default logger has no sink, so the
// library is silent unless asked. Give a node one in its options (field `log`; the
// name passed to the sink is the options' `logger_name`, e.g. "netaio.server"), or
// replace it later with set_logger():
//
//     options.log = netaio::stderr_logger(netaio::log_level::info);
//     options.log = {netaio::log_level::debug, [](netaio::log_level level, std::string_view name,
//                                                 std::string_view text) { ... }};
//     server.set_logger(netaio::stderr_logger(netaio::log_level::warning));
//
// What is logged: INFO for the life of connections ("server started on HOST:PORT",
// "client connected from ...", "connecting to HOST:PORT", "... closed (reason)"),
// WARNING for handlers abandoned at their deadline and messages that could not be
// prepared, ERROR for handlers that threw and failed accepts, DEBUG for every
// refused frame ("rejected from HOST:PORT: reason"). The sink is called on the
// node's executor, synchronously: keep it short.
#pragma once

#include <netaio/version.hpp>

#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

NETAIO_BEGIN_NAMESPACE

/// Python logging's levels and numbers; `off` disables a logger.
enum class log_level { debug = 10, info = 20, warning = 30, error = 40, off = 100 };

inline std::string_view to_string(log_level level) noexcept {
    switch (level) {
        case log_level::debug: return "DEBUG";
        case log_level::info: return "INFO";
        case log_level::warning: return "WARNING";
        case log_level::error: return "ERROR";
        case log_level::off: return "OFF";
    }
    return "?";
}

/// A level threshold and a sink. Copyable; an empty sink logs nothing.
struct logger {
    using sink_type = std::function<void(log_level level, std::string_view logger_name, std::string_view text)>;

    log_level level = log_level::info;
    sink_type sink{};

    /// True when a line at level `l` reaches the sink.
    bool enabled(log_level l) const noexcept { return sink && l >= level && level != log_level::off; }

    /// Log `make_text()` (only called when the level is enabled).
    template <class MakeText>
    void log(log_level l, std::string_view logger_name, MakeText&& make_text) const {
        if (!enabled(l)) return;
        if constexpr (std::is_convertible_v<MakeText, std::string_view>) {
            sink(l, logger_name, std::string_view(make_text));
        } else {
            const std::string text = make_text();
            sink(l, logger_name, text);
        }
    }
};

/// A logger writing "LEVEL - name - text" lines to stderr.
inline logger stderr_logger(log_level level = log_level::info) {
    return logger{level, [](log_level l, std::string_view name, std::string_view text) {
                      std::fprintf(stderr, "%s - %.*s - %.*s\n", to_string(l).data(), static_cast<int>(name.size()),
                                   name.data(), static_cast<int>(text.size()), text.data());
                  }};
}

NETAIO_END_NAMESPACE
