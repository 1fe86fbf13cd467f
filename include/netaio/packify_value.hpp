// netaio/packify_value.hpp - the value model of packify (Python's serializer).
//
// `packify::value` holds one of the types packify 0.3.1 can carry: None, bool, int
// (arbitrary precision), float, str (UTF-8), bytes, bytearray, Decimal (kept as its
// text), list, tuple, set and dict. Python's container types stay distinct because
// they have distinct wire codes. Build values from C++ literals:
//
//     using namespace netaio::packify;
//     value v = dict{{"name", "server"}, {"port", 8888}, {"tags", list{"a", bytes{1, 2}}}};
//
// Equality is structural and by packify type: `value(true) != value(1)` although
// Python says True == 1; floats compare by bit pattern (NaN equals itself); sets
// and dicts compare without regard to order, as in Python.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/errors.hpp>
#include <netaio/packify_integer.hpp>
#include <netaio/version.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

NETAIO_BEGIN_NAMESPACE
namespace packify {

class value;

/// Python None.
struct none_t {
    friend bool operator==(none_t, none_t) noexcept { return true; }
};
inline constexpr none_t none{};

/// Python bytearray (same bytes as `bytes`, a different wire type).
struct bytearray {
    netaio::bytes data;
    friend bool operator==(const bytearray&, const bytearray&) = default;
};

/// Python decimal.Decimal, kept as its canonical text (str(Decimal)).
struct decimal {
    std::string text;
    friend bool operator==(const decimal&, const decimal&) = default;
};

/// Python list.
struct list {
    std::vector<value> items;
    list() = default;
    list(std::initializer_list<value> init);
    explicit list(std::vector<value> v);
    friend bool operator==(const list&, const list&);
};

/// Python tuple.
struct tuple {
    std::vector<value> items;
    tuple() = default;
    tuple(std::initializer_list<value> init);
    explicit tuple(std::vector<value> v);
    friend bool operator==(const tuple&, const tuple&);
};

/// Python set. Items keep the order they were given or decoded in (the wire order);
/// packify 0.3.1's own set order is not deterministic, so any order is valid.
struct set {
    std::vector<value> items;
    set() = default;
    set(std::initializer_list<value> init);
    explicit set(std::vector<value> v);
    friend bool operator==(const set&, const set&);
};

/// Python dict. Entries keep insertion order; the encoder sorts them as packify does.
struct dict {
    std::vector<std::pair<value, value>> items;
    dict() = default;
    dict(std::initializer_list<std::pair<value, value>> init);
    explicit dict(std::vector<std::pair<value, value>> v);

    /// The value stored under `key`, or nullptr.
    const value* find(const value& key) const;
    value* find(const value& key);
    /// Insert or replace (a replaced key keeps its position, as in Python).
    void set(value key, value v);
    friend bool operator==(const dict&, const dict&);
};

/// Which alternative a value holds.
enum class kind : std::uint8_t { none, boolean, integer, floating, string, bytes, bytearray, decimal, list, tuple, set, dict };

class value {
public:
    using storage = std::variant<none_t, bool, integer, double, std::string, netaio::bytes, bytearray, decimal, list,
                                 tuple, set, dict>;

    value() = default;
    value(none_t) {}                                          // NOLINT
    value(std::nullptr_t) {}                                  // NOLINT
    value(bool b) : v_(b) {}                                  // NOLINT
    template <std::integral T>
        requires(!std::same_as<T, bool>)
    value(T i) : v_(integer(i)) {}                            // NOLINT
    value(integer i) : v_(std::move(i)) {}                    // NOLINT
    value(double d) : v_(d) {}                                // NOLINT
    value(const char* s) : v_(std::string(s)) {}              // NOLINT
    value(std::string s) : v_(std::move(s)) {}                // NOLINT
    value(std::string_view s) : v_(std::string(s)) {}         // NOLINT
    value(netaio::bytes b) : v_(std::move(b)) {}              // NOLINT
    value(bytes_view b) : v_(netaio::bytes(b.begin(), b.end())) {}  // NOLINT
    value(bytearray b) : v_(std::move(b)) {}                  // NOLINT
    value(decimal d) : v_(std::move(d)) {}                    // NOLINT
    value(list l) : v_(std::move(l)) {}                       // NOLINT
    value(tuple t) : v_(std::move(t)) {}                      // NOLINT
    value(set s) : v_(std::move(s)) {}                        // NOLINT
    value(dict d) : v_(std::move(d)) {}                       // NOLINT

