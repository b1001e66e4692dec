// read_log_tail / read_log_after and the kept logs of StateStore, on real files in a temp dir.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "runtime/log_reader.h"
#include "runtime/state_store.h"

using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {

struct Dir {
  fs::path path = fs::temp_directory_path() /
                  ("sluice-log-reader-" + std::to_string(::getpid()) + "-" +
                   std::to_string(reinterpret_cast<uintptr_t>(this)));
  Dir() { fs::create_directories(path); }
  ~Dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& content) const {
    const std::string file = (path / name).string();
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }
};

}  // namespace

TEST_CASE("read_log_tail joins the rotated file and the current one", "[runtime][logs]") {
  Dir dir;
  const std::string old = dir.write("a.log.1", "one\ntwo\n");
  const std::string cur = dir.write("a.log", "three\nfour\n");
  LogTail all = read_log_tail({old, cur}, 0, 1 << 20);
  CHECK(all.found);
  CHECK(all.text == "one\ntwo\nthree\nfour\n");
  CHECK_FALSE(all.truncated);
  CHECK(all.end_offset == 11);  // the size of the current file

  LogTail last = read_log_tail({old, cur}, 3, 1 << 20);
  CHECK(last.text == "two\nthree\nfour\n");
  CHECK(last.truncated);

  // A byte bound cuts at a line start, never mid-line.
  LogTail bounded = read_log_tail({old, cur}, 0, 9);
  CHECK(bounded.text == "four\n");
  CHECK(bounded.truncated);

  // A last line without a newline counts as a line.
  const std::string partial = dir.write("b.log", "x\ny\nz");
  CHECK(read_log_tail({partial}, 2, 100).text == "y\nz");

  CHECK_FALSE(read_log_tail({(dir.path / "missing.log").string()}, 0, 100).found);
}

TEST_CASE("read_log_after returns what was appended, or all of a rotated file",
          "[runtime][logs]") {
  Dir dir;
  const std::string file = dir.write("a.log", "hello\n");
  LogTail first = read_log_after(file, 0, 100);
  CHECK(first.text == "hello\n");
  CHECK(first.end_offset == 6);
  std::ofstream(file, std::ios::app) << "world\n";
  LogTail next = read_log_after(file, first.end_offset, 100);
  CHECK(next.text == "world\n");
  CHECK(next.end_offset == 12);
  CHECK(read_log_after(file, next.end_offset, 100).text.empty());
  // Rotation truncated it: the file is shorter than the offset, so all of it is new.
  std::ofstream(file, std::ios::trunc) << "again\n";
  CHECK(read_log_after(file, next.end_offset, 100).text == "again\n");
}

TEST_CASE("a retired instance's log is kept for its revision until dropped", "[runtime][logs]") {
  Dir dir;
  StateStore store(dir.path.string());
  REQUIRE(store.init());
  InstanceRecord rec;
  rec.id = "shop-2-0";
  rec.rollout = "shop";
  rec.revision = 2;
  REQUIRE(store.write_instance(rec));
  std::ofstream(store.log_path(rec.id) + ".1") << "started\n";
  std::ofstream(store.log_path(rec.id)) << "crashed: exit 3\n";

  store.retire_instance(rec);
  CHECK_FALSE(fs::exists(store.log_path(rec.id)));
  CHECK_FALSE(fs::exists(store.log_path(rec.id) + ".1"));
  const std::string kept = store.kept_log_path("shop", 2, rec.id);
  REQUIRE(fs::exists(kept));
  CHECK(read_log_tail({kept}, 0, 1 << 20).text == "started\ncrashed: exit 3\n");
  // The live log was 16 bytes: the kept file's last 16 bytes are it (a follower's offset into
  // the live log maps onto the kept file).
  CHECK(store.kept_live_size("shop", 2, rec.id) == 16u);
  const auto listed = store.kept_logs("shop");
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].revision == 2);
  CHECK(listed[0].id == "shop-2-0");
  CHECK(store.kept_logs("other").empty());

  store.remove_kept_logs("shop", 2);
  CHECK_FALSE(fs::exists(kept));
  CHECK(store.kept_logs("shop").empty());

  // remove_instance() (no history to keep it for) leaves nothing.
  rec.id = "shop-3-0";
  rec.revision = 3;
  std::ofstream(store.log_path(rec.id)) << "x\n";
  store.remove_instance(rec.id);
  CHECK(store.kept_logs("shop").empty());
}
