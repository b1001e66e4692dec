#include "kube/rest_cluster.h"

#include <random>

#include "kube/resource_path.h"

namespace sluice::kube {

using internal::collection_path;
using internal::object_path;
using internal::query;

namespace {

const char* api_version(ResourceKind kind) {
  return kind == ResourceKind::kReplicaSet ? "apps/v1" : "v1";
}

std::string spec_key(const InformerSpec& spec) {
  std::string key =
      std::string(kind_name(spec.kind)) + "\n" + spec.namespace_name + "\n" + spec.label_selector;
  for (const std::string& label : spec.index_labels) key += "\n" + label;
  return key;
}

// Fills apiVersion, kind and the namespace when the caller left them out; the server needs them
// for apply and checks them for create.
void complete(nlohmann::json& object, ResourceKind kind, const std::string& namespace_name) {
  if (!object.is_object()) return;
  if (!object.contains("apiVersion")) object["apiVersion"] = api_version(kind);
  if (!object.contains("kind")) object["kind"] = kind_name(kind);
  if (!object.contains("metadata")) object["metadata"] = nlohmann::json::object();
  nlohmann::json& metadata = object["metadata"];
  if (metadata.is_object() && !metadata.contains("namespace")) {
    metadata["namespace"] = namespace_name;
  }
}

Result<std::string> dump(const nlohmann::json& object) {
  try {
    return object.dump();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("the object is not valid JSON text: ") + e.what());
  }
}

Status prefixed(const std::string& what, const Status& s) {
  return Status(s.code(), what + ": " + s.message());
}

}  // namespace

Result<std::unique_ptr<RestCluster>> RestCluster::create(ClusterConfig config,
                                                         RestClusterOptions options,
                                                         const Clock& clock) {
  const std::string source = config.source.empty() ? "Kubernetes client" : config.source;
  if (!(options.rate_limit.qps > 0)) {
    return invalid_argument(source + ": the client QPS limit must be positive");
  }
  if (options.rate_limit.burst < 1) {
    return invalid_argument(source + ": the client burst must be at least 1");
  }
  if (options.write_threads < 1) {
    return invalid_argument(source + ": write_threads must be at least 1");
  }
  if (options.conflict_attempts < 1) {
    return invalid_argument(source + ": conflict_attempts must be at least 1");
  }
  if (options.field_manager.empty()) {
    return invalid_argument(source + ": the field manager must not be empty");
  }
  auto client = RestClient::create(std::move(config), options.client);
  if (!client) return client.status();
  if (options.seed == 0) options.seed = (uint64_t{std::random_device{}()} << 32) | 1;
  return std::unique_ptr<RestCluster>(
      new RestCluster(std::move(client).value(), std::move(options), clock));
}

RestCluster::RestCluster(std::unique_ptr<RestClient> client, RestClusterOptions options,
                         const Clock& clock)
    : client_(std::move(client)),
      options_(std::move(options)),
      clock_(clock),
      limiter_(clock_, options_.rate_limit),
      next_seed_(options_.seed) {
  for (int i = 0; i < options_.write_threads; ++i) workers_.emplace_back([this] { work(); });
}

RestCluster::~RestCluster() {
  stop_.stop();
  {
    std::lock_guard lock(informers_mu_);
    for (auto& reflector : reflectors_) reflector->stop();
  }
  std::deque<Write> dropped;
  {
    std::lock_guard lock(queue_mu_);
    closing_ = true;
    dropped.swap(queue_);
  }
  queue_cv_.notify_all();
  for (std::thread& worker : workers_) worker.join();
  for (Write& write : dropped) {
    write.done(unavailable("the Kubernetes client stopped before the request was sent"));
  }
}

Result<std::shared_ptr<Informer>> RestCluster::informer(const InformerSpec& spec) {
  if (spec.namespace_name.empty()) {
    return invalid_argument(std::string("an informer of ") + kind_name(spec.kind) +
                            "s needs a namespace");
  }
  std::lock_guard lock(informers_mu_);
  const std::string key = spec_key(spec);
  if (auto it = informers_.find(key); it != informers_.end()) return it->second;
  auto informer = std::make_shared<Informer>(spec, clock_);
  auto reflector =
      std::make_unique<Reflector>(informer, *client_, limiter_, options_.reflector, next_seed_++);
  reflector->start();
  reflectors_.push_back(std::move(reflector));
  informers_.emplace(key, informer);
  return informer;
}

void RestCluster::enqueue(Write write) {
  {
    std::lock_guard lock(queue_mu_);
    if (!closing_ && queue_.size() < options_.max_queued_writes) {
      queue_.push_back(std::move(write));
      queue_cv_.notify_one();
      return;
    }
  }
  // Refused: answered on the caller's thread, which cluster.h allows only here, so that a full
  // queue is visible at once. The message says why.
  write.done(unavailable("the Kubernetes client's write queue is full (" +
                         std::to_string(options_.max_queued_writes) + ") or stopped"));
}