    packify::kind type() const noexcept { return static_cast<packify::kind>(v_.index()); }
    bool is_none() const noexcept { return type() == kind::none; }

    /// Pointer to the alternative T, or nullptr (like std::get_if).
    template <class T>
    const T* get_if() const noexcept {
        return std::get_if<T>(&v_);
    }
    template <class T>
    T* get_if() noexcept {
        return std::get_if<T>(&v_);
    }
    /// The alternative T; throws netaio::error(errc::packify_type_mismatch) otherwise.
    template <class T>
    const T& as() const {
        if (const T* p = get_if<T>()) return *p;
        throw error(errc::packify_type_mismatch);
    }

    bool as_bool() const { return as<bool>(); }
    const integer& as_integer() const { return as<integer>(); }
    double as_double() const { return as<double>(); }
    const std::string& as_string() const { return as<std::string>(); }
    const netaio::bytes& as_bytes() const { return as<netaio::bytes>(); }

    /// Items of a list, tuple or set (throws for other types).
    const std::vector<value>& items() const {
        if (auto* l = get_if<list>()) return l->items;
        if (auto* t = get_if<tuple>()) return t->items;
        if (auto* s = get_if<set>()) return s->items;
        throw error(errc::packify_type_mismatch);
    }

    /// dict lookup by key; throws netaio::error(errc::packify_type_mismatch) if absent or not a dict.
    const value& operator[](const value& key) const {
        if (const value* found = as<dict>().find(key)) return *found;
        throw error(errc::packify_type_mismatch, "packify: key not in dict");
    }

    const storage& variant() const noexcept { return v_; }

    friend bool operator==(const value& a, const value& b) {
        if (a.v_.index() != b.v_.index()) return false;
        if (auto* da = a.get_if<double>()) {  // bit pattern: NaN == NaN, -0.0 != 0.0
            double db = *b.get_if<double>();
            return std::memcmp(da, &db, sizeof(double)) == 0;
        }
        return a.v_ == b.v_;
    }

private:
    storage v_;
};

inline list::list(std::initializer_list<value> init) : items(init) {}
inline tuple::tuple(std::initializer_list<value> init) : items(init) {}
inline set::set(std::initializer_list<value> init) : items(init) {}
inline dict::dict(std::initializer_list<std::pair<value, value>> init) : items(init) {}
// Defined here, once value is complete (clang needs it for the vector moves).
inline list::list(std::vector<value> v) : items(std::move(v)) {}
inline tuple::tuple(std::vector<value> v) : items(std::move(v)) {}
inline set::set(std::vector<value> v) : items(std::move(v)) {}
inline dict::dict(std::vector<std::pair<value, value>> v) : items(std::move(v)) {}
inline bool operator==(const list& a, const list& b) { return a.items == b.items; }
inline bool operator==(const tuple& a, const tuple& b) { return a.items == b.items; }
// Python compares sets and dicts without regard to order.
inline bool operator==(const set& a, const set& b) {
    if (a.items.size() != b.items.size()) return false;
    for (const value& item : a.items)
        if (std::find(b.items.begin(), b.items.end(), item) == b.items.end()) return false;
    return true;
}
inline bool operator==(const dict& a, const dict& b) {
    if (a.items.size() != b.items.size()) return false;
    for (const auto& [k, v] : a.items) {
        const value* other = b.find(k);
        if (!other || !(*other == v)) return false;
    }
    return true;
}

inline const value* dict::find(const value& key) const {
    for (const auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}
inline value* dict::find(const value& key) {
    for (auto& [k, v] : items)
        if (k == key) return &v;
    return nullptr;
}
inline void dict::set(value key, value v) {
    if (value* existing = find(key)) {
        *existing = std::move(v);
        return;
    }
    items.emplace_back(std::move(key), std::move(v));
}

/// Whether Python could use the value as a dict key or set item (bytearray, list,
/// set and dict are unhashable; a tuple is hashable when all its items are).
inline bool is_hashable(const value& v) {
    switch (v.type()) {
        case kind::bytearray:
        case kind::list:
        case kind::set:
        case kind::dict: return false;
        case kind::tuple:
            for (const value& item : v.items())
                if (!is_hashable(item)) return false;
            return true;
        default: return true;
    }
}

}  // namespace packify
NETAIO_END_NAMESPACE
