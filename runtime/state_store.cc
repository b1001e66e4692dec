#include "runtime/state_store.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <tuple>
#include <limits>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "runtime/log_reader.h"
#include "runtime/spec_codec.h"

namespace sluice::runtime {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

InstanceRole role_from_name(const std::string& name) {
  if (name == "stable") return InstanceRole::kStable;
  if (name == "preview") return InstanceRole::kPreview;
  return InstanceRole::kCanary;
}

json record_to_json(const InstanceRecord& r) {
  return {{"id", r.id},
          {"rollout", r.rollout},
          {"revision", r.revision},
          {"index", r.index},
          {"pid", r.pid},
          {"startTicks", r.start_ticks},
          {"ports", r.ports},
          {"role", role_name(r.role)},
          {"restarts", r.restarts},
          {"consecutiveFailures", r.consecutive_failures},
          {"startedAtMs", r.started_at_ms},
          {"terminating", r.terminating},
          {"ready", r.ready},
          {"readySinceMs", r.ready_since_ms}};
}

InstanceRecord record_from_json(const json& j) {
  InstanceRecord r;
  r.id = j.at("id").get<std::string>();
  r.rollout = j.at("rollout").get<std::string>();
  r.revision = j.at("revision").get<int64_t>();
  r.index = j.at("index").get<int>();
  r.pid = j.at("pid").get<int>();
  r.start_ticks = j.at("startTicks").get<uint64_t>();
  r.ports = j.at("ports").get<std::map<std::string, int>>();
  r.role = role_from_name(j.at("role").get<std::string>());
  r.restarts = j.at("restarts").get<int>();
  r.consecutive_failures = j.at("consecutiveFailures").get<int>();
  r.started_at_ms = j.at("startedAtMs").get<int64_t>();
  r.terminating = j.value("terminating", false);
  r.ready = j.value("ready", false);
  r.ready_since_ms = j.value("readySinceMs", int64_t{0});
  return r;
}

Result<json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return unavailable(fmt::format("read {}: {}", path.string(), strerror(errno)));
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return json::parse(buf.str());
  } catch (const json::exception& e) {
    return data_loss(fmt::format("{}: {}", path.string(), e.what()));
  }
}

}  // namespace

Status write_file_atomically(const std::string& path, const std::string& content, bool sync) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return unavailable(fmt::format("open {}: {}", tmp, strerror(errno)));
  const bool written =
      write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
  const bool synced = !sync || fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!written || !synced) return unavailable(fmt::format("write {}: {}", tmp, strerror(saved)));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return unavailable(fmt::format("rename {}: {}", tmp, strerror(errno)));
  }
  if (sync) {
    const std::string dir = fs::path(path).parent_path().string();
    const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      fsync(dfd);
      close(dfd);
    }
  }
  return Status::ok();
}

StateStore::StateStore(std::string state_dir) : root_(std::move(state_dir) + "/runtime") {}

Status StateStore::init() {
  std::error_code ec;
  for (const char* sub : {"instances", "revisions", "roles", "logs"}) {
    fs::create_directories(fs::path(root_) / sub, ec);
    if (ec) return unavailable(fmt::format("create {}/{}: {}", root_, sub, ec.message()));
  }
  return Status::ok();
}

std::string StateStore::log_path(const std::string& id) const {
  return fmt::format("{}/logs/{}.log", root_, id);
}

std::string StateStore::role_path(const std::string& id) const {
  return fmt::format("{}/roles/{}", root_, id);
}

Status StateStore::write_instance(const InstanceRecord& record) {
  return write_file_atomically(fmt::format("{}/instances/{}.json", root_, record.id),
                               record_to_json(record).dump(), false);
}

void StateStore::remove_instance(const std::string& id) {
  std::error_code ec;
  fs::remove(fmt::format("{}/instances/{}.json", root_, id), ec);
  fs::remove(role_path(id), ec);
  fs::remove(log_path(id), ec);
  fs::remove(log_path(id) + ".1", ec);
}

std::string StateStore::kept_log_path(const std::string& rollout, int64_t revision,
                                      const std::string& id) const {
  return fmt::format("{}/logs/{}/{}/{}.log", root_, rollout, revision, id);
}

void StateStore::retire_instance(const InstanceRecord& record) {
  const std::string kept = kept_log_path(record.rollout, record.revision, record.id);
  const LogTail tail =
      read_log_tail({log_path(record.id) + ".1", log_path(record.id)}, 0, kKeptLogBytes);
  if (tail.found) {
    std::error_code ec;
    fs::create_directories(fs::path(kept).parent_path(), ec);
    // Not fsynced, like the rest of this dir: losing it in a machine crash loses only history.
    // The live log's size first, so a kept file never lacks it (kept_live_size).
    if (!ec) (void)write_file_atomically(kept + ".size", std::to_string(tail.end_offset), false);
    if (!ec) (void)write_file_atomically(kept, tail.text, false);
  }
  remove_instance(record.id);
}

