// FakeRouter: records every applied RouteTable and checks it: main-door weights sum to 100 and
// no weight goes to a revision without ready endpoints while another revision has some.
// Can be told to fail (the controller must then not advance a step).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "traffic/router.h"

namespace sluice::fakes {

class FakeRouter final : public traffic::Router {
 public:
  Status apply(const traffic::RouteTable& table) override;
  void remove(std::string_view rollout) override { tables.erase(std::string(rollout)); }
  void drain_endpoint(std::string_view, const traffic::Endpoint&) override { ++drained; }
  std::optional<traffic::VersionStats> stats(std::string_view, int64_t, Duration) const override {
    return std::nullopt;
  }
  std::vector<double> samples(std::string_view, int64_t, traffic::SampleKind,
                              Duration) const override {
    return {};
  }

  int fail_next = 0;                                  // the next N apply() calls fail
  std::map<std::string, traffic::RouteTable> tables;  // last applied per rollout
  std::vector<std::string> violations;
  int applies = 0;
  int drained = 0;
  // Weight of a revision in the last applied table (0 when absent).
  int weight(const std::string& rollout, int64_t revision) const;
};

}  // namespace sluice::fakes
