#include "tests/support/fakes/fake_router.h"

#include <fmt/format.h>

namespace sluice::fakes {

Status FakeRouter::apply(const traffic::RouteTable& table) {
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
  tables[table.rollout] = table;
  return Status::ok();
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
