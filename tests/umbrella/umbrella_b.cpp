// Translation unit 2 of netaio_umbrella_test (see umbrella_a.cpp).
#include <netaio.hpp>

#include <cstdio>
#include <string>

std::string netaio_umbrella_a();

int main() {
    if (netaio_umbrella_a() != "61") return 1;
    if (netaio::to_hex(netaio::to_bytes("b")) != "62") return 1;
    std::printf("netaio %s: umbrella header OK\n", NETAIO_VERSION_STRING);
    return 0;
}
