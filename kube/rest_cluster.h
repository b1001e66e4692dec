// RestCluster: Cluster (kube/cluster.h) against a real API server, over RestClient.
//
// - Informers: one Reflector (kube/reflector.h) per distinct InformerSpec, each on its own
//   thread, started by informer() and stopped by the destructor.
// - Writes: queued (bounded) to a small pool of worker threads, which take a token from the
//   rate limiter, send, retry 409 Conflict as cluster.h says, and call the callback.
// - Limits: one token bucket (RestClusterOptions::rate_limit, 20 QPS / burst 30 by default) for
//   every request, reads and writes; every request has the RestClient's timeout (10 s by
//   default), and a request whose rate-limit wait alone would pass that timeout fails with
//   kDeadlineExceeded instead of waiting.
//
// Threads: all methods may be called from any thread and never block on the network (informer()
// starts a thread; writes only enqueue). The destructor stops the reflectors, fails the queued
// writes with kUnavailable, and joins the workers (an in-flight request finishes first, bounded
// by its timeout).
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kube/cluster.h"
#include "kube/rate_limiter.h"
#include "kube/reflector.h"
#include "kube/rest_client.h"

namespace sluice::kube {

struct RestClusterOptions {
  RestClientOptions client;  // per-request timeout, user agent
  RateLimit rate_limit;
  ReflectorOptions reflector;
  int write_threads = 2;
  size_t max_queued_writes = 1000;
  int conflict_attempts = 5;  // requests per write when each gets 409 Conflict
  std::string field_manager = "sluice";
  // Seeds the reflectors' backoff jitter; 0 picks one from std::random_device, so that replicas
  // of Sluice do not back off in step.
  uint64_t seed = 0;
};

class RestCluster final : public Cluster {
 public:
  // Errors: the RestClient's (server URL, TLS material), and bad options (qps <= 0, burst < 1,
  // write_threads < 1, conflict_attempts < 1), naming the option.
  static Result<std::unique_ptr<RestCluster>> create(ClusterConfig config,
                                                     RestClusterOptions options,
                                                     const Clock& clock);
  ~RestCluster() override;

  Result<std::shared_ptr<Informer>> informer(const InformerSpec& spec) override;
  void create(ResourceKind kind, const std::string& namespace_name, nlohmann::json object,
              WriteCallback done) override;
  void patch(const ObjectRef& ref, PatchType type, std::string body, WriteCallback done) override;
  void apply(const ObjectRef& ref, nlohmann::json object, WriteCallback done) override;
  void update(const ObjectRef& ref, PatchType type, MakePatch make_patch,
              WriteCallback done) override;
  void remove(const ObjectRef& ref, WriteCallback done) override;

 private:
  RestCluster(std::unique_ptr<RestClient> client, RestClusterOptions options, const Clock& clock);
  struct Write {
    std::function<Result<WriteResult>()> run;
    WriteCallback done;
  };
  void enqueue(Write write);
  void work();
  // One rate-limited request; the answer, or the transport / rate-limit error.
  Result<Response> send(const std::string& method, const std::string& path, const std::string& body,
                        const std::string& content_type);
  // Sends until the answer is not 409 Conflict or attempts run out; `before_each` (may be
  // empty) runs first on every attempt and may produce the body.
  Result<WriteResult> with_conflict_retry(
      const std::string& what, const std::string& method, const std::string& path,
      const std::string& content_type,
      const std::function<Result<std::string>()>& body_for_attempt);

  std::unique_ptr<RestClient> client_;
  const RestClusterOptions options_;
  const Clock& clock_;
  RateLimiter limiter_;
  internal::StopSignal stop_;

  std::mutex informers_mu_;
  std::map<std::string, std::shared_ptr<Informer>> informers_;  // by spec key
  std::vector<std::unique_ptr<Reflector>> reflectors_;
  uint64_t next_seed_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<Write> queue_;
  bool closing_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace sluice::kube
