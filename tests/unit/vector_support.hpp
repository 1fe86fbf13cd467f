// tests/unit/vector_support.hpp - shared helpers for the golden-vector tests.
//
// The vector files were produced by running the Python netaio 0.0.9 code; each
// holds {"generator", "notes", "cases": [{"description", "kind", ...}]}.
#pragma once

#include <netaio/bytes.hpp>
#include <netaio/random.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <fstream>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#ifndef NETAIO_TEST_VECTORS_DIR
#error "NETAIO_TEST_VECTORS_DIR must name the tests/vectors directory"
#endif

namespace netaio_test {

using json = nlohmann::json;

/// Parse `NETAIO_TEST_VECTORS_DIR "/" file_name`; throws when missing or invalid.
inline json load_vectors(const std::string& file_name) {
    const std::string path = std::string(NETAIO_TEST_VECTORS_DIR) + "/" + file_name;
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open vector file " + path);
    return json::parse(in);
}

/// The cases of `doc` whose "kind" equals `kind`, in file order.
inline std::vector<json> cases_of_kind(const json& doc, std::string_view kind) {
    std::vector<json> out;
    for (const auto& c : doc.at("cases"))
        if (c.at("kind").get<std::string>() == kind) out.push_back(c);
    return out;
}

/// Bytes of a JSON hex string.
inline netaio::bytes hex(const json& value) { return netaio::from_hex(value.get<std::string>()); }

/// Replays the "random" list of a vector case: urandom(n) and randint(a, b)
/// events are handed out in order, and every request must match the recorded
/// call (same n, same bounds), so the test also proves the C++ code asks for
/// randomness in the same order as Python. "time" events feed the clock.
class scripted_randomness {
public:
    explicit scripted_randomness(const json& events) : state_(std::make_shared<state>()) {
        for (const auto& e : events) {
            const std::string fn = e.at("fn").get<std::string>();
            if (fn == "time")
                state_->times.push_back(e.at("value").get<std::int64_t>());
            else
                state_->draws.push_back(e);
        }
    }

    /// A random_source serving the recorded urandom/randint values.
    netaio::random_source random() const {
        auto s = state_;
        netaio::random_source r;
        r.fill = [s](std::span<std::uint8_t> out) {
            const json e = s->next("urandom");
            const netaio::bytes v = netaio::from_hex(e.at("hex").get<std::string>());
            if (v.size() != out.size())
                throw std::logic_error("scripted urandom: asked for " + std::to_string(out.size()) +
                                       " bytes, recorded " + std::to_string(v.size()));
            std::copy(v.begin(), v.end(), out.begin());
        };
        r.uniform = [s](std::uint32_t low, std::uint32_t high) -> std::uint32_t {
            const json e = s->next("randint");
            if (e.at("a").get<std::uint32_t>() != low || e.at("b").get<std::uint32_t>() != high)
                throw std::logic_error("scripted randint: bounds differ from the recording");
            return e.at("value").get<std::uint32_t>();
        };
        return r;
    }

    /// A clock frozen at the first recorded time() value. Python reads the clock
    /// even when a preset ts makes the value unused, so the C++ code (which reads
    /// it only when needed) cannot follow the recorded sequence call by call;
    /// every recording freezes time anyway.
    netaio::clock_source clock() const {
        auto s = state_;
        return netaio::clock_source{[s]() -> std::int64_t {
            if (s->times.empty()) throw std::logic_error("scripted time: no recorded value");
            return s->times.front();
        }};
    }

    /// Number of urandom/randint values not handed out yet.
    std::size_t remaining_draws() const { return state_->draws.size(); }

private:
    struct state {
        std::deque<json> draws;
        std::deque<std::int64_t> times;
        json next(const std::string& fn) {
            if (draws.empty()) throw std::logic_error("scripted " + fn + ": no recorded value left");
            json e = draws.front();
            draws.pop_front();
            if (e.at("fn").get<std::string>() != fn)
                throw std::logic_error("scripted randomness: expected " + e.at("fn").get<std::string>() +
                                       ", code asked for " + fn);
            return e;
        }
    };
    std::shared_ptr<state> state_;
};

}  // namespace netaio_test
