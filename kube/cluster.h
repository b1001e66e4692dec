// Cluster: what the Kubernetes runtime and the Gateway API router need from a cluster, with no
// HTTP in sight. Reads come from informers (in-memory caches kept current by list and watch);
// writes are asynchronous and answer through a callback. kube/rest_cluster.h implements it
// against a real API server; a unit test can implement it in memory, feeding Informers itself.
//
// Threads: every method may be called from any thread, the controller strand included: none
// blocks on the network or on a rate limit. Write callbacks run on one of the implementation's
// worker threads, never on the caller's; a callback must not block (post to your own strand).
// Each write's callback is called exactly once, also when the Cluster is destroyed first
// (with kUnavailable). The one exception to "not on the caller's thread": a write refused at
// once (the bounded queue is full, or the Cluster is stopping) is answered with kUnavailable
// before the call returns, on the caller's thread.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "kube/informer.h"
#include "kube/patch_type.h"

namespace sluice::kube {

// What a write produced: the object as the API server stored it (for a delete, what the server
// answered: the object being deleted or a Status), and how many requests it took (> 1 after a
// 409 Conflict was retried).
struct WriteResult {
  nlohmann::json object;
  int attempts = 1;
};
// Errors name the verb and the object and carry the API server's reason and message, in one
// line, never a credential: "patch ReplicaSet shop/web-5f7c: HTTP 403 Forbidden: replicasets.apps
// \"web-5f7c\" is forbidden: User \"system:serviceaccount:shop:sluice\" cannot patch ...".
// Codes as kube/response.h: 403 kPermissionDenied, 404 kNotFound, 409 kAlreadyExists, 422
// kInvalidArgument, 5xx, 429 and transport failures kUnavailable, timeouts kDeadlineExceeded.
using WriteCallback = std::function<void(Result<WriteResult>)>;

// Builds a patch body from the object as it is now on the server (see Cluster::update).
using MakePatch = std::function<Result<std::string>(const nlohmann::json& current)>;

class Cluster {
 public:
  virtual ~Cluster() = default;

  // The informer for `spec`, started on first use and shared afterwards (the same spec returns
  // the same informer). It is not synced yet when returned: wait for has_synced() (handlers'
  // on_fresh(true)) before reading absence. Errors: an empty namespace.
  virtual Result<std::shared_ptr<Informer>> informer(const InformerSpec& spec) = 0;

  // POST: creates `object` (its metadata.name names it) in `namespace_name`. 409 (it exists) is
  // not retried.
  virtual void create(ResourceKind kind, const std::string& namespace_name, nlohmann::json object,
                      WriteCallback done) = 0;
  // PATCH with `body` as is. A 409 Conflict is retried with the same body, up to the conflict
  // attempt limit: without a resourceVersion in the body a 409 is the apiserver's own
  // optimistic-concurrency retry giving up under contention, and resending succeeds. A body
  // that carries a resourceVersion precondition should go through update() instead.
  virtual void patch(const ObjectRef& ref, PatchType type, std::string body,
                     WriteCallback done) = 0;
  // Server-side apply of `object` with the implementation's field manager ("sluice") and
  // force=true: Sluice owns the fields it applies (controller-runtime's advice for controllers).
  virtual void apply(const ObjectRef& ref, nlohmann::json object, WriteCallback done) = 0;
  // Read, modify, write, as client-go's retry.RetryOnConflict: GETs the object, calls
  // make_patch(current) (on a worker thread) and PATCHes the result; on 409 Conflict it reads
  // again and calls make_patch again, up to the conflict attempt limit (5 by default). The
  // patch may carry current's metadata.resourceVersion as a precondition, so that it applies
  // only to the state it was computed from. An error from make_patch ends the update with it.
  virtual void update(const ObjectRef& ref, PatchType type, MakePatch make_patch,
                      WriteCallback done) = 0;
  // DELETE. 404 is kNotFound (the caller decides whether that is success).
  virtual void remove(const ObjectRef& ref, WriteCallback done) = 0;
};

}  // namespace sluice::kube
