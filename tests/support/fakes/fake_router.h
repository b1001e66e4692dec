// FakeRouter: records every applied RouteTable and checks it: main-door weights sum to 100 and
// no weight goes to a revision without ready endpoints while another revision has some.
// Given the FakeRuntime (`runtime`), it also checks the table against the ground truth rather
// than the controller's claim: every listed endpoint is a ready, running instance of its revision,
// and no weight goes to a revision with no ready instance while another revision has one.
// Can be told to fail (the controller must then not advance a step).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tests/support/fakes/crash_points.h"
#include "tests/support/fakes/fake_runtime.h"
#include "traffic/router.h"

namespace sluice::fakes {

class FakeRouter final : public traffic::Router {
 public:
  Status apply(const traffic::RouteTable& table) override;
  void remove(std::string_view rollout) override {
    if (crash && crash->down()) return;
    tables.erase(std::string(rollout));
  }
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
  // The instances as they really are (null: only the table's own claims are checked).
  const FakeRuntime* runtime = nullptr;
  // When set, apply() is a crash point of the controller (before and after); once it is down,
  // nothing is applied.
  CrashPoints* crash = nullptr;
  // Weight of a revision in the last applied table (0 when absent).
  int weight(const std::string& rollout, int64_t revision) const;

 private:
  void check_ground_truth(const traffic::RouteTable& table);
};

}  // namespace sluice::fakes
