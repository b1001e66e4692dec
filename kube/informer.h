// An informer: a thread-safe, indexed, in-memory copy of one kind of object in one namespace,
// selected by label, with the state a caller needs to know whether that copy can be trusted.
// Modelled on client-go's SharedIndexInformer (tools/cache): a reflector (kube/reflector.h)
// lists, then watches, and feeds it; reconciles read it and never the API.
//
// Freshness contract (what "do not decide on stale data" means here):
//  - has_synced(): the first complete list has been stored. Before that the cache is empty or
//    partial and must not be read as "there are no such objects".
//  - is_fresh(): has_synced(), and since the last successful list the watch has not failed.
//    It turns false as soon as a list or watch fails (apiserver down, 410 Gone, a cut stream) and
//    true again only when a new complete list has replaced the cache. A caller that would act on
//    absence or counts (scale down, switch a selector, count ready Pods) checks is_fresh() first
//    and requeues when it is false. A fresh cache lags the apiserver by the watch's delivery
//    delay only (milliseconds on loopback); the one thing it cannot see is an apiserver that stops
//    sending without closing the connection, which the reflector notices after its idle timeout.
//
// Threads: reads (get, list, by_label, state, has_synced, is_fresh) may be called from any
// thread; they take a shared lock and return shared pointers to immutable objects, so a reader
// never sees an object change under it. The feeding methods (replace, apply_event,
// mark_stale) are called by one feeder thread at a time: the reflector's, or a unit test playing
// the cluster. Handlers run on the feeder's thread, after the cache holds the change, one event
// at a time and in order; they must not block (post to your own strand and return).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/status.h"

namespace sluice::kube {

enum class ResourceKind { kReplicaSet, kPod, kService };
// "ReplicaSet", "Pod", "Service".
const char* kind_name(ResourceKind kind);

// One object, named for messages: "ReplicaSet shop/orders-api-7d4b9c".
struct ObjectRef {
  ResourceKind kind = ResourceKind::kPod;
  std::string namespace_name;
  std::string name;
  std::string describe() const;
};

struct InformerSpec {
  ResourceKind kind = ResourceKind::kPod;
  std::string namespace_name;  // required: Sluice's informers are namespaced
  // A Kubernetes label selector ("app.kubernetes.io/managed-by=sluice,sluice.dev/rollout=web");
  // empty selects everything in the namespace.
  std::string label_selector;
  // Label keys to index by value, for by_label() (e.g. "rollouts-pod-template-hash").
  std::vector<std::string> index_labels;
};

using Object = std::shared_ptr<const nlohmann::json>;

struct InformerHandlers {
  std::function<void(const Object&)> on_add;
  std::function<void(const Object& old_object, const Object& new_object)> on_update;
  std::function<void(const Object&)> on_delete;  // the last state the cache held
  // is_fresh() changed; called with the new value.
  std::function<void(bool fresh)> on_fresh;
};

struct InformerState {
  bool synced = false;
  bool fresh = false;
  std::string resource_version;     // the last one seen: list, event or bookmark
  TimePoint last_list;              // when the last complete list was stored
  TimePoint last_event;             // when the last watch event or bookmark arrived
  uint64_t lists = 0;               // complete lists stored
  uint64_t relists_after_gone = 0;  // lists forced by 410 Gone (resourceVersion too old)
  uint64_t watch_failures = 0;      // lists and watches that failed (not 410)
  uint64_t bookmarks = 0;
  uint64_t events = 0;  // ADDED, MODIFIED, DELETED applied
  Status last_error;    // why the informer is not fresh; OK once fresh again
};

class Informer {
 public:
  Informer(InformerSpec spec, const Clock& clock);
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  const InformerSpec& spec() const { return spec_; }

  // --- Reads (any thread, no HTTP) ---
  // The object, or null.
  Object get(const std::string& namespace_name, const std::string& name) const;
  // Every object, ordered by namespace/name.
  std::vector<Object> list() const;
  // Objects whose label `key` equals `value`, ordered by namespace/name; from the index when
  // `key` is one of spec().index_labels, else by a scan.
  std::vector<Object> by_label(const std::string& key, const std::string& value) const;
  bool has_synced() const { return synced_.load(); }
  bool is_fresh() const { return fresh_.load(); }
  InformerState state() const;

  // Adds handlers (any thread). on_add is called at once, on the calling thread, for every
  // object already cached, as client-go does for a handler added to a running informer.
  void add_handlers(InformerHandlers handlers);

  // --- Feeding (one feeder thread) ---
  // Stores a complete list: the cache becomes exactly `objects` (adds, updates and deletes are
  // reported to the handlers), the resourceVersion becomes the list's, and the informer is
  // synced and fresh. Objects without metadata.name are skipped.
  void replace(const std::vector<nlohmann::json>& objects, const std::string& resource_version);
  // One watch event {"type": ADDED|MODIFIED|DELETED|BOOKMARK, "object": {...}}. An unknown type
  // or an object without a name is an error (kInvalidArgument) and changes nothing.
  Status apply_event(const nlohmann::json& event);
  // The watch or list failed: not fresh until the next replace().
  void mark_stale(const Status& why, bool gone);

 private:
  struct Entry {
    Object object;
    std::map<std::string, std::string> indexed;  // index label -> value, as indexed
  };
  static std::string key_of(const std::string& namespace_name, const std::string& name);
  void index_locked(const std::string& key, const Object& object);
  void unindex_locked(const std::string& key);
  void set_fresh(bool fresh);

  const InformerSpec spec_;
  const Clock& clock_;
  mutable std::shared_mutex mu_;
  std::map<std::string, Entry> objects_;  // "namespace/name" -> entry
  // label key -> value -> object keys
  std::map<std::string, std::map<std::string, std::set<std::string>>> index_;
  InformerState state_;
  std::atomic<bool> synced_{false};
  std::atomic<bool> fresh_{false};
  mutable std::mutex handlers_mu_;
  std::vector<InformerHandlers> handlers_;
};

}  // namespace sluice::kube
