#include "notify/notifier.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <boost/asio/post.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/http_client.h"
#include "notify/message.h"
#include "notify/triggers.h"

namespace sluice::notify {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

Result<std::string> read_secret_file(const TargetConfig& t, const std::string& field,
                                     const std::string& path) {
  const std::string where = fmt::format("{}: notifications[{}].{}", t.where, t.name, field);
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(fmt::format("{}: cannot read {}", where, path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r' || value.back() == ' '))
    value.pop_back();
  if (value.empty()) return invalid_argument(fmt::format("{}: {} is empty", where, path));
  return value;
}

bool retryable(int status) { return status == 408 || status == 429 || status >= 500; }

}  // namespace

Result<std::unique_ptr<Notifier>> Notifier::create(std::vector<TargetConfig> targets,
                                                   NotifierOptions options) {
  std::vector<Target> resolved;
  for (auto& config : targets) {
    Target t;
    if (config.kind == TargetKind::kSlack) {
      auto url = read_secret_file(config, "slack.webhookUrlFile", config.webhook_url_file);
      if (!url) return url.status();
      t.url = std::move(url).value();
    } else {
      t.url = config.url;
    }
    // The URL is a secret: the error says what is wrong with it, not what it is.
    if (auto parsed = parse_http_url(t.url); !parsed) {
      return invalid_argument(fmt::format(
          "{}: notifications[{}].{}: not an http:// or https:// URL with a host", config.where,
          config.name, config.kind == TargetKind::kSlack ? "slack.webhookUrlFile" : "webhook.url"));
    }
    if (!config.secret_file.empty()) {
      auto key = read_secret_file(config, "webhook.secretFile", config.secret_file);
      if (!key) return key.status();
      t.secret = std::move(key).value();
    }
    t.config = std::move(config);
    resolved.push_back(std::move(t));
  }
  return std::unique_ptr<Notifier>(new Notifier(std::move(resolved), std::move(options)));
}

Notifier::Notifier(std::vector<Target> targets, NotifierOptions options)
    : options_(std::move(options)), targets_(std::move(targets)) {
  for (auto& t : targets_) {
    t.retry_timer = std::make_unique<asio::steady_timer>(ioc_);
    for (const auto& trigger : t.config.triggers) {
      for (const char* result : {"sent", "failed", "dropped"}) {
        counts_[{t.config.name, trigger, result}] = 0;
      }
    }
  }
}

Notifier::~Notifier() { stop(Duration(0)); }

void Notifier::start() {
  std::lock_guard lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  work_.emplace(ioc_.get_executor());
  thread_ = std::thread([this] { ioc_.run(); });
}

void Notifier::submit(const json& event) {
  if (!event.is_object()) return;
  const uint64_t id = event.value("id", uint64_t{0});
  const std::string rollout = event.value("rollout", "");
  const std::vector<std::string> triggers = triggers_for(event);
  std::vector<size_t> kick;
  {
    std::lock_guard lock(mu_);
    if (id != 0 && id <= last_event_id_) return;  // a replay: delivered (or counted) before
    last_event_id_ = std::max(last_event_id_, id);
    if (triggers.empty()) return;
    for (size_t i = 0; i < targets_.size(); ++i) {
      Target& t = targets_[i];
      const auto& wanted = t.config.rollouts;
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), rollout) == wanted.end())
        continue;
      for (const auto& trigger : triggers) {
        const auto& subscribed = t.config.triggers;
        if (std::find(subscribed.begin(), subscribed.end(), trigger) == subscribed.end()) continue;
        if (stopped_ || t.queue.size() >= options_.queue_limit) {
          add_count(t.config.name, trigger, "dropped", 1);
          spdlog::warn("notification dropped: target {} trigger {} rollout {} event {}: {}",
                       t.config.name, trigger, rollout, id,
                       stopped_ ? "the notifier has stopped"
                                : fmt::format("its queue is full ({} waiting)", t.queue.size()));
          continue;
        }
        t.queue.push_back(Delivery{id, trigger, event, 0});
        kick.push_back(i);
      }
    }
  }
  for (size_t i : kick) asio::post(ioc_, [this, i] { pump(i); });
}

void Notifier::pump(size_t index) {
  {
    std::lock_guard lock(mu_);
    Target& t = targets_[index];
    if (t.busy || t.queue.empty()) return;
    t.busy = true;
  }
  attempt(index);
}

