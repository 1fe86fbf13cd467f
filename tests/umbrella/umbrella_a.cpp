// Translation unit 1 of netaio_umbrella_test: <netaio.hpp> is included by two
// TUs of one program, so any non-inline function or variable defined in a
// header shows up as a duplicate symbol at link time.
#include <netaio.hpp>

#include <string>

std::string netaio_umbrella_a() { return netaio::to_hex(netaio::to_bytes("a")); }
