#include "tests/support/fakes/fake_router.h"

#include <algorithm>

#include <fmt/format.h>

namespace sluice::fakes {

Status FakeRouter::apply(const traffic::RouteTable& table) {
  if (crash && crash->reached("route:before")) return unavailable("fake router: controller down");
  if (fail_next > 0) {
    --fail_next;
    return unavailable("fake router: injected failure");
  }
  ++applies;
  int sum = 0;
  bool any_ready = false;
  for (const auto& r : table.revisions) {
    sum += r.weight_percent;
    if (!r.ready_endpoints.empty()) any_ready = true;
    if (r.weight_percent < 0 || r.weight_percent > 100) {
      violations.push_back(fmt::format("{}: weight {} of revision {} out of range", table.rollout,
                                       r.weight_percent, r.revision));
    }
  }
  if (!table.revisions.empty() && sum != 100) {
    violations.push_back(fmt::format("{}: weights sum to {}", table.rollout, sum));
  }
  if (any_ready) {
    for (const auto& r : table.revisions) {
      if (r.weight_percent > 0 && r.ready_endpoints.empty()) {
        violations.push_back(fmt::format("{}: weight {} on revision {} with no ready endpoint",
                                         table.rollout, r.weight_percent, r.revision));
      }
    }
  }
  check_ground_truth(table);
  tables[table.rollout] = table;
  if (crash) (void)crash->reached("route:after");
  return Status::ok();
}

void FakeRouter::check_ground_truth(const traffic::RouteTable& table) {
  if (!runtime) return;
  std::map<std::string, runtime::InstanceStatus> by_id;
  std::map<int64_t, int> ready;  // revision -> ready, running instances
  for (const auto& i : runtime->observe(table.rollout)) {
    by_id[i.id] = i;
    if (i.ready && !i.terminating) ready[i.revision] += 1;
  }
  for (const auto& r : table.revisions) {
    for (const auto& e : r.ready_endpoints) {
      auto it = by_id.find(e.instance_id);
      if (it == by_id.end()) {
        violations.push_back(
            fmt::format("{}: endpoint {} of revision {} listed, but its instance is gone",
                        table.rollout, e.instance_id, r.revision));
      } else if (!it->second.ready || it->second.terminating) {
        violations.push_back(
            fmt::format("{}: endpoint {} of revision {} listed, but it is not ready",
                        table.rollout, e.instance_id, r.revision));
      } else if (it->second.revision != r.revision) {
        violations.push_back(
            fmt::format("{}: endpoint {} listed under revision {}, but it runs revision {}",
                        table.rollout, e.instance_id, r.revision, it->second.revision));
      } else if (std::none_of(it->second.ports.begin(), it->second.ports.end(),
                              [&](const auto& p) { return p.second == e.port; })) {
        violations.push_back(fmt::format("{}: endpoint {} listed with port {}, not one of its own",
                                         table.rollout, e.instance_id, e.port));
      }
    }
  }
  if (ready.empty()) return;  // nothing is ready anywhere: no better place for the traffic
  for (const auto& r : table.revisions) {
    if (r.weight_percent > 0 && ready[r.revision] == 0) {
      std::string elsewhere;
      for (const auto& [rev, n] : ready) {
        if (n == 0) continue;
        elsewhere += fmt::format("{}revision {}: {}", elsewhere.empty() ? "" : ", ", rev, n);
      }
      violations.push_back(fmt::format(
          "{}: weight {} on revision {}, which has no ready instance, while others do ({})",
          table.rollout, r.weight_percent, r.revision, elsewhere));
    }
  }
}

int FakeRouter::weight(const std::string& rollout, int64_t revision) const {
  auto it = tables.find(rollout);
  if (it == tables.end()) return 0;
  for (const auto& r : it->second.revisions) {
    if (r.revision == revision) return r.weight_percent;
  }
  return 0;
}

}  // namespace sluice::fakes
