#include "controller/control_facade.h"

#include <set>
#include <tuple>

#include "controller/undo_sync.h"

#include <fmt/format.h>

namespace sluice::controller {

using nlohmann::json;

class ControllerFacade::SubscriptionImpl final : public Subscription {
 public:
  SubscriptionImpl(ControllerFacade* facade, std::shared_ptr<Subscriber> subscriber)
      : facade_(facade), subscriber_(std::move(subscriber)) {}
  ~SubscriptionImpl() override {
    std::lock_guard lock(facade_->mu_);
    subscriber_->active = false;
    std::erase(facade_->subscribers_, subscriber_);
  }

 private:
  ControllerFacade* facade_;
  std::shared_ptr<Subscriber> subscriber_;
};

ControllerFacade::ControllerFacade(Controller& controller, Scheduler& scheduler, size_t event_limit)
    : controller_(controller), scheduler_(scheduler), event_limit_(event_limit) {
  for (const auto& e : controller_.events()) events_.push_back(e);
  controller_.set_on_publish(
      [this](std::shared_ptr<const ReadModel> model) { on_publish(std::move(model)); });
  controller_.set_on_event([this](const json& event) { on_event(event); });
  controller_.publish_now();
}

ControllerFacade::~ControllerFacade() {
  controller_.set_on_publish(nullptr);
  controller_.set_on_event(nullptr);
}

void ControllerFacade::set_source_hooks(SourceHooks hooks) {
  std::lock_guard lock(mu_);
  hooks_ = std::move(hooks);
}

void ControllerFacade::set_ready(bool ready) {
  std::lock_guard lock(mu_);
  ready_ = ready;
}

void ControllerFacade::on_event(const json& event) {
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mu_);
    events_.push_back(event);
    while (events_.size() > event_limit_) events_.pop_front();
    targets = subscribers_;
  }
  const std::string rollout = event.value("rollout", "");
  for (const auto& s : targets) {
    if (s->objects || (!s->rollout.empty() && s->rollout != rollout)) continue;
    {
      std::lock_guard lock(mu_);
      if (!s->active) continue;
    }
    s->callback(event);
  }
}

void ControllerFacade::on_publish(std::shared_ptr<const ReadModel> model) {
  std::shared_ptr<const ReadModel> previous;
  std::vector<std::shared_ptr<Subscriber>> targets;
  {
    std::lock_guard lock(mu_);
    previous = std::move(model_);
    model_ = model;
    for (const auto& s : subscribers_)
      if (s->objects) targets.push_back(s);
  }
  if (targets.empty()) return;
  // The controller rebuilds a rollout's object on every reconcile; only a real change is sent.
  std::vector<json> changes;
  for (const auto& [name, object] : model->rollouts) {
    auto old = previous->rollouts.find(name);
    if (old != previous->rollouts.end() &&
        (old->second == object || *old->second == *object))
      continue;
    changes.push_back({{"type", "MODIFIED"}, {"rollout", *object}});
  }
  for (const auto& [name, object] : previous->rollouts) {
    if (!model->rollouts.count(name))
      changes.push_back({{"type", "DELETED"}, {"rollout", {{"name", name}}}});
  }
  for (const auto& change : changes) {
    const std::string name = change["rollout"].value("name", "");
    for (const auto& s : targets) {
      if (!s->rollout.empty() && s->rollout != name) continue;
      {
        std::lock_guard lock(mu_);
        if (!s->active) continue;
      }
      s->callback(change);
    }
  }
}

json ControllerFacade::list_rollouts() const {
  std::shared_ptr<const ReadModel> model;
  {
    std::lock_guard lock(mu_);
    model = model_;
  }
  json items = json::array();
  for (const auto& [name, r] : model->rollouts) items.push_back(*r);
  return {{"items", items}};
}

std::optional<json> ControllerFacade::get_rollout(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = model_->rollouts.find(name);
  if (it == model_->rollouts.end()) return std::nullopt;
  return *it->second;
}

