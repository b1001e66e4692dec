#include "controller/control_facade.h"

#include <set>

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
  controller_.set_on_publish([this](std::shared_ptr<const ReadModel> model) {
    std::lock_guard lock(mu_);
    model_ = std::move(model);
  });
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
    if (!s->rollout.empty() && s->rollout != rollout) continue;
    {
      std::lock_guard lock(mu_);
      if (!s->active) continue;
    }
    s->callback(event);
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
  auto subscriber = std::make_shared<Subscriber>();
  subscriber->rollout = rollout;
  subscriber->callback = std::move(on_event);
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
  sync(std::move(done));
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
  out += "# HELP sluice_rollout_info The desired version and revision of each rollout.\n";
  out += "# TYPE sluice_rollout_info gauge\n";
  for (const auto& [name, r] : model->rollouts) {
    const json& desired = r->at("desired");
    out += fmt::format("sluice_rollout_info{{rollout=\"{}\",version=\"{}\",revision=\"{}\"}} 1\n",
                       label(name), label(desired.value("version", "")),
                       desired.value("revision", int64_t{0}));
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
    const auto& [rollout, metric, phase] = key;
    out += fmt::format(
        "sluice_analysis_measurements_total{{rollout=\"{}\",metric=\"{}\",phase=\"{}\"}} {}\n",
        label(rollout), label(metric), label(phase), n);
  }
  return out;
}

}  // namespace sluice::controller
