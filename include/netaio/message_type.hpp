// netaio/message_type.hpp - message types: netaio's built-in set and custom sets.
//
// The type is one byte on the wire. Values 0-30 are reserved for the protocol (19
// of them are assigned, below); applications add their own types at 31-255.
//
// A custom set known at compile time is an enum that repeats the defaults and adds
// its own values, registered through `message_type_traits`:
//
//     enum class ChatType : std::uint8_t { NETAIO_DEFAULT_MESSAGE_TYPES, CHAT = 31, TYPING = 32 };
//     template <> struct netaio::message_type_traits<ChatType> {
//         static constexpr auto entries = netaio::with_default_message_types<ChatType>(
//             {{"CHAT", ChatType::CHAT}, {"TYPING", ChatType::TYPING}});
//     };
//     static_assert(netaio::valid_message_type_enum<ChatType>());
//
// A set built at run time (e.g. from configuration) is a `message_type_class`, made
// by `make_message_type_class` and checked by `validate_message_type_class`, with
// the same rules and errors as Python's functions of the same names.
#pragma once

#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

NETAIO_BEGIN_NAMESPACE

/// The netaio 0.0.9 built-in message types. Any byte value converts to this enum
/// (custom types included); only the named ones are known to the default set.
enum class MessageType : std::uint8_t {
    REQUEST_URI = 0,
    RESPOND_URI = 1,
    CREATE_URI = 2,
    UPDATE_URI = 3,
    DELETE_URI = 4,
    SUBSCRIBE_URI = 5,
    UNSUBSCRIBE_URI = 6,
    PUBLISH_URI = 7,
    NOTIFY_URI = 8,
    ADVERTISE_PEER = 9,
    OK = 10,
    CONFIRM_SUBSCRIBE = 11,
    CONFIRM_UNSUBSCRIBE = 12,
    PEER_DISCOVERED = 13,
    ERROR = 20,
    AUTH_ERROR = 23,
    NOT_FOUND = 24,
    NOT_PERMITTED = 25,
    DISCONNECT = 30,
};

/// The enumerators of MessageType, for custom enums that must repeat them.
#define NETAIO_DEFAULT_MESSAGE_TYPES                                                                      \
    REQUEST_URI = 0, RESPOND_URI = 1, CREATE_URI = 2, UPDATE_URI = 3, DELETE_URI = 4, SUBSCRIBE_URI = 5, \
    UNSUBSCRIBE_URI = 6, PUBLISH_URI = 7, NOTIFY_URI = 8, ADVERTISE_PEER = 9, OK = 10,                    \
    CONFIRM_SUBSCRIBE = 11, CONFIRM_UNSUBSCRIBE = 12, PEER_DISCOVERED = 13, ERROR = 20, AUTH_ERROR = 23,  \
    NOT_FOUND = 24, NOT_PERMITTED = 25, DISCONNECT = 30

/// Highest value reserved for the protocol; custom types start above it.
inline constexpr int max_reserved_message_type = 30;
inline constexpr int max_message_type = 255;

/// One named message type.
template <class E>
struct message_type_entry {
    std::string_view name;
    E value;
};

inline constexpr std::array<message_type_entry<MessageType>, 19> default_message_types{{
    {"REQUEST_URI", MessageType::REQUEST_URI},
    {"RESPOND_URI", MessageType::RESPOND_URI},
    {"CREATE_URI", MessageType::CREATE_URI},
    {"UPDATE_URI", MessageType::UPDATE_URI},
    {"DELETE_URI", MessageType::DELETE_URI},
    {"SUBSCRIBE_URI", MessageType::SUBSCRIBE_URI},
    {"UNSUBSCRIBE_URI", MessageType::UNSUBSCRIBE_URI},
    {"PUBLISH_URI", MessageType::PUBLISH_URI},
    {"NOTIFY_URI", MessageType::NOTIFY_URI},
    {"ADVERTISE_PEER", MessageType::ADVERTISE_PEER},
    {"OK", MessageType::OK},
    {"CONFIRM_SUBSCRIBE", MessageType::CONFIRM_SUBSCRIBE},
    {"CONFIRM_UNSUBSCRIBE", MessageType::CONFIRM_UNSUBSCRIBE},
    {"PEER_DISCOVERED", MessageType::PEER_DISCOVERED},
    {"ERROR", MessageType::ERROR},
    {"AUTH_ERROR", MessageType::AUTH_ERROR},
    {"NOT_FOUND", MessageType::NOT_FOUND},
    {"NOT_PERMITTED", MessageType::NOT_PERMITTED},
    {"DISCONNECT", MessageType::DISCONNECT},
}};

