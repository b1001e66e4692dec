#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "runtime/local_process_runtime.h"
#include "runtime/log_rotation.h"
#include "runtime/port_allocator.h"
#include "runtime/proc.h"
#include "runtime/spec_codec.h"
#include "runtime/state_store.h"

using namespace sluice;
using namespace sluice::runtime;
namespace fs = std::filesystem;

namespace {
struct Tmp {
  std::string path;
  Tmp() {
    std::string t = (fs::temp_directory_path() / "sluice-rtu-XXXXXX").string();
    path = mkdtemp(t.data());
  }
  ~Tmp() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};
}  // namespace

TEST_CASE("revision specs round-trip through JSON") {
  RevisionSpec spec;
  spec.rollout = "orders";
  spec.revision = 7;
  spec.commit = "abc";
  spec.checkout_dir = "/x";
  spec.role = InstanceRole::kPreview;
  spec.pod.version = "2.0";
  spec.pod.command = {"./bin/x", "--port", "$(PORT)"};
  spec.pod.working_dir = "sub";
  spec.pod.env = {{"A", "1"}};
  spec.pod.ports = {{"http", 0}, {"admin", 9000}};
  manifests::Probe probe;
  probe.http_get = manifests::HttpGetAction{"/h", "http", "127.0.0.1", {{"X", "y"}}};
  probe.period = Duration(50);
  spec.pod.readiness_probe = probe;
  manifests::Probe exec;
  exec.exec = manifests::ExecAction{{"true"}};
  spec.pod.liveness_probe = exec;
  manifests::Probe tcp;
  tcp.tcp_socket = manifests::TcpSocketAction{"http"};
  spec.pod.startup_probe = tcp;
  manifests::LifecycleHandler hook;
  hook.http_post = manifests::HttpGetAction{"/admin/activate", "http", "127.0.0.1", {}};
  spec.pod.lifecycle.activate = hook;
  spec.pod.termination_grace_period = Duration(1234);
  auto back = revision_from_json(revision_to_json(spec));
  REQUIRE(back);
  CHECK(back->pod == spec.pod);
  CHECK(back->rollout == spec.rollout);
  CHECK(back->revision == spec.revision);
  CHECK(back->role == spec.role);
  CHECK(back->checkout_dir == spec.checkout_dir);
  CHECK_FALSE(revision_from_json(nlohmann::json{{"rollout", 1}}));
}

TEST_CASE("the state store keeps instances and revisions") {
  Tmp tmp;
  StateStore store(tmp.path);
  REQUIRE(store.init());
  RevisionSpec spec;
  spec.rollout = "a";
  spec.revision = 2;
  REQUIRE(store.write_revision(spec, 3));
  InstanceRecord rec;
  rec.id = "a-2-0";
  rec.rollout = "a";
  rec.revision = 2;
  rec.pid = 42;
  rec.start_ticks = 99;
  rec.ports = {{"http", 31000}};
  rec.role = InstanceRole::kStable;
  REQUIRE(store.write_instance(rec));
  std::ofstream(tmp.path + "/runtime/instances/broken.json") << "{not json";
  auto loaded = store.load();
  REQUIRE(loaded.revisions.size() == 1);
  CHECK(loaded.revisions[0].replicas == 3);
  REQUIRE(loaded.instances.size() == 1);
  CHECK(loaded.instances[0].pid == 42);
  CHECK(loaded.instances[0].start_ticks == 99);
  CHECK(loaded.instances[0].ports.at("http") == 31000);
  CHECK(loaded.instances[0].role == InstanceRole::kStable);
  CHECK(loaded.problems.size() == 1);
  store.remove_instance("a-2-0");
  CHECK(store.load().instances.empty());
}

