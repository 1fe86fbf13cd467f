// replay_main.cpp - a main() for the fuzz targets in builds without libFuzzer
// (any compiler): runs LLVMFuzzerTestOneInput once over every file of the
// corpus directories (or single files) named on the command line.
//
//   fuzz_packify_replay tests/fuzz/corpus/packify
//
// Each input is copied into a heap buffer of exactly its size, so ASan catches
// reads past the end. Exits non-zero when no input was found; a crash or a
// sanitizer report ends the process like it would under libFuzzer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

bool run_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        std::fprintf(stderr, "replay: cannot read %s\n", path.string().c_str());
        return false;
    }
    std::vector<char> content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::size_t size = content.size();
    std::unique_ptr<std::uint8_t[]> buffer(new std::uint8_t[size == 0 ? 1 : size]);
    std::copy(content.begin(), content.end(), buffer.get());
    LLVMFuzzerTestOneInput(buffer.get(), size);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <corpus dir or file>...\n", argv[0]);
        return 2;
    }
    std::size_t count = 0;
    for (int i = 1; i < argc; ++i) {
        const std::filesystem::path arg(argv[i]);
        std::error_code ec;
        if (std::filesystem::is_directory(arg, ec)) {
            std::vector<std::filesystem::path> files;
            for (const auto& entry : std::filesystem::directory_iterator(arg, ec))
                if (entry.is_regular_file()) files.push_back(entry.path());
            if (ec) {
                std::fprintf(stderr, "replay: cannot list %s: %s\n", argv[i], ec.message().c_str());
                return 1;
            }
            std::sort(files.begin(), files.end());
            for (const auto& f : files) {
                if (!run_file(f)) return 1;
                ++count;
            }
        } else if (std::filesystem::is_regular_file(arg, ec)) {
            if (!run_file(arg)) return 1;
            ++count;
        } else {
            std::fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            return 1;
        }
    }
    if (count == 0) {
        std::fprintf(stderr, "replay: no inputs found\n");
        return 1;
    }
    std::printf("replay: %zu inputs ran without a crash\n", count);
    return 0;
}