/// Name of a built-in type, or an empty view for other values.
constexpr std::string_view default_message_type_name(std::uint8_t value) noexcept {
    for (const auto& e : default_message_types)
        if (static_cast<std::uint8_t>(e.value) == value) return e.name;
    return {};
}

/// Registration of a message-type enum: specialise with `static constexpr entries`
/// (a std::array of message_type_entry<E>) listing every enumerator by name.
template <class E>
struct message_type_traits;

template <>
struct message_type_traits<MessageType> {
    static constexpr auto entries = default_message_types;
};

/// The defaults (with their values, as enumerators of E) followed by `custom`.
template <class E, std::size_t N>
constexpr std::array<message_type_entry<E>, 19 + N> with_default_message_types(
    const message_type_entry<E> (&custom)[N]) {
    std::array<message_type_entry<E>, 19 + N> out{};
    for (std::size_t i = 0; i < 19; ++i)
        out[i] = {default_message_types[i].name, static_cast<E>(static_cast<int>(default_message_types[i].value))};
    for (std::size_t i = 0; i < N; ++i) out[19 + i] = custom[i];
    return out;
}

template <class E>
concept message_type_enum = std::is_enum_v<E> && requires { message_type_traits<E>::entries; };

namespace detail {

template <class E>
constexpr int entry_value(const message_type_entry<E>& e) {
    return static_cast<int>(static_cast<std::underlying_type_t<E>>(e.value));
}

template <class E>
constexpr bool has_every_default_name() {
    for (const auto& d : default_message_types) {
        bool found = false;
        for (const auto& e : message_type_traits<E>::entries) found = found || e.name == d.name;
        if (!found) return false;
    }
    return true;
}

template <class E>
constexpr bool defaults_keep_their_values() {
    for (const auto& d : default_message_types)
        for (const auto& e : message_type_traits<E>::entries)
            if (e.name == d.name && entry_value(e) != static_cast<int>(d.value)) return false;
    return true;
}

template <class E>
constexpr bool customs_outside_reserved_range() {
    for (const auto& e : message_type_traits<E>::entries)
        if (default_message_type_name(static_cast<std::uint8_t>(entry_value(e))) != e.name &&
            entry_value(e) <= max_reserved_message_type)
            return false;
    return true;
}

template <class E>
constexpr bool values_fit_one_byte() {
    for (const auto& e : message_type_traits<E>::entries)
        if (entry_value(e) < 0 || entry_value(e) > max_message_type) return false;
    return true;
}

}  // namespace detail

/// Compile-time check of a custom message-type enum; use in a static_assert, or let
/// the node templates do it. Each rule fails with its own readable message.
template <message_type_enum E>
consteval bool valid_message_type_enum() {
    static_assert(detail::has_every_default_name<E>(),
                  "netaio: a message-type enum must contain every default type (use NETAIO_DEFAULT_MESSAGE_TYPES)");
    static_assert(detail::defaults_keep_their_values<E>(),
                  "netaio: a message-type enum must keep the default values of the default types");
    static_assert(detail::customs_outside_reserved_range<E>(),
                  "netaio: custom message types must be 31-255 (0-30 are reserved)");
    static_assert(detail::values_fit_one_byte<E>(), "netaio: message type values must be 0-255 (one byte on the wire)");
    return true;
}

/// The set of type values a decoder accepts; anything else is errc::unknown_message_type.
class message_type_set {
public:
    /// The built-in types.
    message_type_set() {
        for (const auto& e : default_message_types) known_.set(static_cast<std::uint8_t>(e.value));
    }
    /// The types of a registered enum.
    template <message_type_enum E>
    static message_type_set of() {
        (void)valid_message_type_enum<E>();
        message_type_set s(empty_tag{});
        for (const auto& e : message_type_traits<E>::entries) s.known_.set(static_cast<std::size_t>(detail::entry_value(e)));
        return s;
    }
    /// No value at all (add them one by one).
    static message_type_set empty() { return message_type_set(empty_tag{}); }
    /// Every value 0-255 (for tools that must not drop anything).
    static message_type_set all() {
        message_type_set s(empty_tag{});
        s.known_.set();
        return s;
    }
    bool contains(std::uint8_t value) const noexcept { return known_.test(value); }
    void add(std::uint8_t value) noexcept { known_.set(value); }

private:
    struct empty_tag {};
    explicit message_type_set(empty_tag) {}
    std::bitset<256> known_;
};