std::optional<json> ControllerFacade::history(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = model_->history.find(name);
  if (it == model_->history.end()) return std::nullopt;
  return *it->second;
}

json ControllerFacade::events(const std::string& rollout, uint64_t after_id) const {
  std::lock_guard lock(mu_);
  json items = json::array();
  for (const auto& e : events_) {
    if (e.value("id", uint64_t{0}) <= after_id) continue;
    if (!rollout.empty() && e.value("rollout", "") != rollout) continue;
    items.push_back(e);
  }
  return {{"items", items}};
}

std::unique_ptr<Subscription> ControllerFacade::subscribe(const std::string& rollout,
                                                          EventCallback on_event) {
  return add_subscriber(rollout, false, std::move(on_event));
}

std::unique_ptr<Subscription> ControllerFacade::watch_rollouts(const std::string& rollout,
                                                               EventCallback on_change) {
  return add_subscriber(rollout, true, std::move(on_change));
}

std::unique_ptr<Subscription> ControllerFacade::add_subscriber(const std::string& rollout,
                                                               bool objects,
                                                               EventCallback callback) {
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->rollout = rollout;
  subscriber->objects = objects;
  subscriber->callback = std::move(callback);
  {
    std::lock_guard lock(mu_);
    subscribers_.push_back(subscriber);
  }
  return std::make_unique<SubscriptionImpl>(this, std::move(subscriber));
}

void ControllerFacade::command(const VerbRequest& request, VerbCallback done) {
  scheduler_.post([this, request, done = std::move(done)] {
    Result<json> result = controller_.command(request);
    controller_.publish_now();
    done(std::move(result));
  });
}

Result<std::vector<runtime::InstanceLog>> ControllerFacade::logs(
    const LogsRequest& request) const {
  std::shared_ptr<const ReadModel> model;
  {
    std::lock_guard lock(mu_);
    model = model_;
  }
  auto history = model->history.find(request.rollout);
  if (!model->rollouts.count(request.rollout) || history == model->history.end()) {
    return not_found(fmt::format("rollout {} not found", request.rollout));
  }
  // Only revisions in history have logs to show: a kept log outlives its instance exactly as
  // long as its revision stays in history (revisionHistoryLimit).
  std::set<int64_t> in_history;
  std::string listed;
  for (const auto& item : history->second->value("items", json::array())) {
    const int64_t number = item.value("revision", int64_t{0});
    in_history.insert(number);
  }
  for (int64_t number : in_history) listed += (listed.empty() ? "" : ", ") + std::to_string(number);
  if (request.revision && !in_history.count(*request.revision)) {
    return not_found(fmt::format("rollout {} has no revision {} in its history (revisions: {})",
                                 request.rollout, *request.revision,
                                 listed.empty() ? "none" : listed));
  }
  runtime::LogQuery query;
  query.rollout = request.rollout;
  query.revision = request.revision;
  query.instance = request.instance;
  query.tail_lines = request.tail_lines;
  query.max_bytes = request.max_bytes;
  query.after = request.after;
  std::vector<runtime::InstanceLog> logs = controller_.runtime().read_logs(query);
  std::erase_if(logs, [&](const runtime::InstanceLog& l) { return !in_history.count(l.revision); });
  if (!request.instance.empty() && logs.empty()) {
    return not_found(
        request.revision
            ? fmt::format("rollout {} revision {} has no instance {} with logs", request.rollout,
                          *request.revision, request.instance)
            : fmt::format("rollout {} has no instance {} with logs", request.rollout,
                          request.instance));
  }
  return logs;
}

json ControllerFacade::source() const {
  std::function<json()> source;
  {
    std::lock_guard lock(mu_);
    source = hooks_.source;
  }
  if (!source) {
    return {{"repo", nullptr},   {"branch", nullptr},    {"path", nullptr},
            {"commit", nullptr}, {"fetchedAt", nullptr}, {"error", nullptr}};
  }
  return source();
}

