// netaio/detail/multicast.hpp - choosing the multicast interface (by address or name).
#pragma once

#include <netaio/errors.hpp>
#include <netaio/version.hpp>

#include <asio/ip/address.hpp>

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <cstring>
#include <optional>
#include <string>

NETAIO_BEGIN_NAMESPACE
namespace detail {

/// An interface given by the user: its IPv4 address (for IP_MULTICAST_IF and joins)
/// and its index (for IPv6), either of which may be unknown.
struct multicast_interface {
    std::optional<asio::ip::address_v4> v4;
    unsigned int index = 0;  // 0: let the system choose
};

/// Resolve "127.0.0.1", "::1", "lo", "eth0" or "" (system default).
inline multicast_interface resolve_multicast_interface(const std::string& spec) {
    multicast_interface out;
    if (spec.empty()) return out;
    std::error_code ec;
    const auto address = asio::ip::make_address(spec, ec);
    if (!ec) {
        if (address.is_v4()) {
            out.v4 = address.to_v4();
        } else {
            out.index = address.to_v6().scope_id();
            if (address.to_v6().is_loopback()) out.index = ::if_nametoindex("lo");
        }
        // Find the interface that carries this address, for its index.
        ifaddrs* list = nullptr;
        if (out.index == 0 && ::getifaddrs(&list) == 0) {
            for (ifaddrs* it = list; it; it = it->ifa_next) {
                if (!it->ifa_addr) continue;
                if (it->ifa_addr->sa_family == AF_INET && address.is_v4()) {
                    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
                    if (asio::ip::address_v4(ntohl(sin->sin_addr.s_addr)) == address.to_v4()) {
                        out.index = ::if_nametoindex(it->ifa_name);
                        break;
                    }
                }
            }
            ::freeifaddrs(list);
        }
        return out;
    }
    out.index = ::if_nametoindex(spec.c_str());
    if (out.index == 0) throw error(errc::bad_option, "unknown network interface: " + spec);
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) == 0) {
        for (ifaddrs* it = list; it; it = it->ifa_next) {
            if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET || spec != it->ifa_name) continue;
            const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
            out.v4 = asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
            break;
        }
        ::freeifaddrs(list);
    }
    return out;
}

}  // namespace detail
NETAIO_END_NAMESPACE
