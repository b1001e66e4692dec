#include "fake_facade.h"

#include <algorithm>

namespace sluice::testing {

using nlohmann::json;

namespace {

const json kSteps = json::array({{{"setWeight", 20}},
                                 {{"pause", json::object()}},
                                 {{"setWeight", 50}},
                                 {{"pause", json::object()}},
                                 {{"setWeight", 100}}});

std::string fake_time(uint64_t seq) {
  return "2026-11-25T02:00:" + std::string(seq % 60 < 10 ? "0" : "") + std::to_string(seq % 60) +
         ".000Z";
}

json analysis_run(const std::string& phase, double last_value) {
  json measurements = json::array();
  const double values[] = {0.998, 0.997, 0.999, last_value};
  for (int i = 0; i < 4; ++i) {
    measurements.push_back({{"value", values[i]},
                            {"phase", values[i] >= 0.95 ? "Successful" : "Failed"},
                            {"at", fake_time(static_cast<uint64_t>(i) * 10)}});
  }
  return json::array({{{"name", "canary-success-rate"},
                       {"phase", phase},
                       {"metrics", json::array({{{"name", "success-rate"},
                                                 {"phase", phase},
                                                 {"measurements", measurements}}})}}});
}

}  // namespace

class FakeFacade::FakeSubscription final : public controller::Subscription {
 public:
  FakeSubscription(FakeFacade* owner, uint64_t id) : owner_(owner), id_(id) {}
  ~FakeSubscription() override {
    std::lock_guard lock(owner_->mu_);
    owner_->subscribers_.erase(id_);
  }