void StateStore::remove_kept_logs(const std::string& rollout, std::optional<int64_t> revision) {
  std::error_code ec;
  const fs::path dir = fs::path(root_) / "logs" / rollout;
  if (revision) {
    fs::remove_all(dir / std::to_string(*revision), ec);
    fs::remove(dir, ec);  // only when it is now empty
  } else {
    fs::remove_all(dir, ec);
  }
}

std::vector<StateStore::KeptLog> StateStore::kept_logs(const std::string& rollout) const {
  std::vector<KeptLog> out;
  std::error_code ec;
  const fs::path dir = fs::path(root_) / "logs" / rollout;
  for (fs::directory_iterator revs(dir, ec), end; !ec && revs != end; revs.increment(ec)) {
    const std::string name = revs->path().filename().string();
    char* stop = nullptr;
    const long long revision = std::strtoll(name.c_str(), &stop, 10);
    if (name.empty() || *stop != '\0' || !revs->is_directory(ec)) continue;
    std::error_code inner;
    for (fs::directory_iterator f(revs->path(), inner); !inner && f != end; f.increment(inner)) {
      if (f->path().extension() != ".log") continue;
      out.push_back({revision, f->path().stem().string()});
    }
  }
  std::sort(out.begin(), out.end(), [](const KeptLog& a, const KeptLog& b) {
    return std::tie(a.revision, a.id) < std::tie(b.revision, b.id);
  });
  return out;
}

std::optional<uint64_t> StateStore::kept_live_size(const std::string& rollout, int64_t revision,
                                                   const std::string& id) const {
  std::ifstream in(kept_log_path(rollout, revision, id) + ".size");
  uint64_t size = 0;
  if (!(in >> size)) return std::nullopt;
  return size;
}

Status StateStore::write_revision(const RevisionSpec& spec, int replicas) {
  json j = {{"spec", revision_to_json(spec)}, {"replicas", replicas}};
  return write_file_atomically(
      fmt::format("{}/revisions/{}@{}.json", root_, spec.rollout, spec.revision), j.dump(), false);
}

void StateStore::remove_revision(const std::string& rollout, int64_t revision) {
  std::error_code ec;
  fs::remove(fmt::format("{}/revisions/{}@{}.json", root_, rollout, revision), ec);
}

Status StateStore::write_role(const std::string& id, InstanceRole role) {
  return write_file_atomically(role_path(id), std::string(role_name(role)) + "\n", false);
}

namespace {

// A record that cannot be read back is reported and moved aside as NAME.corrupt, never deleted
// and never fatal: the next start does not trip on it again, and it stays there to be looked at.
void set_aside(const fs::path& path, std::string why, std::vector<std::string>& problems) {
  std::error_code ec;
  const fs::path aside = path.string() + ".corrupt";
  fs::rename(path, aside, ec);
  problems.push_back(ec ? fmt::format("{} (could not move it aside: {})", why, ec.message())
                        : fmt::format("{} (moved aside to {})", why, aside.string()));
}

Result<StoredRevision> revision_record(const fs::path& path) {
  auto j = read_json(path);
  if (!j) return j.status();
  if (!j->is_object() || !j->contains("spec") || !(*j)["spec"].is_object())
    return data_loss(fmt::format("{}: not a revision record (no \"spec\" object)", path.string()));
  const json& replicas = j->contains("replicas") ? (*j)["replicas"] : json(0);
  if (!replicas.is_number_integer() || replicas.get<int64_t>() < 0 ||
      replicas.get<int64_t>() > std::numeric_limits<int>::max()) {
    return data_loss(fmt::format("{}: \"replicas\" must be a whole number >= 0", path.string()));
  }
  auto spec = revision_from_json((*j)["spec"]);
  if (!spec) return data_loss(fmt::format("{}: {}", path.string(), spec.status().message()));
  return StoredRevision{std::move(*spec), replicas.get<int>()};
}

}  // namespace

StateStore::Loaded StateStore::load() const {
  Loaded loaded;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / "revisions", ec)) {
    if (entry.path().extension() != ".json") continue;
    auto revision = revision_record(entry.path());
    if (!revision) {
      set_aside(entry.path(), revision.status().message(), loaded.problems);
      continue;
    }
    loaded.revisions.push_back(std::move(*revision));
  }
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / "instances", ec)) {
    if (entry.path().extension() != ".json") continue;
    auto j = read_json(entry.path());
    if (!j) {
      set_aside(entry.path(), j.status().message(), loaded.problems);
      continue;
    }
    try {
      loaded.instances.push_back(record_from_json(*j));
    } catch (const json::exception& e) {
      set_aside(entry.path(), fmt::format("{}: {}", entry.path().string(), e.what()),
                loaded.problems);
    }
  }
  return loaded;
}

}  // namespace sluice::runtime
