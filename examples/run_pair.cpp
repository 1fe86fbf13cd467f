// examples/run_pair.cpp - smoke-test runner for the example server/client pairs (POSIX).
//
//   netaio_run_pair [--client-exit N] [--server-exit N] [--deadline SECONDS]
//                   [--server-signal INT|TERM] [--client-signal INT|TERM --client-signal-after TEXT]
//                   SERVER [ARGS...] [-- CLIENT [ARGS...]]
//
// Normal mode: start SERVER (its stdout on a pipe), wait for its "READY <host>
// <port>" line, run CLIENT with "--host <host> --port <port>" appended (its stdout
// on a pipe too), check the client's exit code (--client-exit, default 0), then
// send the server SIGTERM (or SIGINT with --server-signal INT) and check that it
// exits with code 0 in time.
//
// --client-signal SIG: send the client SIG as soon as it prints a line containing
// TEXT (--client-signal-after), e.g. while it waits for a reply; it must then exit
// with --client-exit, by default 128 + SIG (130 for INT, 143 for TERM).
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
#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
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

/// A child's stdout, read line by line through a pipe without blocking; every
/// complete line is echoed with a prefix ("[server] ", "[client] ") and kept until
/// taken.
class line_reader {
public:
    line_reader(int fd, std::string prefix) : fd_(fd), prefix_(std::move(prefix)) {}

    int fd() const noexcept { return fd_; }
    bool eof() const noexcept { return eof_; }

    /// Read what the pipe holds (poll said it is readable, or closed).
    void read_some() {
        char chunk[4096];
        const ssize_t got = ::read(fd_, chunk, sizeof chunk);
        std::vector<std::string> lines;
        if (got <= 0) {
            if (got < 0 && errno == EINTR) return;
            eof_ = true;
            if (!buffer_.empty()) lines.push_back(std::move(buffer_));
            buffer_.clear();
        } else {
            buffer_.append(chunk, static_cast<std::size_t>(got));
            for (std::size_t end; (end = buffer_.find('\n')) != std::string::npos;) {
                lines.push_back(buffer_.substr(0, end));
                buffer_.erase(0, end + 1);
            }
        }
        for (const auto& line : lines) std::printf("%s%s\n", prefix_.c_str(), line.c_str());
        std::fflush(stdout);
        unread_.insert(unread_.end(), lines.begin(), lines.end());
    }
    /// The lines read since the last call.
    std::vector<std::string> take() { return std::exchange(unread_, {}); }
    void mark_eof() noexcept { eof_ = true; }

private:
    int fd_;
    std::string prefix_;
    std::string buffer_;
    std::vector<std::string> unread_;
    bool eof_ = false;
};

/// Wait up to `timeout_ms` for output from any of the readers, and read it.
void pump(std::initializer_list<line_reader*> readers, int timeout_ms) {
    std::vector<pollfd> fds;
    std::vector<line_reader*> owners;
    for (line_reader* r : readers) {
        if (r == nullptr || r->eof()) continue;
        fds.push_back(pollfd{r->fd(), POLLIN, 0});
        owners.push_back(r);
    }
    if (fds.empty()) {
        ::poll(nullptr, 0, timeout_ms);
        return;
    }
    const int n = ::poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0) {
        if (errno != EINTR) {
            std::perror("run_pair: poll");
            for (line_reader* r : owners) r->mark_eof();
        }
        return;
    }
    for (std::size_t k = 0; k < fds.size(); ++k)
        if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) owners[k]->read_some();
}

/// Wait for `pid` until the deadline, reading the children's output meanwhile.
/// `on_output` sees every line of `watched` as it arrives. Returns the wait status,
/// or nullopt on timeout.
std::optional<int> wait_for(pid_t pid, std::initializer_list<line_reader*> readers, clock_type::time_point until,
                            line_reader* watched = nullptr,
                            const std::function<void(const std::string&)>& on_output = {}) {
    for (;;) {
        int status = 0;
        const pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) {
            std::perror("run_pair: waitpid");
            return std::nullopt;
        }
        if (clock_type::now() >= until) return std::nullopt;
        pump(readers, 10);
        if (watched && on_output)
            for (const auto& line : watched->take()) on_output(line);
    }
}

/// Read what a child that has ended left in its pipe.
void drain(line_reader& output) {
    for (int tries = 0; tries < 20 && !output.eof(); ++tries) pump({&output}, 50);
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
                 "usage: netaio_run_pair [--client-exit N] [--server-exit N] [--deadline SECONDS]\n"
                 "                       [--server-signal INT|TERM] [--client-signal INT|TERM --client-signal-after TEXT]\n"
                 "                       SERVER [ARGS...] [-- CLIENT [ARGS...]]\n");
    return 2;
}

std::optional<int> parse_int(const char* text) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text, &end, 10);
    if (end == text || *end != '\0' || errno != 0 || value < 0 || value > 100000) return std::nullopt;
    return static_cast<int>(value);
}

std::optional<int> parse_signal(std::string_view name) {
    if (name == "INT") return SIGINT;
    if (name == "TERM") return SIGTERM;
    return std::nullopt;
}

std::string signal_name(int signal_number) { return signal_number == SIGINT ? "SIGINT" : "SIGTERM"; }

}  // namespace