void Notifier::attempt(size_t index) {
  Target& t = targets_[index];
  HttpRequest request;
  std::string trigger;
  {
    std::lock_guard lock(mu_);
    Delivery& d = t.queue.front();
    ++d.attempts;
    trigger = d.trigger;
    const std::string dashboard =
        dashboard_url(options_.dashboard_base, d.event.value("rollout", ""));
    const json body = t.config.kind == TargetKind::kSlack
                          ? slack_body(d.trigger, d.event, dashboard)
                          : webhook_body(d.trigger, d.event, dashboard);
    request.body = body.dump();
    request.headers.emplace_back("X-Sluice-Delivery", fmt::format("{}.{}", d.event_id, d.trigger));
    request.headers.emplace_back("X-Sluice-Trigger", d.trigger);
  }
  request.method = "POST";
  request.url = t.url;
  request.timeout = options_.attempt_timeout;
  request.max_body_bytes = 64 * 1024;
  request.ca_file = t.config.ca_file;
  request.headers.emplace_back("Content-Type", "application/json");
  for (const auto& header : t.config.headers) request.headers.push_back(header);
  if (!t.secret.empty()) {
    request.headers.emplace_back("X-Sluice-Signature-256",
                                 "sha256=" + hmac_sha256_hex(t.secret, request.body));
  }
  http_fetch(ioc_.get_executor(), std::move(request),
             [this, index](Result<HttpResponse> r) {
               Target& target = targets_[index];
               std::string why;
               bool retry = false;
               if (r.is_ok() && r->status >= 200 && r->status < 300) {
                 return finish_front(index, "sent", "");
               }
               if (r.is_ok()) {
                 why = fmt::format("answered HTTP {}", r->status);
                 retry = retryable(r->status);
               } else {
                 why = redact(target, r.status().message());
                 retry = true;
               }
               int attempts = 0;
               {
                 std::lock_guard lock(mu_);
                 attempts = target.queue.front().attempts;
               }
               if (!retry || attempts >= options_.max_attempts) {
                 return finish_front(
                     index, "failed",
                     fmt::format("{} after {} attempt(s)", why, attempts));
               }
               // Exponential backoff: first_backoff * 2^(attempts-1), capped.
               int64_t wait_ms = options_.first_backoff.count();
               for (int i = 1; i < attempts && wait_ms < options_.max_backoff.count(); ++i)
                 wait_ms *= 2;
               wait_ms = std::min<int64_t>(wait_ms, options_.max_backoff.count());
               spdlog::info("notification to target {} failed ({}); retry {} in {} ms",
                            target.config.name, why, attempts + 1, wait_ms);
               target.retry_timer->expires_after(std::chrono::milliseconds(wait_ms));
               target.retry_timer->async_wait([this, index](boost::system::error_code ec) {
                 if (!ec) attempt(index);
               });
             });
}

void Notifier::finish_front(size_t index, const std::string& result, const std::string& why) {
  Target& t = targets_[index];
  {
    std::lock_guard lock(mu_);
    const Delivery& d = t.queue.front();
    add_count(t.config.name, d.trigger, result, 1);
    if (result != "sent") {
      spdlog::warn("notification given up: target {} trigger {} rollout {} event {}: {}",
                   t.config.name, d.trigger, d.event.value("rollout", ""), d.event_id, why);
    }
    t.queue.pop_front();
    t.busy = false;
  }
  idle_.notify_all();
  pump(index);
}

void Notifier::stop(Duration drain) {
  {
    std::unique_lock lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    if (started_) {
      // A bounded drain: deliveries in flight and queued get `drain` to finish.
      idle_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(drain.count(), 0)), [&] {
        return std::all_of(targets_.begin(), targets_.end(),
                           [](const Target& t) { return t.queue.empty(); });
      });
    }
  }
  if (started_) {
    work_.reset();
    ioc_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::lock_guard lock(mu_);
  for (auto& t : targets_) {
    for (const auto& d : t.queue) {
      add_count(t.config.name, d.trigger, "dropped", 1);
      spdlog::warn("notification dropped at shutdown: target {} trigger {} rollout {} event {}",
                   t.config.name, d.trigger, d.event.value("rollout", ""), d.event_id);
    }
    t.queue.clear();
    t.busy = false;
  }
}

void Notifier::add_count(const std::string& target, const std::string& trigger,
                         const std::string& result, uint64_t n) {
  counts_[{target, trigger, result}] += n;
}

uint64_t Notifier::count(const std::string& target, const std::string& trigger,
                         const std::string& result) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find({target, trigger, result});
  return it == counts_.end() ? 0 : it->second;
}

std::string Notifier::metrics_text() const {
  std::lock_guard lock(mu_);
  std::string out =
      "# HELP sluice_notifications_total Notifications by target, trigger and result: sent, "
      "failed (gave up after retries), dropped (queue full or shutdown).\n"
      "# TYPE sluice_notifications_total counter\n";
  for (const auto& [key, n] : counts_) {
    const auto& [target, trigger, result] = key;
    out += fmt::format("sluice_notifications_total{{target=\"{}\",trigger=\"{}\",result=\"{}\"}} {}\n",
                       target, trigger, result, n);
  }
  out +=
      "# HELP sluice_notifications_queued Notifications waiting or in flight, per target.\n"
      "# TYPE sluice_notifications_queued gauge\n";
  for (const auto& t : targets_) {
    out += fmt::format("sluice_notifications_queued{{target=\"{}\"}} {}\n", t.config.name,
                       t.queue.size());
  }
  return out;
}

std::string Notifier::redact(const Target& t, std::string text) const {
  // Transport errors name host and port only; this guards against any cause quoting the URL.
  for (size_t at; !t.url.empty() && (at = text.find(t.url)) != std::string::npos;)
    text.replace(at, t.url.size(), "<target URL>");
  return text;
}

}  // namespace sluice::notify