void ControllerFacade::sync(std::function<void(Result<json>)> done) {
  std::function<void(std::function<void(Result<json>)>)> sync;
  {
    std::lock_guard lock(mu_);
    sync = hooks_.sync;
  }
  if (!sync) {
    done(unavailable("no source is configured"));
    return;
  }
  // "Applied" is not "running": the answer says per rollout whether what runs is what Git says
  // (after an undo or an abort it is not). Read on the controller thread, after the apply.
  sync([this, done = std::move(done)](Result<json> result) mutable {
    if (!result.is_ok()) {
      done(std::move(result));
      return;
    }
    scheduler_.post([this, answer = std::move(result).value(), done = std::move(done)]() mutable {
      json rollouts = json::object();
      for (const auto& [name, state] : controller_.states()) rollouts[name] = sync_json(state);
      answer["rollouts"] = std::move(rollouts);
      done(std::move(answer));
    });
  });
}

void ControllerFacade::request_refresh(const std::string& reason) {
  std::function<void(const std::string&)> refresh;
  {
    std::lock_guard lock(mu_);
    refresh = hooks_.request_refresh;
  }
  if (refresh) refresh(reason);
}

bool ControllerFacade::ready() const {
  std::lock_guard lock(mu_);
  return ready_ && model_->not_durable.empty();
}

std::string ControllerFacade::not_ready_reason() const {
  std::lock_guard lock(mu_);
  if (!model_->not_durable.empty()) return model_->not_durable;
  return ready_ ? "" : "no commit applied yet";
}