int main(int argc, char** argv) {
    std::optional<int> client_exit;
    std::optional<int> server_exit;
    int deadline_seconds = 20;
    int server_signal = SIGTERM;
    std::optional<int> client_signal;
    std::string client_signal_after;
    int i = 1;
    for (; i + 1 < argc && std::string_view(argv[i]).substr(0, 2) == "--" && std::string_view(argv[i]) != "--"; i += 2) {
        const std::string_view flag = argv[i];
        const char* value = argv[i + 1];
        std::optional<int> number;
        if (flag == "--client-exit" && (number = parse_int(value))) {
            client_exit = *number;
        } else if (flag == "--server-exit" && (number = parse_int(value))) {
            server_exit = *number;
        } else if (flag == "--deadline" && (number = parse_int(value)) && *number > 0) {
            deadline_seconds = *number;
        } else if (flag == "--server-signal" && (number = parse_signal(value))) {
            server_signal = *number;
        } else if (flag == "--client-signal" && (number = parse_signal(value))) {
            client_signal = *number;
        } else if (flag == "--client-signal-after" && *value != '\0') {
            client_signal_after = value;
        } else {
            return usage();
        }
    }
    std::vector<std::string> server, client;
    for (; i < argc && std::string_view(argv[i]) != "--"; ++i) server.emplace_back(argv[i]);
    for (++i; i < argc; ++i) client.emplace_back(argv[i]);
    if (server.empty() || (client.empty() && !server_exit)) return usage();
    if (client_signal.has_value() != !client_signal_after.empty()) return usage();  // both or neither
    const int expected_client_exit = client_exit.value_or(client_signal ? 128 + *client_signal : 0);

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
    line_reader server_output(pipe_fds[0], "[server] ");

    // 2. Wait for "READY <host> <port>", or for the server to give up.
    std::string host, port;
    bool ready = false;
    while (!ready && !server_output.eof() && remaining_ms() > 0) {
        pump({&server_output}, std::min(remaining_ms(), 100));
        for (const auto& line : server_output.take())
            if (!ready && parse_ready(line, host, port)) ready = true;
    }

    if (server_exit) {  // startup-failure mode
        if (ready) {
            fail("the program printed READY, expected it to exit with code " + std::to_string(*server_exit));
            kill(server_pid, SIGTERM);
        }
        const std::optional<int> status = wait_for(server_pid, {&server_output}, g_deadline);
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
        if (auto status = wait_for(server_pid, {&server_output}, clock_type::now() + std::chrono::milliseconds(500)))
            std::printf("run_pair: the server ended with %s\n", describe(*status).c_str());
        else
            kill_and_reap(server_pid, "the server");
        return 1;
    }

    // 3. The client against the announced address, its stdout on a pipe as well.
    client.insert(client.end(), {"--host", host, "--port", port});
    std::printf("run_pair: server ready on %s:%s, running the client\n", host.c_str(), port.c_str());
    int client_pipe[2];
    if (pipe(client_pipe) != 0) {
        std::perror("run_pair: pipe");
        kill(server_pid, SIGKILL);
        return 1;
    }
    fcntl(client_pipe[0], F_SETFD, FD_CLOEXEC);
    const pid_t client_pid = spawn(client, client_pipe[1]);
    close(client_pipe[1]);
    line_reader client_output(client_pipe[0], "[client] ");

    bool client_signalled = false;
    const auto signal_client = [&](const std::string& line) {
        if (!client_signal || client_signalled || line.find(client_signal_after) == std::string::npos) return;
        std::printf("run_pair: the client printed \"%s\": sending it %s\n", client_signal_after.c_str(),
                    signal_name(*client_signal).c_str());
        std::fflush(stdout);
        kill(client_pid, *client_signal);
        client_signalled = true;
    };
    const std::optional<int> client_status =
        wait_for(client_pid, {&server_output, &client_output}, g_deadline, &client_output, signal_client);
    drain(client_output);
    if (!client_status) {
        kill_and_reap(client_pid, "the client");
    } else {
        if (client_signal && !client_signalled)
            fail("the client ended before printing \"" + client_signal_after + "\": it was never sent " +
                 signal_name(*client_signal));
        if (!WIFEXITED(*client_status) || WEXITSTATUS(*client_status) != expected_client_exit)
            fail("the client ended with " + describe(*client_status) + ", expected exit code " +
                 std::to_string(expected_client_exit));
        else
            std::printf("run_pair: the client exited with code %d as expected\n", expected_client_exit);
    }
    close(client_pipe[0]);

    // 4. SIGTERM or SIGINT: the server must stop gracefully, with exit code 0.
    const std::string stop_signal = signal_name(server_signal);
    int early = 0;
    if (waitpid(server_pid, &early, WNOHANG) == server_pid) {
        fail("the server ended before " + stop_signal + ", with " + describe(early));
    } else {
        const auto signalled = clock_type::now();
        kill(server_pid, server_signal);
        const std::optional<int> server_status = wait_for(server_pid, {&server_output}, g_deadline);
        const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - signalled).count();
        if (!server_status) {
            kill_and_reap(server_pid, "the server");
        } else if (!WIFEXITED(*server_status) || WEXITSTATUS(*server_status) != 0) {
            fail("after " + stop_signal + " the server ended with " + describe(*server_status) + ", expected exit code 0");
        } else {
            std::printf("run_pair: the server exited with code 0 %lld ms after %s\n", static_cast<long long>(took),
                        stop_signal.c_str());
        }
    }
    drain(server_output);  // its last words
    close(pipe_fds[0]);
    std::printf("run_pair: %s\n", g_failed ? "FAILED" : "passed");
    return g_failed ? 1 : 0;
}
