// The program every consumer test (find_package, add_subdirectory, FetchContent,
// pkg-config) builds against netaio and runs. It returns 0 only if netaio works
// and the dependencies netaio's headers use are usable through netaio's usage
// requirements: Asio with C++20 coroutines, libsodium, nlohmann_json and zlib.
#include <netaio.hpp>

#include <asio.hpp>
#include <nlohmann/json.hpp>
#include <sodium.h>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <string>

#ifndef NETAIO_EXPECTED_VERSION
#error "the consumer project must define NETAIO_EXPECTED_VERSION"
#endif

namespace {

asio::awaitable<int> answer() { co_return 42; }

int run_coroutine() {
    asio::io_context io;
    int result = 0;
    // The completion handler receives the value or the exception: nothing is lost.
    asio::co_spawn(io, answer(), [&result](std::exception_ptr e, int value) {
        if (e) std::rethrow_exception(e);
        result = value;
    });
    io.run();
    return result;
}

}  // namespace

int main() {
    const std::string hex = netaio::to_hex(netaio::to_bytes("hi"));
    std::printf("%s %s\n", hex.c_str(), NETAIO_VERSION_STRING);

    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "FAILED: %s\n", what);
            ++failures;
        }
    };
    check(hex == "6869", "netaio::to_hex(netaio::to_bytes(\"hi\")) == \"6869\"");
    check(std::strcmp(NETAIO_VERSION_STRING, NETAIO_EXPECTED_VERSION) == 0, "NETAIO_VERSION_STRING");
    check(run_coroutine() == 42, "asio coroutine");
    check(sodium_init() >= 0, "sodium_init");
    const unsigned char hi[] = {'h', 'i'};
    check(crc32(0L, hi, 2) == 0xd8932aacUL, "zlib crc32(\"hi\")");
    check(nlohmann::json::parse(R"({"a":[1,2]})")["a"][1] == 2, "nlohmann::json");
    return failures == 0 ? 0 : 1;
}