 private:
  FakeFacade* owner_;
  uint64_t id_;
};

FakeFacade::FakeFacade() = default;

void FakeFacade::add_canary(const std::string& name, const std::string& phase, int step_index,
                            bool auto_advance, const std::string& commit) {
  json r = {{"name", name},
            {"phase", phase},
            {"aborted", false},
            {"message", ""},
            {"strategy", "canary"},
            {"desired", {{"revision", 7}, {"version", "2.3.1"}, {"commit", commit}}},
            {"stable", {{"revision", 6}, {"version", "2.3.0"}, {"replicas", 4}, {"ready", 4}}},
            {"canary", {{"revision", 7}, {"version", "2.3.1"}, {"replicas", 1}, {"ready", 1}}},
            {"weights", {{"stable", 80}, {"canary", 20}}},
            {"currentStepIndex", step_index},
            {"steps", kSteps},
            {"autoAdvance", auto_advance},
            {"analysisRuns", analysis_run("Running", 0.996)}};
  std::vector<json> out;
  {
    std::lock_guard lock(mu_);
    history_[name] = {{"items", json::array({{{"revision", 6},
                                              {"version", "2.3.0"},
                                              {"commit", "a1b2c3d4e5f60718"},
                                              {"result", "Healthy"},
                                              {"reason", "promoted"},
                                              {"at", fake_time(1)}},
                                             {{"revision", 7},
                                              {"version", "2.3.1"},
                                              {"commit", commit},
                                              {"result", phase},
                                              {"reason", "in progress"},
                                              {"at", fake_time(2)}}})}};
    if (phase == "Healthy") {
      finish_locked(r);
    } else {
      apply_step_locked(r);
      r["phase"] = phase;
      if (phase == "Degraded") {
        r["aborted"] = true;
        r["message"] = "aborted";
        r["weights"] = {{"stable", 100}, {"canary", 0}};
      }
    }
    rollouts_[name] = r;
    out.push_back(record_locked(name, "RolloutAdded", "rollout " + name + " at revision 7"));
  }
  for (auto& e : out) publish(e);
}

void FakeFacade::abort_with(const std::string& name, const std::string& message, json evidence) {
  json event;
  {
    std::lock_guard lock(mu_);
    auto& r = rollouts_.at(name);
    r["phase"] = "Degraded";
    r["aborted"] = true;
    r["message"] = message;
    r["weights"] = {{"stable", 100}, {"canary", 0}};
    r["canary"]["replicas"] = 0;
    r["canary"]["ready"] = 0;
    r["analysisRuns"] = analysis_run("Failed", 0.82);
    event = record_locked(name, "Aborted", message, "controller", std::move(evidence));
  }
  publish(event);
}

uint64_t FakeFacade::add_event(const std::string& rollout, const std::string& type,
                               const std::string& message) {
  json event;
  {
    std::lock_guard lock(mu_);
    event = record_locked(rollout, type, message);
  }
  publish(event);
  return event["id"].get<uint64_t>();
}

json FakeFacade::record_locked(const std::string& rollout, const std::string& type,
                               const std::string& message, const std::string& actor,
                               json evidence) {
  uint64_t id = next_event_id_++;
  json r = rollouts_.count(rollout) ? rollouts_[rollout] : json::object();
  json event = {{"id", id},
                {"time", fake_time(id)},
                {"rollout", rollout},
                {"revision", r.value("desired", json::object()).value("revision", 0)},
                {"type", type},
                {"from", nullptr},
                {"to", r.value("phase", "")},
                {"reason", type},
                {"message", message},
                {"actor", actor.empty() ? "controller" : actor},
                {"evidence", evidence.is_null() ? json::object() : evidence}};
  events_.push_back(event);
  return event;
}

void FakeFacade::publish(const json& event) {
  std::vector<std::shared_ptr<controller::EventCallback>> targets, watchers;
  json change;
  {
    std::lock_guard lock(mu_);
    const std::string name = event.value("rollout", "");
    for (auto& [id, sub] : subscribers_) {
      if (!sub.rollout.empty() && sub.rollout != name) continue;
      (sub.objects ? watchers : targets).push_back(sub.callback);
    }
    if (auto it = rollouts_.find(name); it != rollouts_.end())
      change = {{"type", "MODIFIED"}, {"rollout", it->second}};
  }
  for (auto& cb : targets) (*cb)(event);
  if (!change.is_null())
    for (auto& cb : watchers) (*cb)(change);
}

void FakeFacade::apply_step_locked(json& r) {
  int index = r["currentStepIndex"].get<int>();
  if (index >= static_cast<int>(kSteps.size())) return finish_locked(r);
  const json& step = kSteps[static_cast<size_t>(index)];
  if (step.contains("setWeight")) {
    int w = step["setWeight"].get<int>();
    r["weights"] = {{"stable", 100 - w}, {"canary", w}};
    r["canary"]["replicas"] = std::max(1, w * 4 / 100);
    r["canary"]["ready"] = r["canary"]["replicas"];
    r["phase"] = "Progressing";
  } else {
    r["phase"] = "Paused";
    r["message"] = "paused at step " + std::to_string(index + 1) + ": waiting for promote";
  }
}

void FakeFacade::finish_locked(json& r) {
  r["phase"] = "Healthy";
  r["aborted"] = false;
  r["message"] = "rollout complete";
  r["stable"] = {{"revision", r["desired"]["revision"]},
                 {"version", r["desired"]["version"]},
                 {"replicas", 4},
                 {"ready", 4}};
  r["canary"] = nullptr;
  r["weights"] = {{"stable", 100}, {"canary", 0}};
  r["currentStepIndex"] = static_cast<int>(kSteps.size());
  r["analysisRuns"] = analysis_run("Successful", 0.998);
}

void FakeFacade::tick() {
  std::vector<json> out;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, r] : rollouts_) {
      if (!r.value("autoAdvance", false)) continue;
      std::string phase = r["phase"];
      if (phase != "Progressing" && phase != "Paused") continue;
      r["currentStepIndex"] = r["currentStepIndex"].get<int>() + 1;
      apply_step_locked(r);
      out.push_back(record_locked(
          name, "StepAdvanced",
          "step " + r["currentStepIndex"].dump() + ", phase " + r["phase"].get<std::string>()));
    }
  }
  for (auto& e : out) publish(e);
}

std::string FakeFacade::last_actor() const {
  std::lock_guard lock(mu_);
  return last_actor_;
}

size_t FakeFacade::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

json FakeFacade::list_rollouts() const {
  std::lock_guard lock(mu_);
  json items = json::array();
  for (auto& [name, r] : rollouts_) items.push_back(r);
  return {{"items", items}};
}

std::optional<json> FakeFacade::get_rollout(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = rollouts_.find(name);
  if (it == rollouts_.end()) return std::nullopt;
  return it->second;
}

std::optional<json> FakeFacade::history(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = history_.find(name);
  if (it == history_.end()) return std::nullopt;
  return it->second;
}

json FakeFacade::events(const std::string& rollout, uint64_t after_id) const {
  std::lock_guard lock(mu_);
  json items = json::array();
  for (auto& e : events_)
    if (e["id"].get<uint64_t>() > after_id && (rollout.empty() || e["rollout"] == rollout))
      items.push_back(e);
  return {{"items", items}};
}

std::unique_ptr<controller::Subscription> FakeFacade::subscribe(
    const std::string& rollout, controller::EventCallback on_event) {
  std::lock_guard lock(mu_);
  uint64_t id = next_subscriber_++;
  subscribers_[id] =
      Subscriber{rollout, std::make_shared<controller::EventCallback>(std::move(on_event))};
  return std::make_unique<FakeSubscription>(this, id);
}