TEST_CASE("records that cannot be read back are reported and set aside, never fatal",
          "[bad-input]") {
  // Issue 19: one revisions/*.json kept the controller down until deleted by hand.
  Tmp tmp;
  StateStore store(tmp.path);
  REQUIRE(store.init());
  RevisionSpec spec;
  spec.rollout = "a";
  spec.revision = 2;
  REQUIRE(store.write_revision(spec, 3));
  const std::string good = tmp.path + "/runtime/revisions/a@2.json";
  std::ifstream in(good);
  const std::string good_text((std::istreambuf_iterator<char>(in)), {});
  auto with_replicas = [&](const std::string& value) {
    const size_t at = good_text.find("\"replicas\":3");
    REQUIRE(at != std::string::npos);
    return good_text.substr(0, at) + "\"replicas\":" + value +
           good_text.substr(at + std::string("\"replicas\":3").size());
  };
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"array", "[]"},
      {"string", "\"x\""},
      {"number", "5"},
      {"spec-not-object", "{\"spec\":5,\"replicas\":1}"},
      {"spec-missing", "{\"replicas\":1}"},
      {"spec-fields-wrong", "{\"spec\":{\"rollout\":7},\"replicas\":1}"},
      {"replicas-string", with_replicas("\"many\"")},
      {"replicas-negative", with_replicas("-1")},
      {"replicas-huge", with_replicas("1e300")},
      {"truncated", good_text.substr(0, good_text.size() / 2)},
      {"empty", ""},
  };
  for (const auto& [name, text] : bad) {
    std::ofstream(tmp.path + "/runtime/revisions/" + name + ".json") << text;
  }
  std::ofstream(tmp.path + "/runtime/instances/array.json") << "[1,2]";
  std::ofstream(tmp.path + "/runtime/instances/fields.json") << "{\"id\":5}";

  auto loaded = store.load();
  REQUIRE(loaded.revisions.size() == 1);
  CHECK(loaded.revisions[0].replicas == 3);
  CHECK(loaded.instances.empty());
  CHECK(loaded.problems.size() == bad.size() + 2);
  for (const auto& [name, text] : bad) {
    INFO(name);
    CHECK_FALSE(fs::exists(tmp.path + "/runtime/revisions/" + name + ".json"));
    CHECK(fs::exists(tmp.path + "/runtime/revisions/" + name + ".json.corrupt"));
  }
  for (const auto& problem : loaded.problems) CHECK_THAT(problem, Catch::Contains("moved aside"));
  // Set aside, the next start reads a clean directory.
  auto again = store.load();
  CHECK(again.problems.empty());
  CHECK(again.revisions.size() == 1);
}

TEST_CASE("workingDir stays inside the checkout") {
  Tmp tmp;
  fs::create_directories(tmp.path + "/co/sub");
  fs::create_directories(tmp.path + "/other");
  fs::create_symlink(tmp.path + "/other", tmp.path + "/co/link");
  const std::string co = tmp.path + "/co";
  CHECK(resolve_working_dir(co, ".").value() == fs::canonical(co).string());
  CHECK(resolve_working_dir(co, "sub").value() == fs::canonical(co + "/sub").string());
  CHECK(resolve_working_dir(co, "sub/..").is_ok());
  CHECK_FALSE(resolve_working_dir(co, "..").is_ok());
  CHECK_FALSE(resolve_working_dir(co, "../other").is_ok());
  CHECK_FALSE(resolve_working_dir(co, "link").is_ok());  // symlink out of the checkout
  CHECK_FALSE(resolve_working_dir(co, "/tmp").is_ok());
  CHECK_FALSE(resolve_working_dir(co, "missing").is_ok());
}

TEST_CASE("/proc start time identifies this process") {
  auto self = read_proc_stat(getpid());
  REQUIRE(self);
  CHECK(self->start_ticks > 0);
  CHECK(is_same_live_process(getpid(), self->start_ticks));
  CHECK_FALSE(is_same_live_process(getpid(), self->start_ticks + 1));
  CHECK_FALSE(is_same_live_process(0, 0));
}

TEST_CASE("port allocation never hands out a held port twice") {
  PortAllocator ports;
  std::set<int> seen;
  for (int i = 0; i < 50; ++i) {
    auto p = ports.allocate();
    REQUIRE(p);
    CHECK(seen.insert(*p).second);
    CHECK(ports.held(*p));
  }
}

TEST_CASE("copy-truncate rotation keeps the tail and empties the file") {
  Tmp tmp;
  const std::string log = tmp.path + "/x.log";
  {
    std::ofstream out(log);
    for (int i = 0; i < 1000; ++i) out << "line " << i << "\n";
  }
  CHECK_FALSE(rotate_log_if_needed(log, 1 << 20).value());
  CHECK(rotate_log_if_needed(log, 100).value());
  CHECK(fs::file_size(log) == 0);
  CHECK(fs::file_size(log + ".1") == 100);
  std::ifstream in(log + ".1");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(all.substr(all.size() - 9) == "line 999\n");
}