void RestCluster::work() {
  for (;;) {
    Write write;
    {
      std::unique_lock lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;  // closing
      write = std::move(queue_.front());
      queue_.pop_front();
    }
    write.done(write.run());
  }
}

Result<Response> RestCluster::send(const std::string& method, const std::string& path,
                                   const std::string& body, const std::string& content_type) {
  auto wait = limiter_.reserve(client_->options().timeout);
  if (!wait) return wait.status();
  if (wait->count() > 0 && !stop_.wait_for(*wait)) {
    return unavailable("the Kubernetes client stopped before the request was sent");
  }
  return client_->request(method, path, body, content_type);
}

Result<WriteResult> RestCluster::with_conflict_retry(
    const std::string& what, const std::string& method, const std::string& path,
    const std::string& content_type, const std::function<Result<std::string>()>& body_for_attempt) {
  Status last;
  for (int attempt = 1; attempt <= options_.conflict_attempts; ++attempt) {
    auto body = body_for_attempt();
    if (!body) return prefixed(what, body.status());
    auto response = send(method, path, *body, content_type);
    if (!response) return prefixed(what, response.status());
    if (response->ok()) return WriteResult{std::move(response->json), attempt};
    last = response->to_status();
    if (response->status != 409) return prefixed(what, last);
  }
  return prefixed(
      what, Status(last.code(), "gave up after " + std::to_string(options_.conflict_attempts) +
                                    " attempts on 409 Conflict: " + last.message()));
}

void RestCluster::create(ResourceKind kind, const std::string& namespace_name,
                         nlohmann::json object, WriteCallback done) {
  complete(object, kind, namespace_name);
  const std::string name = object.is_object() && object.contains("metadata")
                               ? internal::string_member(object["metadata"], "name")
                               : std::string();
  const std::string what = "create " + ObjectRef{kind, namespace_name, name}.describe();
  const std::string path = collection_path(kind, namespace_name);
  enqueue({[this, what, path, object = std::move(object)]() -> Result<WriteResult> {
             auto body = dump(object);
             if (!body) return prefixed(what, body.status());
             auto response = send("POST", path, *body, "application/json");
             if (!response) return prefixed(what, response.status());
             if (!response->ok()) return prefixed(what, response->to_status());
             return WriteResult{std::move(response->json), 1};
           },
           std::move(done)});
}

void RestCluster::patch(const ObjectRef& ref, PatchType type, std::string body,
                        WriteCallback done) {
  const std::string what = "patch " + ref.describe();
  const std::string path = object_path(ref);
  enqueue({[this, what, path, type, body = std::move(body)] {
             return with_conflict_retry(what, "PATCH", path, patch_content_type(type),
                                        [&body]() -> Result<std::string> { return body; });
           },
           std::move(done)});
}

void RestCluster::apply(const ObjectRef& ref, nlohmann::json object, WriteCallback done) {
  complete(object, ref.kind, ref.namespace_name);
  if (object.is_object() && object["metadata"].is_object() &&
      !object["metadata"].contains("name")) {
    object["metadata"]["name"] = ref.name;
  }
  const std::string what = "apply " + ref.describe();
  const std::string path =
      object_path(ref) + query({{"fieldManager", options_.field_manager}, {"force", "true"}});
  enqueue({[this, what, path, object = std::move(object)] {
             return with_conflict_retry(what, "PATCH", path, patch_content_type(PatchType::kApply),
                                        [&object] { return dump(object); });
           },
           std::move(done)});
}

void RestCluster::update(const ObjectRef& ref, PatchType type, MakePatch make_patch,
                         WriteCallback done) {
  const std::string what = "update " + ref.describe();
  const std::string path = object_path(ref);
  enqueue({[this, what, path, type, make_patch = std::move(make_patch)] {
             const auto read_and_make = [&]() -> Result<std::string> {
               auto current = send("GET", path, "", "");
               if (!current) return current.status();
               if (!current->ok()) return current->to_status();
               return make_patch(current->json);
             };
             return with_conflict_retry(what, "PATCH", path, patch_content_type(type),
                                        read_and_make);
           },
           std::move(done)});
}

void RestCluster::remove(const ObjectRef& ref, WriteCallback done) {
  const std::string what = "delete " + ref.describe();
  const std::string path = object_path(ref);
  enqueue({[this, what, path]() -> Result<WriteResult> {
             auto response = send("DELETE", path, "", "");
             if (!response) return prefixed(what, response.status());
             if (!response->ok()) return prefixed(what, response->to_status());
             return WriteResult{std::move(response->json), 1};
           },
           std::move(done)});
}

}  // namespace sluice::kube