namespace {

std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string ControllerFacade::metrics_text() const {
  std::shared_ptr<const ReadModel> model;
  {
    std::lock_guard lock(mu_);
    model = model_;
  }
  std::string out;
  out += "# HELP sluice_state_durable 1 while every record is durable; 0 while the controller "
         "holds because it is not.\n";
  out += "# TYPE sluice_state_durable gauge\n";
  out += fmt::format("sluice_state_durable {}\n", model->not_durable.empty() ? 1 : 0);
  out += "# HELP sluice_rollout_phase Current phase of each rollout (1 for the current phase).\n";
  out += "# TYPE sluice_rollout_phase gauge\n";
  for (const auto& [name, r] : model->rollouts) {
    const std::string phase = r->value("phase", "");
    for (const char* p : {"Healthy", "Progressing", "Paused", "Degraded"}) {
      out += fmt::format("sluice_rollout_phase{{rollout=\"{}\",phase=\"{}\"}} {}\n", label(name), p,
                         phase == p ? 1 : 0);
    }
  }
  out += "# HELP sluice_rollout_sync_status Whether what runs is what Git says (1 for the current "
         "status).\n";
  out += "# TYPE sluice_rollout_sync_status gauge\n";
  for (const auto& [name, r] : model->rollouts) {
    const std::string sync = r->contains("sync") ? r->at("sync").value("status", "") : "";
    for (const char* st : {"Synced", "OutOfSync"}) {
      out += fmt::format("sluice_rollout_sync_status{{rollout=\"{}\",status=\"{}\"}} {}\n",
                         label(name), st, sync == st ? 1 : 0);
    }
  }
  out += "# HELP sluice_rollout_info The desired version and revision of each rollout.\n";
  out += "# TYPE sluice_rollout_info gauge\n";
  for (const auto& [name, r] : model->rollouts) {
    const json& desired = r->at("desired");
    out += fmt::format("sluice_rollout_info{{rollout=\"{}\",version=\"{}\",revision=\"{}\"}} 1\n",
                       label(name), label(desired.value("version", "")),
                       desired.value("revision", int64_t{0}));
  }
  // Per role, from the rollout object: stable and, while an update is in progress, canary.
  for (const auto& [metric, field, help] :
       {std::tuple{"sluice_rollout_replicas_desired", "replicas", "Instances asked for"},
        std::tuple{"sluice_rollout_replicas_ready", "ready", "Ready instances"}}) {
    out += fmt::format("# HELP {} {}, per rollout and role.\n# TYPE {} gauge\n", metric, help,
                       metric);
    for (const auto& [name, r] : model->rollouts) {
      for (const char* role : {"stable", "canary"}) {
        auto side = r->find(role);
        if (side == r->end() || !side->is_object()) continue;
        out += fmt::format("{}{{rollout=\"{}\",role=\"{}\"}} {}\n", metric, label(name), role,
                           side->value(field, 0));
      }
    }
  }
  out += "# HELP sluice_rollout_weight Percent of traffic, per rollout and role.\n";
  out += "# TYPE sluice_rollout_weight gauge\n";
  for (const auto& [name, r] : model->rollouts) {
    auto weights = r->find("weights");
    if (weights == r->end() || !weights->is_object()) continue;
    for (const char* role : {"stable", "canary"}) {
      out += fmt::format("sluice_rollout_weight{{rollout=\"{}\",role=\"{}\"}} {}\n", label(name),
                         role, weights->value(role, 0));
    }
  }
  out += "# HELP sluice_rollout_aborts_total Aborted updates, by the reason of the event that "
         "aborted (AnalysisFailed, CrashLoop, ProgressDeadlineExceeded, HookFailed, Aborted).\n";
  out += "# TYPE sluice_rollout_aborts_total counter\n";
  for (const auto& [key, n] : model->aborts) {
    out += fmt::format("sluice_rollout_aborts_total{{rollout=\"{}\",reason=\"{}\"}} {}\n",
                       label(key.first), label(key.second), n);
  }
  // As Argo's analysis_run_metric_phase: one series per phase value, 1 for the current one.
  out += "# HELP sluice_analysis_run_metric_phase Phase of each metric of each analysis run (1 "
         "for the current phase).\n";
  out += "# TYPE sluice_analysis_run_metric_phase gauge\n";
  for (const auto& [name, phases] : model->analysis_metric_phases) {
    for (const auto& p : phases) {
      for (const char* phase :
           {"Pending", "Running", "Successful", "Failed", "Inconclusive", "Error"}) {
        out += fmt::format(
            "sluice_analysis_run_metric_phase{{rollout=\"{}\",revision=\"{}\",run=\"{}\","
            "metric=\"{}\",phase=\"{}\"}} {}\n",
            label(name), p.revision, label(p.run), label(p.metric), phase,
            p.phase == phase ? 1 : 0);
      }
    }
  }
  out += "# HELP sluice_reconcile_duration_seconds Time spent in one reconcile pass.\n";
  out += "# TYPE sluice_reconcile_duration_seconds histogram\n";
  for (const auto& [le, n] : model->reconcile_buckets) {
    out += fmt::format("sluice_reconcile_duration_seconds_bucket{{le=\"{}\"}} {}\n", le, n);
  }
  out += fmt::format("sluice_reconcile_duration_seconds_bucket{{le=\"+Inf\"}} {}\n",
                     model->reconciles);
  out += fmt::format("sluice_reconcile_duration_seconds_sum {}\n", model->reconcile_seconds_sum);
  out += fmt::format("sluice_reconcile_duration_seconds_count {}\n", model->reconciles);
  out += "# HELP sluice_analysis_measurements_total Analysis measurements taken, by phase.\n";
  out += "# TYPE sluice_analysis_measurements_total counter\n";
  for (const auto& [key, n] : model->measurements) {
    const auto& [rollout, revision, metric, phase] = key;
    out += fmt::format(
        "sluice_analysis_measurements_total{{rollout=\"{}\",revision=\"{}\",metric=\"{}\","
        "phase=\"{}\"}} {}\n",
        label(rollout), revision, label(metric), label(phase), n);
  }
  return out;
}

}  // namespace sluice::controller