/// A message-type set built at run time (Python: an IntEnum class).
class message_type_class {
public:
    struct entry {
        std::string name;
        int value;
    };

    /// Entries as given, NOT validated (see validate_message_type_class).
    message_type_class(std::string name, std::vector<entry> entries)
        : name_(std::move(name)), entries_(std::move(entries)) {}

    const std::string& name() const noexcept { return name_; }
    const std::vector<entry>& entries() const noexcept { return entries_; }

    /// Value of a name, if present.
    std::optional<int> value_of(std::string_view type_name) const {
        for (const auto& e : entries_)
            if (e.name == type_name) return e.value;
        return std::nullopt;
    }
    /// First name with this value (later names are aliases), or empty.
    std::string_view name_of(int value) const {
        for (const auto& e : entries_)
            if (e.value == value) return e.name;
        return {};
    }
    /// The decoder's view of the class (values outside 0-255 are ignored).
    message_type_set to_set() const {
        message_type_set s = message_type_set::empty();
        for (const auto& e : entries_)
            if (e.value >= 0 && e.value <= max_message_type) s.add(static_cast<std::uint8_t>(e.value));
        return s;
    }

private:
    std::string name_;
    std::vector<entry> entries_;
};

/// Check a run-time message-type class as Python's validate_message_type_class does:
/// every default name present, with its default value; other names 31-255. Returns
/// true when valid; otherwise throws netaio::error, or returns false when
/// `suppress_errors` is set. (Python's first check, "is an IntEnum subclass", holds
/// by construction here.)
inline bool validate_message_type_class(const message_type_class& cls, bool suppress_errors = false) {
    auto reject = [&](errc code, const std::string& what) {
        if (suppress_errors) return false;
        throw error(code, what);
    };
    for (const auto& d : default_message_types) {
        auto v = cls.value_of(d.name);
        if (!v) return reject(errc::missing_default_message_type, cls.name() + " is missing required " + std::string(d.name));
    }
    for (const auto& d : default_message_types) {
        int v = *cls.value_of(d.name);
        if (v != static_cast<int>(d.value))
            return reject(errc::redefined_default_message_type,
                          cls.name() + " redefined required " + std::string(d.name) + " from " +
                              std::to_string(static_cast<int>(d.value)) + " to " + std::to_string(v));
    }
    for (const auto& e : cls.entries()) {
        if (!default_message_type_name(static_cast<std::uint8_t>(e.value)).empty() &&
            default_message_type_name(static_cast<std::uint8_t>(e.value)) == e.name)
            continue;
        if (e.value <= max_reserved_message_type)
            return reject(errc::reserved_message_type, cls.name() + "." + e.name + " uses reserved value " +
                                                           std::to_string(e.value) + " (0-30 are reserved)");
        if (e.value > max_message_type)
            return reject(errc::message_type_out_of_range, cls.name() + "." + e.name + " value " +
                                                               std::to_string(e.value) + " exceeds the upper limit of 255");
    }
    return true;
}

/// Python's make_message_type_class: the 19 defaults plus `new_types`. Throws
/// netaio::error when a new name is a default name (errc::duplicate_message_type_name),
/// a value is <= 30 (errc::reserved_message_type) or > 255
/// (errc::message_type_out_of_range). Two new names may share a value (an alias).
inline message_type_class make_message_type_class(std::string name,
                                                  std::vector<std::pair<std::string, int>> new_types) {
    std::vector<message_type_class::entry> entries;
    for (const auto& d : default_message_types) entries.push_back({std::string(d.name), static_cast<int>(d.value)});
    for (auto& [type_name, value] : new_types) {
        for (const auto& d : default_message_types)
            if (d.name == type_name)
                throw error(errc::duplicate_message_type_name,
                            "default type cannot be overwritten: " + type_name);
        if (value <= max_reserved_message_type)
            throw error(errc::reserved_message_type, "message type " + type_name + " uses reserved value " +
                                                         std::to_string(value) + " (0-30 are reserved)");
        if (value > max_message_type)
            throw error(errc::message_type_out_of_range,
                        "message type " + type_name + " value " + std::to_string(value) +
                            " exceeds the upper limit of 255");
        entries.push_back({std::move(type_name), value});
    }
    return message_type_class(std::move(name), std::move(entries));
}

NETAIO_END_NAMESPACE
