// The real `sluice serve` binary with secrets in its inputs (issue 19, "Security"): a repository
// URL with a password, and auth files that are wrong in the ways people get them wrong. What the
// process prints (stdout and stderr) and what the API shows must never contain the secret.
#include <catch2/catch.hpp>
#include "tests/support/paths/paths.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "test_support.h"

using nlohmann::json;
using sluice::testing::ChildProcess;
using sluice::testing::TestConnection;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

const std::string kBin = sluice::test::bin_dir();

int unused_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

struct ScratchDir {
  fs::path path;
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "sluice-secrets-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// `sluice serve` that is expected to refuse to start: its exit code and everything it printed.
std::pair<int, std::string> serve_refusing(const ScratchDir& dir, std::vector<std::string> extra) {
  std::vector<std::string> argv = {kBin + "/sluice",    "serve",       "--repo",
                                   (dir.path / "repo").string(), "--state-dir",
                                   (dir.path / "state").string(), "--listen",
                                   "127.0.0.1:" + std::to_string(unused_loopback_port())};
  argv.insert(argv.end(), extra.begin(), extra.end());
  ChildProcess serve(argv, {}, /*capture_stderr=*/true);
  REQUIRE(serve.started());
  const int code = serve.wait(20'000ms);
  return {code, serve.output()};
}

}  // namespace

TEST_CASE("sluice serve never prints the repository password, and /api/v1/source hides it",
          "[cli][serve][security]") {
  ScratchDir dir;
  const std::string secret = "Sup3rSecretPw";
  const int git_port = unused_loopback_port();  // nothing listens: every fetch fails
  const int api_port = unused_loopback_port();
  const std::string repo =
      "https://deploy:" + secret + "@127.0.0.1:" + std::to_string(git_port) + "/deploy.git";
  ChildProcess serve({kBin + "/sluice", "serve", "--repo", repo, "--state-dir",
                      (dir.path / "state").string(), "--listen",
                      "127.0.0.1:" + std::to_string(api_port), "--poll", "1s", "--log-format",
                      "json"},
                     {}, /*capture_stderr=*/true);
  REQUIRE(serve.started());

  // Bounded: until the source reports the failed fetch.
  json source;
  for (int i = 0; i < 300; ++i) {
    TestConnection c(static_cast<unsigned short>(api_port));
    if (c.connected() &&
        !c.write("GET /api/v1/source HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(api_port) +
                 "\r\n\r\n")) {
      if (auto res = c.read_response(); res && res->result_int() == 200) {
        source = json::parse(res->body(), nullptr, false);
        if (source.is_object() && source["error"].is_object()) break;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(source.is_object());
  REQUIRE(source["error"].is_object());
  CHECK(source["repo"] == "https://127.0.0.1:" + std::to_string(git_port) + "/deploy.git");
  CHECK(source.dump().find(secret) == std::string::npos);

  serve.terminate();
  CHECK(serve.wait(20'000ms) == 0);
  const std::string& printed = serve.output();
  CHECK(printed.find("api listening") != std::string::npos);  // the startup line was captured
  CHECK(printed.find("127.0.0.1:" + std::to_string(git_port)) != std::string::npos);
  // The failed fetches are logged (issue 20), and their libgit2 messages lose the password too.
  CHECK(printed.find("\"event\":\"FetchFailed\"") != std::string::npos);
  CHECK(printed.find(secret) == std::string::npos);
}

TEST_CASE("sluice serve refuses bad auth files without printing a token",
          "[cli][serve][security]") {
  ScratchDir dir;
  const std::string auth_file = (dir.path / "tokens").string();

  SECTION("swapped columns: the file and line are named, the token is not") {
    const std::string token = "mytoken1234567890abcdefXYZ";
    std::ofstream(auth_file) << "# ci\ndeployer " << token << "\n";
    auto [code, printed] = serve_refusing(dir, {"--auth-file", auth_file});
    CHECK(code == 3);
    CHECK(printed.find(auth_file + ":2") != std::string::npos);
    CHECK(printed.find(token) == std::string::npos);
  }
  SECTION("a file of only comments is an error, not an open server") {
    std::ofstream(auth_file) << "# nobody yet\n\n   # still nobody\n";
    auto [code, printed] = serve_refusing(dir, {"--auth-file", auth_file});
    CHECK(code == 3);
    CHECK(printed.find(auth_file) != std::string::npos);
    CHECK(printed.find("no tokens") != std::string::npos);
  }
  SECTION("a short token is refused with the rule") {
    std::ofstream(auth_file) << "x admin\n";
    auto [code, printed] = serve_refusing(dir, {"--auth-file", auth_file});
    CHECK(code == 3);
    CHECK(printed.find(auth_file + ":1") != std::string::npos);
    CHECK(printed.find("at least 16 characters") != std::string::npos);
  }
}
