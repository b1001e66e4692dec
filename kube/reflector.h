// Reflector: keeps one Informer current from the API server, as client-go's
// tools/cache/reflector.go does. On its own thread it lists (paginated with limit/continue),
// stores the list in the informer, then watches from the list's resourceVersion with
// allowWatchBookmarks=true. Events and bookmarks advance the resourceVersion. When the server
// ends a watch (its timeoutSeconds), it watches again from there. When a watch fails:
//  - 410 Gone (the resourceVersion is too old): the informer turns stale and it lists again at
//    once;
//  - anything else (apiserver down, a cut stream, an idle timeout, 5xx): the informer turns stale
//    and it lists again after an exponential backoff with jitter (reset by a successful list).
// Relisting after every failure, where client-go re-watches from the last resourceVersion, costs
// one list per outage and makes "fresh again" mean "the cache equals a complete list", which is
// the contract kube/informer.h promises.
//
// Every request (each list page, each watch) first takes a token from the shared RateLimiter;
// every request has the RestClient's timeout, a watch is bounded by its timeoutSeconds plus an
// idle timeout.
//
// Threads: start() and stop() from the owner's thread; the loop runs on the reflector's own
// thread; stop() (and the destructor) returns once that thread has ended, within about 200 ms
// plus at most one request's timeout.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "base/clock.h"
#include "kube/informer.h"
#include "kube/rate_limiter.h"
#include "kube/rest_client.h"
#include "kube/stop_signal.h"

namespace sluice::kube {

struct ReflectorOptions {
  // Each watch asks the server to end it after a random time in [watch_timeout, 2 *
  // watch_timeout), as client-go does, so that many clients do not reconnect together.
  Duration watch_timeout{300'000};
  int page_size = 500;  // list pages (limit); 0: one unpaginated list
  BackoffPolicy backoff;
  // Start by watching from this resourceVersion instead of listing first (the informer is not
  // synced until a list completes, so this only saves the first list when the watch works).
  // Empty: list first. A resourceVersion the server no longer has gets 410 Gone and a list.
  std::string resume_resource_version;
};

class Reflector {
 public:
  // `client` and `limiter` must outlive the reflector. `seed` seeds its backoff jitter.
  Reflector(std::shared_ptr<Informer> informer, RestClient& client, RateLimiter& limiter,
            ReflectorOptions options, uint64_t seed);
  ~Reflector();
  Reflector(const Reflector&) = delete;
  Reflector& operator=(const Reflector&) = delete;

  void start();
  void stop();

 private:
  void run();
  // Takes a rate-limit token and waits for it; false (with *status set) when stopped or when the
  // wait would pass the request timeout.
  bool pace(Status* status);
  Status list_all();
  Status watch_once();

  std::shared_ptr<Informer> informer_;
  RestClient& client_;
  RateLimiter& limiter_;
  ReflectorOptions options_;
  SeededRandom random_;
  std::string resource_version_;
  internal::StopSignal stop_;
  std::thread thread_;
};

}  // namespace sluice::kube
