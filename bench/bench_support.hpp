// bench/bench_support.hpp - what both benchmark programs share: medians and
// spreads of repeated runs, size labels, exception text and command-line values.
#pragma once

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

/// The median of `v` (0 for none).
inline double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// (max - min) / median: how far apart the repeats of one cell were.
inline double spread(const std::vector<double>& v) {
    if (v.size() < 2) return 0;
    const double m = median(v);
    return m > 0 ? (*std::max_element(v.begin(), v.end()) - *std::min_element(v.begin(), v.end())) / m : 0;
}

/// "32 B", "1 KiB", "16 KiB".
inline std::string size_name(std::size_t s) {
    if (s >= 1024 && s % 1024 == 0) return std::to_string(s / 1024) + " KiB";
    return std::to_string(s) + " B";
}

/// The message of whatever `e` holds.
inline std::string describe(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        return ex.what();
    } catch (...) {
        return "unknown exception";
    }
}

/// Walks argv; values of options are checked here, so both programs word their
/// errors alike (std::invalid_argument, reported by main).
class arguments {
public:
    arguments(int argc, char** argv) : argc_(argc), argv_(argv) {}

    /// The next argument, or nullptr at the end.
    const char* next() { return i_ + 1 < argc_ ? argv_[++i_] : nullptr; }
    /// The value following option `what`.
    std::string value(const char* what) {
        if (i_ + 1 >= argc_) throw std::invalid_argument(std::string(what) + " needs a value");
        return argv_[++i_];
    }
    /// A duration in seconds, > 0.
    double seconds(const char* what) {
        const double s = std::stod(value(what));
        if (!(s > 0)) throw std::invalid_argument(std::string(what) + " must be > 0");
        return s;
    }
    /// A count, >= 1.
    int count(const char* what) {
        const int n = std::stoi(value(what));
        if (n < 1) throw std::invalid_argument(std::string(what) + " must be >= 1");
        return n;
    }
    /// A content size in [lowest, 60000] bytes.
    std::size_t content_size(const char* what, long long lowest) {
        const long long s = std::stoll(value(what));
        if (s < lowest || s > 60000)
            throw std::invalid_argument(std::string(what) + " must be in [" + std::to_string(lowest) + ", 60000]");
        return static_cast<std::size_t>(s);
    }

private:
    int argc_;
    char** argv_;
    int i_ = 0;
};

}  // namespace bench
