#include "tests/support/fakes/fake_cluster.h"

#include <fmt/format.h>

#include <sstream>

namespace sluice::fakes {

using kube::Informer;
using kube::InformerSpec;
using kube::ObjectRef;
using kube::PatchType;
using kube::ResourceKind;
using kube::WriteResult;
using nlohmann::json;

namespace {

std::string name_of(const json& object) {
  return object.value("/metadata/name"_json_pointer, std::string());
}
std::string namespace_of(const json& object) {
  return object.value("/metadata/namespace"_json_pointer, std::string());
}

// "a=b,c=d" against the object's labels; an empty selector selects everything.
bool selects(const std::string& selector, const json& object) {
  std::stringstream in(selector);
  std::string term;
  while (std::getline(in, term, ',')) {
    if (term.empty()) continue;
    const size_t eq = term.find('=');
    const std::string key = term.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : term.substr(eq + 1);
    // json_pointer escaping: '/' in label keys becomes "~1".
    std::string escaped;
    for (char c : key) escaped += c == '/' ? std::string("~1") : std::string(1, c);
    const json::json_pointer pointer("/metadata/labels/" + escaped);
    if (!object.contains(pointer) || object[pointer] != value) return false;
  }
  return true;
}

}  // namespace

FakeCluster::Key FakeCluster::key_of(ResourceKind kind, const std::string& ns,
                                     const std::string& name) {
  return fmt::format("{}/{}/{}", kube::kind_name(kind), ns, name);
}

Result<std::shared_ptr<Informer>> FakeCluster::informer(const InformerSpec& spec) {
  if (spec.namespace_name.empty()) return invalid_argument("informer: empty namespace");
  std::shared_ptr<Informer> informer;
  bool sync = false;
  {
    std::lock_guard lock(mu_);
    for (const auto& [known, existing] : informers_) {
      if (known.kind == spec.kind && known.namespace_name == spec.namespace_name &&
          known.label_selector == spec.label_selector && known.index_labels == spec.index_labels) {
        return existing;
      }
    }
    informer = std::make_shared<Informer>(spec, clock_);
    informers_.emplace_back(spec, informer);
    sync = !hold_sync_;
  }
  if (sync) sync_informers();
  return informer;
}

void FakeCluster::sync_informers() {
  std::vector<std::pair<InformerSpec, std::shared_ptr<Informer>>> informers;
  std::map<Key, json> objects;
  std::string version;
  {
    std::lock_guard lock(mu_);
    informers = informers_;
    objects = objects_;
    version = std::to_string(resource_version_);
  }
  for (const auto& [spec, informer] : informers) {
    std::vector<json> selected;
    for (const auto& [key, object] : objects) {
      if (key.rfind(std::string(kube::kind_name(spec.kind)) + "/" + spec.namespace_name + "/", 0) ==
              0 &&
          selects(spec.label_selector, object)) {
        selected.push_back(object);
      }
    }
    informer->replace(selected, version);
  }
}

void FakeCluster::break_watches(const Status& why) {
  std::vector<std::pair<InformerSpec, std::shared_ptr<Informer>>> informers;
  {
    std::lock_guard lock(mu_);
    informers = informers_;
  }
  for (auto& entry : informers) entry.second->mark_stale(why, false);
}

void FakeCluster::hold_sync(bool hold) {
  std::lock_guard lock(mu_);
  hold_sync_ = hold;
}

std::vector<std::shared_ptr<Informer>> FakeCluster::informers_for(ResourceKind kind,
                                                                  const json& object) const {
  std::vector<std::shared_ptr<Informer>> out;
  for (const auto& [spec, informer] : informers_) {
    if (spec.kind == kind && spec.namespace_name == namespace_of(object) &&
        informer->has_synced()) {
      out.push_back(informer);
    }
  }
  return out;
}

json FakeCluster::store(ResourceKind kind, json object) {
  std::vector<std::shared_ptr<Informer>> informers;
  bool existed = false;
  json before;
  {
    std::lock_guard lock(mu_);
    object["metadata"]["resourceVersion"] = std::to_string(++resource_version_);
    const Key key = key_of(kind, namespace_of(object), name_of(object));
    auto it = objects_.find(key);
    existed = it != objects_.end();
    if (existed) before = it->second;
    objects_[key] = object;
    informers = informers_for(kind, object);
  }
  for (const auto& informer : informers) {
    const bool now = selects(informer->spec().label_selector, object);
    const bool was = existed && selects(informer->spec().label_selector, before);
    if (now) {
      (void)informer->apply_event({{"type", was ? "MODIFIED" : "ADDED"}, {"object", object}});
    } else if (was) {
      (void)informer->apply_event({{"type", "DELETED"}, {"object", before}});
    }
  }
  return object;
}

void FakeCluster::put(ResourceKind kind, json object) { store(kind, std::move(object)); }

bool FakeCluster::erase(const ObjectRef& ref) {
  std::vector<std::shared_ptr<Informer>> informers;
  json before;
  {
    std::lock_guard lock(mu_);
    auto it = objects_.find(key_of(ref.kind, ref.namespace_name, ref.name));
    if (it == objects_.end()) return false;
    before = it->second;
    objects_.erase(it);
    informers = informers_for(ref.kind, before);
  }
  for (const auto& informer : informers) {
    if (selects(informer->spec().label_selector, before)) {
      (void)informer->apply_event({{"type", "DELETED"}, {"object", before}});
    }
  }
  return true;
}

std::optional<json> FakeCluster::get(const ObjectRef& ref) const {
  std::lock_guard lock(mu_);
  auto it = objects_.find(key_of(ref.kind, ref.namespace_name, ref.name));
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

void FakeCluster::enqueue(std::string what, std::function<Result<WriteResult>()> run,
                          kube::WriteCallback done) {
  std::lock_guard lock(mu_);
  writes_.push_back(Write{std::move(what), std::move(run), std::move(done)});
}

size_t FakeCluster::run_writes() {
  size_t ran = 0;
  // Bounded: a callback that queues a write forever would otherwise never end the test.
  for (; ran < 10'000; ++ran) {
    Write write;
    std::optional<Status> fail;
    {
      std::lock_guard lock(mu_);
      if (writes_.empty()) break;
      write = std::move(writes_.front());
      writes_.pop_front();
      log_.push_back(write.what);
      fail.swap(fail_next_);
    }
    Result<WriteResult> result = fail ? Result<WriteResult>(*fail) : write.run();
    write.done(std::move(result));
  }
  return ran;
}

size_t FakeCluster::pending_writes() const {
  std::lock_guard lock(mu_);
  return writes_.size();
}

std::vector<std::string> FakeCluster::write_log() const {
  std::lock_guard lock(mu_);
  return log_;
}

void FakeCluster::fail_next_write(Status status) {
  std::lock_guard lock(mu_);
  fail_next_ = std::move(status);
}

void FakeCluster::create(ResourceKind kind, const std::string& namespace_name, json object,
                         kube::WriteCallback done) {
  const ObjectRef ref{kind, namespace_name, name_of(object)};
  enqueue(
      "create " + ref.describe(),
      [this, ref, object]() mutable -> Result<WriteResult> {
        if (get(ref)) {
          return Status(
              StatusCode::kAlreadyExists,
              fmt::format("create {}: HTTP 409 Conflict: already exists", ref.describe()));
        }
        object["metadata"]["namespace"] = ref.namespace_name;
        return WriteResult{store(ref.kind, std::move(object))};
      },
      std::move(done));
}

Result<WriteResult> FakeCluster::patch_now(const ObjectRef& ref, PatchType type,
                                           const std::string& body, bool check_version) {
  std::optional<json> current = get(ref);
  if (!current) {
    return not_found(fmt::format("patch {}: HTTP 404 Not Found", ref.describe()));
  }
  json patch;
  try {
    patch = json::parse(body);
  } catch (const json::exception& e) {
    return invalid_argument(
        fmt::format("patch {}: HTTP 400 Bad Request: {}", ref.describe(), e.what()));
  }
  json updated = *current;
  if (type == PatchType::kJson) {
    try {
      updated = current->patch(patch);
    } catch (const json::exception& e) {
      return invalid_argument(fmt::format("patch {}: HTTP 422: {}", ref.describe(), e.what()));
    }
  } else {
    const json::json_pointer rv("/metadata/resourceVersion");
    if (check_version && patch.contains(rv) && patch[rv] != (*current)[rv]) {
      return Status(StatusCode::kAlreadyExists,
                    fmt::format("patch {}: HTTP 409 Conflict", ref.describe()));
    }
    updated.merge_patch(patch);
  }
  return WriteResult{store(ref.kind, std::move(updated))};
}

void FakeCluster::patch(const ObjectRef& ref, PatchType type, std::string body,
                        kube::WriteCallback done) {
  enqueue(
      "patch " + ref.describe(),
      [this, ref, type, body] { return patch_now(ref, type, body, true); }, std::move(done));
}

void FakeCluster::apply(const ObjectRef& ref, json object, kube::WriteCallback done) {
  enqueue(
      "apply " + ref.describe(),
      [this, ref, object]() mutable -> Result<WriteResult> {
        if (!get(ref)) return WriteResult{store(ref.kind, std::move(object))};
        return patch_now(ref, PatchType::kMerge, object.dump(), false);
      },
      std::move(done));
}

void FakeCluster::update(const ObjectRef& ref, PatchType type, kube::MakePatch make_patch,
                         kube::WriteCallback done) {
  enqueue(
      "update " + ref.describe(),
      [this, ref, type, make_patch]() -> Result<WriteResult> {
        std::optional<json> current = get(ref);
        if (!current) {
          return not_found(fmt::format("get {}: HTTP 404 Not Found", ref.describe()));
        }
        Result<std::string> body = make_patch(*current);
        if (!body) return body.status();
        return patch_now(ref, type, *body, true);
      },
      std::move(done));
}

void FakeCluster::remove(const ObjectRef& ref, kube::WriteCallback done) {
  enqueue(
      "delete " + ref.describe(),
      [this, ref]() -> Result<WriteResult> {
        std::optional<json> current = get(ref);
        if (!current || !erase(ref)) {
          return not_found(fmt::format("delete {}: HTTP 404 Not Found", ref.describe()));
        }
        return WriteResult{*current};
      },
      std::move(done));
}

}  // namespace sluice::fakes