std::unique_ptr<controller::Subscription> FakeFacade::watch_rollouts(
    const std::string& rollout, controller::EventCallback on_change) {
  std::lock_guard lock(mu_);
  uint64_t id = next_subscriber_++;
  subscribers_[id] = Subscriber{
      rollout, std::make_shared<controller::EventCallback>(std::move(on_change)), true};
  return std::make_unique<FakeSubscription>(this, id);
}

void FakeFacade::command(const controller::VerbRequest& request, controller::VerbCallback done) {
  using controller::Verb;
  json event;
  Result<json> result = internal_error("unset");
  {
    std::lock_guard lock(mu_);
    last_actor_ = request.actor;
    auto it = rollouts_.find(request.rollout);
    if (it == rollouts_.end()) {
      result = not_found("rollout '" + request.rollout + "' not found");
    } else {
      json& r = it->second;
      std::string phase = r["phase"];
      std::string type;
      switch (request.verb) {
        case Verb::kPromote:
          if (phase != "Paused" && phase != "Progressing") {
            result = failed_precondition("cannot promote: rollout is " + phase);
            break;
          }
          if (request.full) {
            finish_locked(r);
          } else {
            r["currentStepIndex"] = r["currentStepIndex"].get<int>() + 1;
            apply_step_locked(r);
          }
          type = "Promoted";
          break;
        case Verb::kAbort:
          if (phase != "Paused" && phase != "Progressing") {
            result = failed_precondition("cannot abort: rollout is " + phase);
            break;
          }
          r["phase"] = "Degraded";
          r["aborted"] = true;
          r["message"] = "aborted by " + request.actor;
          r["weights"] = {{"stable", 100}, {"canary", 0}};
          type = "Aborted";
          break;
        case Verb::kRetry:
          if (!r["aborted"].get<bool>()) {
            result = failed_precondition("cannot retry: rollout is not aborted");
            break;
          }
          r["aborted"] = false;
          r["message"] = "";
          r["currentStepIndex"] = 0;
          r["canary"] = {{"revision", r["desired"]["revision"]},
                         {"version", r["desired"]["version"]},
                         {"replicas", 1},
                         {"ready", 1}};
          apply_step_locked(r);
          type = "Retried";
          break;
        case Verb::kPause:
          if (phase != "Progressing") {
            result = failed_precondition("cannot pause: rollout is " + phase);
            break;
          }
          r["phase"] = "Paused";
          type = "Paused";
          break;
        case Verb::kResume:
          if (phase != "Paused") {
            result = failed_precondition("cannot resume: rollout is " + phase);
            break;
          }
          r["phase"] = "Progressing";
          type = "Resumed";
          break;
        case Verb::kUndo: {
          int64_t to = request.revision.value_or(6);
          if (to != 6) {
            result = Status(StatusCode::kInvalidArgument,
                            "no revision " + std::to_string(to) + " in history");
            break;
          }
          r["desired"] = {{"revision", 8}, {"version", "2.3.0"}, {"commit", "a1b2c3d4e5f60718"}};
          r["aborted"] = false;
          r["currentStepIndex"] = 0;
          r["canary"] = {{"revision", 8}, {"version", "2.3.0"}, {"replicas", 1}, {"ready", 1}};
          apply_step_locked(r);
          type = "Undone";
          break;
        }
      }
      if (!type.empty()) {
        event = record_locked(request.rollout, type, type + " by " + request.actor, request.actor);
        result = r;
      }
    }
  }
  if (!event.is_null()) publish(event);
  done(std::move(result));
}

json FakeFacade::source() const {
  return {{"repo", "/srv/deploy-repo"},   {"branch", "main"},          {"path", "services"},
          {"commit", "c0ffee1234567890"}, {"fetchedAt", fake_time(0)}, {"error", nullptr}};
}

void FakeFacade::sync(std::function<void(Result<json>)> done) {
  done(json{{"commit", "c0ffee1234567890"}, {"applied", true}});
}

void FakeFacade::request_refresh(const std::string& /*reason*/) { ++refresh_requests_; }

std::string FakeFacade::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string out =
      "# HELP sluice_rollout_phase Current phase of each rollout (1 = in this phase).\n"
      "# TYPE sluice_rollout_phase gauge\n";
  for (auto& [name, r] : rollouts_) {
    for (const char* phase : {"Healthy", "Progressing", "Paused", "Degraded"}) {
      out += "sluice_rollout_phase{rollout=\"" + name + "\",phase=\"" + phase + "\"} " +
             (r["phase"] == phase ? "1" : "0") + "\n";
    }
  }
  return out;
}

}  // namespace sluice::testing
