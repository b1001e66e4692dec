// FakeCluster: an in-memory kube::Cluster for unit tests of its callers (the Kubernetes runtime).
// Pure logic only: it stores objects by kind, namespace and name, hands out real kube::Informers
// that it feeds itself (as a reflector would), and carries out writes when the test says so.
//
// Writes are queued and run, in order, by run_writes() on the test's thread: the caller of
// create/patch/... never sees its callback before the call returns (the Cluster contract), and a
// test can look at the queue, make a write fail, or let another client change an object first.
// A write changes the store, bumps the object's resourceVersion, feeds every matching informer a
// watch event, then answers. Merge and strategic-merge patches are both applied as JSON merge
// patches (RFC 7386), enough for the labels, annotations and replicas Sluice patches; update()
// honours a metadata.resourceVersion precondition in the patch (409 when stale).
//
// Threads: all methods lock one mutex; callbacks and informer handlers run without it held, so
// they may call back into the fake.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/clock.h"
#include "kube/cluster.h"

namespace sluice::fakes {

class FakeCluster final : public kube::Cluster {
 public:
  explicit FakeCluster(const Clock& clock) : clock_(clock) {}

  // An informer for the spec, synced at once with the stored objects it selects (unless
  // hold_sync(true): then it stays unsynced until sync_informers()). The label selector is a
  // comma-separated list of key=value.
  Result<std::shared_ptr<kube::Informer>> informer(const kube::InformerSpec& spec) override;
  void create(kube::ResourceKind kind, const std::string& namespace_name, nlohmann::json object,
              kube::WriteCallback done) override;
  void patch(const kube::ObjectRef& ref, kube::PatchType type, std::string body,
             kube::WriteCallback done) override;
  void apply(const kube::ObjectRef& ref, nlohmann::json object, kube::WriteCallback done) override;
  void update(const kube::ObjectRef& ref, kube::PatchType type, kube::MakePatch make_patch,
              kube::WriteCallback done) override;
  void remove(const kube::ObjectRef& ref, kube::WriteCallback done) override;

  // --- The test's side ---
  // Runs the queued writes (and writes queued by their callbacks) in order; returns how many ran.
  size_t run_writes();
  size_t pending_writes() const;
  // "create ReplicaSet shop/web-abc", "patch Pod shop/web-abc-1", ... for every write that ran.
  std::vector<std::string> write_log() const;
  // The next write that runs fails with `status` and changes nothing.
  void fail_next_write(Status status);
  // Stores `object` as another client would (ADDED or MODIFIED to the informers).
  void put(kube::ResourceKind kind, nlohmann::json object);
  // Deletes it (DELETED to the informers); false when absent.
  bool erase(const kube::ObjectRef& ref);
  std::optional<nlohmann::json> get(const kube::ObjectRef& ref) const;
  void hold_sync(bool hold);
  // Replaces every informer's cache with the store (a relist): synced and fresh.
  void sync_informers();
  // Every informer turns stale (a failed watch), as until the next sync_informers().
  void break_watches(const Status& why);

 private:
  using Key = std::string;  // "<kind>/<namespace>/<name>"
  static Key key_of(kube::ResourceKind kind, const std::string& ns, const std::string& name);
  // Store + informer events; returns the stored object. Called without mu_ held.
  nlohmann::json store(kube::ResourceKind kind, nlohmann::json object);
  void enqueue(std::string what, std::function<Result<kube::WriteResult>()> run,
               kube::WriteCallback done);
  Result<kube::WriteResult> patch_now(const kube::ObjectRef& ref, kube::PatchType type,
                                      const std::string& body, bool check_version);
  std::vector<std::shared_ptr<kube::Informer>> informers_for(kube::ResourceKind kind,
                                                             const nlohmann::json& object) const;

  struct Write {
    std::string what;
    std::function<Result<kube::WriteResult>()> run;
    kube::WriteCallback done;
  };

  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<Key, nlohmann::json> objects_;
  std::vector<std::pair<kube::InformerSpec, std::shared_ptr<kube::Informer>>> informers_;
  std::deque<Write> writes_;
  std::vector<std::string> log_;
  std::optional<Status> fail_next_;
  int64_t resource_version_ = 100;
  bool hold_sync_ = false;
};

}  // namespace sluice::fakes
