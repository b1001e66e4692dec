#include "kube/reflector.h"

#include "kube/resource_path.h"

namespace sluice::kube {

using internal::collection_path;
using internal::query;
using internal::string_member;

Reflector::Reflector(std::shared_ptr<Informer> informer, RestClient& client, RateLimiter& limiter,
                     ReflectorOptions options, uint64_t seed)
    : informer_(std::move(informer)),
      client_(client),
      limiter_(limiter),
      options_(std::move(options)),
      random_(seed),
      resource_version_(options_.resume_resource_version) {}

Reflector::~Reflector() { stop(); }

void Reflector::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void Reflector::stop() {
  stop_.stop();
  if (thread_.joinable()) thread_.join();
}

bool Reflector::pace(Status* status) {
  auto wait = limiter_.reserve(client_.options().timeout);
  if (!wait) {
    *status = wait.status();
    return false;
  }
  if (wait->count() > 0 && !stop_.wait_for(*wait)) {
    *status = unavailable("stopped");
    return false;
  }
  return true;
}

void Reflector::run() {
  Backoff backoff(options_.backoff, random_);
  bool need_list = resource_version_.empty();
  while (!stop_.stopped()) {
    if (need_list) {
      if (Status s = list_all(); !s) {
        if (stop_.stopped()) break;
        informer_->mark_stale(s, /*gone=*/false);
        stop_.wait_for(backoff.next());
        continue;
      }
      backoff.reset();
      need_list = false;
    }
    const Status s = watch_once();
    if (stop_.stopped()) break;
    if (s) continue;  // the server ended the watch: watch again from the last resourceVersion
    need_list = true;
    if (s.code() == StatusCode::kFailedPrecondition) {  // 410 Gone: only a new list helps
      informer_->mark_stale(s, /*gone=*/true);
      continue;
    }
    informer_->mark_stale(s, /*gone=*/false);
    stop_.wait_for(backoff.next());
  }
}

Status Reflector::list_all() {
  const InformerSpec& spec = informer_->spec();
  const std::string base = collection_path(spec.kind, spec.namespace_name);
  const std::string what =
      std::string("list ") + kind_name(spec.kind) + "s in " + spec.namespace_name;
  std::vector<nlohmann::json> items;
  std::string continue_token;
  bool paginate = options_.page_size > 0;
  for (;;) {
    Status paced;
    if (!pace(&paced)) return Status(paced.code(), what + ": " + paced.message());
    const std::string path =
        base + query({{"labelSelector", spec.label_selector},
                      {"limit", paginate ? std::to_string(options_.page_size) : ""},
                      {"continue", continue_token}});
    auto response = client_.get(path);
    if (!response)
      return Status(response.status().code(), what + ": " + response.status().message());
    if (response->status == 410 && !continue_token.empty()) {
      // The continue token expired between pages: start over with one whole list, as client-go's
      // pager does.
      items.clear();
      continue_token.clear();
      paginate = false;
      continue;
    }
    if (Status s = response->to_status(); !s) return Status(s.code(), what + ": " + s.message());
    const nlohmann::json& body = response->json;
    const auto list_items = body.is_object() ? body.find("items") : body.end();
    const auto metadata = body.is_object() ? body.find("metadata") : body.end();
    if (metadata == body.end() || !metadata->is_object()) {
      return unavailable(what + ": the answer is not a list");
    }
    if (list_items != body.end() && list_items->is_array()) {
      for (const nlohmann::json& item : *list_items) items.push_back(item);
    }
    continue_token = string_member(*metadata, "continue");
    if (continue_token.empty()) {
      const std::string rv = string_member(*metadata, "resourceVersion");
      if (rv.empty()) return unavailable(what + ": the list has no resourceVersion");
      resource_version_ = rv;
      informer_->replace(items, rv);
      return Status::ok();
    }
  }
}

Status Reflector::watch_once() {
  const InformerSpec& spec = informer_->spec();
  Status paced;
  if (!pace(&paced)) return paced;
  const int64_t base_s = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.watch_timeout).count());
  const int64_t timeout_s = base_s + static_cast<int64_t>(random_.uniform(base_s));
  const std::string path = collection_path(spec.kind, spec.namespace_name) +
                           query({{"watch", "1"},
                                  {"labelSelector", spec.label_selector},
                                  {"resourceVersion", resource_version_},
                                  {"allowWatchBookmarks", "true"},
                                  {"timeoutSeconds", std::to_string(timeout_s)}});
  Status event_error;
  const auto on_event = [&](const nlohmann::json& event) {
    if (Status s = informer_->apply_event(event); !s) {
      event_error = s;
      return false;
    }
    // apply_event checked that "object" is an object.
    const nlohmann::json& object = event.at("object");
    const auto metadata = object.find("metadata");
    if (metadata != object.end()) {
      const std::string rv = string_member(*metadata, "resourceVersion");
      if (!rv.empty()) resource_version_ = rv;
    }
    return true;
  };
  // The server ends the watch after timeout_s; no byte for that long plus a margin means the
  // connection is dead without having been closed.
  const Duration idle = std::chrono::seconds(timeout_s + 30);
  Status s = client_.watch(path, on_event, stop_.flag(), idle);
  if (!event_error.is_ok()) return unavailable("watch " + path + ": " + event_error.message());
  return s;
}

}  // namespace sluice::kube
