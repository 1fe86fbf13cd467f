// examples/run_pair.cpp - smoke-test runner for the example server/client pairs (POSIX).
//
//   netaio_run_pair [--client-exit N] [--server-exit N] [--deadline SECONDS]
//                   SERVER [ARGS...] [-- CLIENT [ARGS...]]
//
// Normal mode: start SERVER (its stdout on a pipe), wait for its "READY <host>
// <port>" line, run CLIENT with "--host <host> --port <port>" appended, check the
// client's exit code (--client-exit, default 0), then send SIGTERM to the server
// and check that it exits with code 0 in time.
//
// --server-exit N: SERVER must exit by itself with code N without printing READY
// (startup failures, e.g. a secret that is too short); CLIENT is not needed.
//
// Everything must finish within the deadline (default 20 s); whatever still runs
// then is killed with SIGKILL and the test fails. A process killed by a signal
// always fails the test. Exit code 0 when every check passed, 1 otherwise, 2 for
// a bad command line.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

clock_type::time_point g_deadline;
bool g_failed = false;

void fail(const std::string& why) {
    std::printf("run_pair: FAIL: %s\n", why.c_str());
    std::fflush(stdout);
    g_failed = true;
}

int remaining_ms() {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(g_deadline - clock_type::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

/// fork + execvp; the child's stdout goes to `stdout_fd` when >= 0.
pid_t spawn(const std::vector<std::string>& command, int stdout_fd) {
    std::vector<char*> argv;
    for (const auto& a : command) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    std::fflush(stdout);
    std::fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        std::perror("run_pair: fork");
        std::exit(1);
    }
    if (pid == 0) {
        if (stdout_fd >= 0 && stdout_fd != STDOUT_FILENO) {
            dup2(stdout_fd, STDOUT_FILENO);
            close(stdout_fd);
        }
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "run_pair: cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
    return pid;
}

std::string describe(int status) {
    if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

/// The server's stdout, read line by line without blocking past the deadline.
class line_reader {
public:
    explicit line_reader(int fd) : fd_(fd) {}

    /// Wait up to `timeout_ms` for output; returns complete lines read (echoed with
    /// a "[server] " prefix). Sets eof() when the pipe closed.
    std::vector<std::string> poll_lines(int timeout_ms) {
        std::vector<std::string> lines;
        if (eof_) return lines;
        pollfd p{fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, timeout_ms);
        if (n < 0 && errno != EINTR) {
            std::perror("run_pair: poll");
            eof_ = true;
        }
        if (n <= 0) return lines;
        char chunk[4096];
        const ssize_t got = ::read(fd_, chunk, sizeof chunk);
        if (got <= 0) {
            if (got < 0 && errno == EINTR) return lines;
            eof_ = true;
            if (!buffer_.empty()) lines.push_back(std::move(buffer_));
        } else {
            buffer_.append(chunk, static_cast<std::size_t>(got));
            for (std::size_t end; (end = buffer_.find('\n')) != std::string::npos;) {
                lines.push_back(buffer_.substr(0, end));
                buffer_.erase(0, end + 1);
            }
        }
        for (const auto& line : lines) std::printf("[server] %s\n", line.c_str());
        std::fflush(stdout);
        return lines;
    }
    bool eof() const noexcept { return eof_; }

private:
    int fd_;
    std::string buffer_;
    bool eof_ = false;
};

/// Wait for `pid` until the deadline, draining the server's output meanwhile.
/// Returns its wait status, or nullopt on timeout.
std::optional<int> wait_for(pid_t pid, line_reader& server_output, clock_type::time_point until) {
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) {
            std::perror("run_pair: waitpid");
            return std::nullopt;
        }
        if (clock_type::now() >= until) return std::nullopt;
        if (server_output.eof())
            ::poll(nullptr, 0, 10);
        else
            server_output.poll_lines(10);
    }
}

void kill_and_reap(pid_t pid, const char* what) {
    fail(std::string(what) + " still running at the deadline: SIGKILL");
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
}

/// True when the line is "READY <host> <port>"; fills host and port.
bool parse_ready(const std::string& line, std::string& host, std::string& port) {
    std::istringstream in(line);
    std::string word;
    return (in >> word) && word == "READY" && (in >> host >> port);
}

int usage() {
    std::fprintf(stderr,
                 "usage: netaio_run_pair [--client-exit N] [--server-exit N] [--deadline SECONDS] "
                 "SERVER [ARGS...] [-- CLIENT [ARGS...]]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    int client_exit = 0;
    std::optional<int> server_exit;
    int deadline_seconds = 20;
    int i = 1;
    for (; i + 1 < argc && std::string_view(argv[i]).substr(0, 2) == "--" && std::string_view(argv[i]) != "--"; i += 2) {
        const std::string_view flag = argv[i];
        char* end = nullptr;
        const long value = std::strtol(argv[i + 1], &end, 10);
        if (*end != '\0') return usage();
        if (flag == "--client-exit")
            client_exit = static_cast<int>(value);
        else if (flag == "--server-exit")
            server_exit = static_cast<int>(value);
        else if (flag == "--deadline" && value > 0)
            deadline_seconds = static_cast<int>(value);
        else
            return usage();
    }
    std::vector<std::string> server, client;
    for (; i < argc && std::string_view(argv[i]) != "--"; ++i) server.emplace_back(argv[i]);
    for (++i; i < argc; ++i) client.emplace_back(argv[i]);
    if (server.empty() || (client.empty() && !server_exit)) return usage();

    signal(SIGPIPE, SIG_IGN);
    const auto started = clock_type::now();
    g_deadline = started + std::chrono::seconds(deadline_seconds);

    // 1. The server, its stdout on a pipe (the read end is not inherited by the client).
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) {
        std::perror("run_pair: pipe");
        return 1;
    }
    fcntl(pipe_fds[0], F_SETFD, FD_CLOEXEC);
    const pid_t server_pid = spawn(server, pipe_fds[1]);
    close(pipe_fds[1]);
    line_reader server_output(pipe_fds[0]);

    // 2. Wait for "READY <host> <port>", or for the server to give up.
    std::string host, port;
    bool ready = false;
    while (!ready && !server_output.eof() && remaining_ms() > 0) {
        for (const auto& line : server_output.poll_lines(std::min(remaining_ms(), 100)))
            if (!ready && parse_ready(line, host, port)) ready = true;
    }

    if (server_exit) {  // startup-failure mode
        if (ready) {
            fail("the program printed READY, expected it to exit with code " + std::to_string(*server_exit));
            kill(server_pid, SIGTERM);
        }
        const std::optional<int> status = wait_for(server_pid, server_output, g_deadline);
        if (!status) {
            kill_and_reap(server_pid, "the program");
        } else if (!WIFEXITED(*status) || WEXITSTATUS(*status) != *server_exit) {
            fail("the program ended with " + describe(*status) + ", expected exit code " + std::to_string(*server_exit));
        } else {
            std::printf("run_pair: the program exited with code %d as expected\n", *server_exit);
        }
        std::printf("run_pair: %s\n", g_failed ? "FAILED" : "passed");
        return g_failed ? 1 : 0;
    }

    if (!ready) {
        fail(server_output.eof() ? "the server closed its output without printing READY"
                                 : "no READY line from the server before the deadline");
        if (auto status = wait_for(server_pid, server_output, clock_type::now() + std::chrono::milliseconds(500)))
            std::printf("run_pair: the server ended with %s\n", describe(*status).c_str());
        else
            kill_and_reap(server_pid, "the server");
        return 1;
    }

    // 3. The client against the announced address.
    client.insert(client.end(), {"--host", host, "--port", port});
    std::printf("run_pair: server ready on %s:%s, running the client\n", host.c_str(), port.c_str());
    const pid_t client_pid = spawn(client, -1);
    const std::optional<int> client_status = wait_for(client_pid, server_output, g_deadline);
    if (!client_status) {
        kill_and_reap(client_pid, "the client");
    } else if (!WIFEXITED(*client_status) || WEXITSTATUS(*client_status) != client_exit) {
        fail("the client ended with " + describe(*client_status) + ", expected exit code " + std::to_string(client_exit));
    } else {
        std::printf("run_pair: the client exited with code %d as expected\n", client_exit);
    }

    // 4. SIGTERM: the server must stop gracefully, with exit code 0.
    int early = 0;
    if (waitpid(server_pid, &early, WNOHANG) == server_pid) {
        fail("the server ended before SIGTERM, with " + describe(early));
    } else {
        const auto signalled = clock_type::now();
        kill(server_pid, SIGTERM);
        const std::optional<int> server_status = wait_for(server_pid, server_output, g_deadline);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - signalled).count();
        if (!server_status) {
            kill_and_reap(server_pid, "the server");
        } else if (!WIFEXITED(*server_status) || WEXITSTATUS(*server_status) != 0) {
            fail("after SIGTERM the server ended with " + describe(*server_status) + ", expected exit code 0");
        } else {
            std::printf("run_pair: the server exited with code 0 %lld ms after SIGTERM\n", static_cast<long long>(took));
        }
    }
    for (int tries = 0; tries < 20 && !server_output.eof(); ++tries) server_output.poll_lines(50);  // its last words
    close(pipe_fds[0]);
    std::printf("run_pair: %s\n", g_failed ? "FAILED" : "passed");
    return g_failed ? 1 : 0;
}
