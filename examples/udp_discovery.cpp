// examples/udp_discovery.cpp - three UDP nodes discover each other.
//
//   netaio_udp_discovery [--loopback]
//
// As root (and unless --loopback is given) the nodes live in three private network
// namespaces joined by a bridge in a fourth, so their multicast crosses a real
// (virtual) link: IPv6 link-local addresses and the group ff02::4e41, nothing
// configured by hand and nothing that can leave the machine. Otherwise they share
// the loopback interface: IPv4 multicast 224.0.0.1 pinned to 127.0.0.1, TTL 1.
//
// Each node prints what it discovers; the program exits 0 once every node knows
// the two others (1 after 10 s otherwise), after stopping them: their DISCONNECTs
// are shown too.
#include <netaio/udp_node.hpp>

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

namespace {

using namespace std::chrono_literals;

/// The namespaces of the isolated setup; removed again by the destructor.
class virtual_lan {
public:
    static constexpr std::array<const char*, 3> nodes{"netaio-demo-1", "netaio-demo-2", "netaio-demo-3"};
    static constexpr const char* hub = "netaio-demo-hub";

    /// Build it; false (and nothing left behind) when that is not possible.
    bool create() {
        if (::geteuid() != 0 || std::system("command -v ip >/dev/null 2>&1") != 0) return false;
        created_ = true;
        std::string script = "set -e; ip netns add " + std::string(hub) +
                             "; ip -n " + hub + " link add br0 type bridge; ip -n " + hub + " link set br0 up; ";
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const std::string ns = nodes[i], port = "p" + std::to_string(i);
            script += "ip netns add " + ns + "; ip -n " + ns + " link set lo up; " +
                      "ip netns exec " + ns + " sh -c 'echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad'; " +
                      "ip link add eth0 netns " + ns + " type veth peer name " + port + " netns " + hub + "; " +
                      "ip -n " + hub + " link set " + port + " master br0; ip -n " + hub + " link set " + port + " up; " +
                      "ip -n " + ns + " link set eth0 up; ";
        }
        // Wait for the link-local addresses.
        script += "for i in $(seq 100); do n=0; for ns in " + std::string(nodes[0]) + " " + nodes[1] + " " + nodes[2] +
                  "; do ip -n $ns -6 addr show dev eth0 | grep -q 'scope link' && n=$((n+1)); done; "
                  "[ $n -eq 3 ] && break; sleep 0.05; done";
        return std::system(("( " + script + " ) >/dev/null 2>&1").c_str()) == 0;
    }

    ~virtual_lan() {
        if (!created_) return;
        for (const char* ns : nodes) std::system(("ip netns del " + std::string(ns) + " 2>/dev/null").c_str());
        std::system(("ip netns del " + std::string(hub) + " 2>/dev/null").c_str());
    }

    /// Run `f` with this thread inside namespace `name` (sockets opened there stay there).
    template <class F>
    static void inside(const std::string& name, F&& f) {
        const int home = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        const int target = ::open(("/var/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
        if (home < 0 || target < 0 || ::setns(target, CLONE_NEWNET) != 0) throw std::runtime_error("cannot enter " + name);
        f();
        ::setns(home, CLONE_NEWNET);
        ::close(home);
        ::close(target);
    }

private:
    bool created_ = false;
};

netaio::udp_node_options options_for(int i, bool isolated, std::uint16_t shared_port) {
    netaio::udp_node_options o;
    netaio::Peer self;
    self.id = netaio::to_bytes("node-" + std::to_string(i));
    self.data = netaio::packify::pack(netaio::packify::dict{{"name", "node-" + std::to_string(i)}});
    o.local_peer = self;
    o.multicast_ttl = 1;
    if (isolated) {  // one namespace each: the same port everywhere, as netaio nodes do
        o.host = "::";
        o.port = 8888;
        o.multicast_group = "ff02::4e41";
        o.multicast_interface = "eth0";
    } else {  // one host: own unicast ports, a shared discovery port on loopback
        o.host = "127.0.0.1";
        o.port = 0;
        o.multicast_interface = "127.0.0.1";
        o.multicast_port = shared_port;
    }
    return o;
}

}  // namespace

int main(int argc, char** argv) {
    const bool want_loopback = argc > 1 && std::string(argv[1]) == "--loopback";
    virtual_lan lan;
    const bool isolated = !want_loopback && lan.create();
    std::printf("%s\n", isolated ? "three network namespaces joined by a bridge: IPv6 multicast ff02::4e41 over veth"
                                 : "shared loopback (not root, or --loopback): IPv4 multicast 224.0.0.1 on 127.0.0.1, TTL 1");

    asio::io_context io;
    std::array<std::unique_ptr<netaio::UDPNode>, 3> nodes;
    std::uint16_t shared_port = 0;
    for (int i = 0; i < 3; ++i) {
        nodes[i] = std::make_unique<netaio::UDPNode>(io.get_executor(), options_for(i + 1, isolated, shared_port));
        const std::string who = "node-" + std::to_string(i + 1);
        nodes[i]->set_peer_callback([who](const netaio::peer_event& e) {
            if (e.kind == netaio::peer_event_kind::updated) return;
            std::printf("%s: %s %s at %s port %u\n", who.c_str(), e.kind == netaio::peer_event_kind::removed ? "lost" : "found",
                        netaio::to_string(*e.peer.id).c_str(), e.address.host.c_str(), static_cast<unsigned>(e.address.port));
            std::fflush(stdout);
        });
        if (isolated)
            virtual_lan::inside(virtual_lan::nodes[i], [&] { nodes[i]->start(); });
        else
            nodes[i]->start();
        if (i == 0) shared_port = nodes[0]->discovery_port();
    }
    netaio::peer_management_options pm;
    pm.advertise_every = 200ms;
    for (auto& n : nodes) n->manage_peers_automatically(pm);

    // Check every 50 ms whether all know each other; give up after 10 s.
    bool everyone = false;
    asio::steady_timer tick(io);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::function<void(std::error_code)> check = [&](std::error_code) {
        everyone = true;
        for (auto& n : nodes) everyone = everyone && n->peers().size() == 2;
        if (everyone || std::chrono::steady_clock::now() > deadline) {
            for (auto& n : nodes) n->stop();  // DISCONNECTs go out first
            tick.expires_after(100ms);        // let them arrive, then end
            tick.async_wait([&io](std::error_code) { io.stop(); });
            return;
        }
        tick.expires_after(50ms);
        tick.async_wait(check);
    };
    tick.expires_after(50ms);
    tick.async_wait(check);
    io.run();
    std::printf("%s\n", everyone ? "all three nodes discovered each other" : "discovery incomplete after 10 s");
    return everyone ? 0 : 1;
}
