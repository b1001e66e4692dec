// Semantic validation: rules that relate fields within a document, and across documents.
#include <algorithm>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "manifests/condition.h"
#include "manifests/decode.h"
#include "manifests/expand.h"
#include "manifests/loader.h"
#include "manifests/yaml_reader.h"

namespace sluice::manifests {

namespace {

bool is_dns1123_label(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; };
  return std::all_of(s.begin(), s.end(), ok) && s.front() != '-' && s.back() != '-';
}

bool is_env_name(const std::string& s) {
  if (s.empty()) return false;
  auto head = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  auto tail = [&](char c) { return head(c) || (c >= '0' && c <= '9'); };
  return head(s[0]) && std::all_of(s.begin() + 1, s.end(), tail);
}

bool is_number(const std::string& s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "host:port" with a numeric port 1..65535 and a non-empty host ("[::1]:80" allowed).
bool is_listen_address(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  const std::string port = s.substr(colon + 1);
  if (!is_number(port)) return false;
  const int p = std::stoi(port);
  return p >= 1 && p <= 65535;
}

// True when a relative path climbs out of its base ("../x", "a/../../x"). Absolute paths are
// not relative to the checkout and are judged separately.
bool escapes(const std::string& path) {
  int depth = 0;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    start = end + 1;
  }
  return false;
}

// Names the local runtime sets itself (runtime/supervisor_instance.cc); a template env entry of
// that name is ignored there, so its value here says nothing.
bool provided_by_runtime(const std::string& name) {
  return name == "PORT" || name.rfind("PORT_", 0) == 0 || name.rfind("SLUICE_", 0) == 0;
}

// `text` as the runtime will expand it, when the manifest alone decides that: $(VAR) from the
// template's env, each entry expanded with the ones before it (as the runtime does). nullopt
// when a reference remains (ports, SLUICE_*, the controller's environment: known at spawn time,
// where the runtime checks the result).
std::optional<std::string> known_expansion(const std::string& text,
                                           const std::vector<EnvVar>& env) {
  std::map<std::string, std::string> vars;
  for (const auto& e : env) {
    auto value = expand(e.value, vars);
    if (value.unresolved || value.too_large || provided_by_runtime(e.name))
      vars.erase(e.name);
    else
      vars[e.name] = std::move(value.value);
  }
  auto out = expand(text, vars);
  if (out.unresolved || out.too_large) return std::nullopt;
  return std::move(out.value);
}

class DocChecker {
 public:
  DocChecker(DocContext& ctx) : ctx_(ctx) {}
  std::string canary_step_path(size_t model_index) const {
    return ctx_.origin ? ctx_.origin->canary_step_path(model_index)
                       : DocumentOrigin{}.canary_step_path(model_index);
  }
  void error(const std::string& path, const std::string& message) {
    ctx_.error(ctx_.origin ? ctx_.origin->find(path) : SourcePos{ctx_.file, 0, 0}, path, message);
  }

 private:
  DocContext& ctx_;
};

void check_port_ref(DocChecker& c, const PodTemplate& t, const std::string& path,
                    const std::string& ref) {
  if (ref.empty()) {
    c.error(path, "must name a port of the template or be a port number");
    return;
  }
  if (is_number(ref)) {
    const int p = std::stoi(ref);
    if (p < 1 || p > 65535) c.error(path, fmt::format("must be between 1 and 65535 (got {})", p));
    return;
  }
  const bool found = std::any_of(t.ports.begin(), t.ports.end(),
                                 [&](const ContainerPort& p) { return p.name == ref; });
  if (!found) {
    std::string names;
    for (const auto& p : t.ports) names += (names.empty() ? "" : ", ") + p.name;
    c.error(path, fmt::format("names no port of the template (\"{}\"; ports: {})", ref,
                              names.empty() ? "none" : names));
  }
}

void check_http(DocChecker& c, const PodTemplate& t, const std::string& path,
                const HttpGetAction& a) {
  check_port_ref(c, t, path + ".port", a.port);
  if (a.path.empty() || a.path[0] != '/') c.error(path + ".path", "must start with /");
}

void check_exec(DocChecker& c, const std::string& path, const ExecAction& e) {
  if (!e.command.empty() && escapes(e.command[0])) {
    c.error(path + ".command[0]", "must not climb out of the repository checkout with ..");
  }
}

void check_probe(DocChecker& c, const PodTemplate& t, const std::string& path,
                 const std::optional<Probe>& p) {
  if (!p || !p->defined()) return;
  if (p->http_get) check_http(c, t, path + ".httpGet", *p->http_get);
  if (p->tcp_socket) check_port_ref(c, t, path + ".tcpSocket.port", p->tcp_socket->port);
  if (p->exec) check_exec(c, path + ".exec", *p->exec);
}

void check_hook(DocChecker& c, const PodTemplate& t, const std::string& path,
                const std::optional<LifecycleHandler>& h) {
  if (!h) return;
  if (h->http_post) check_http(c, t, path + ".httpPost", *h->http_post);
  if (h->exec) check_exec(c, path + ".exec", *h->exec);
}

// Every env value and command argument, expanded as the runtime will, stays within the bounds
// of manifests/expand.h. References the manifest cannot resolve (ports, SLUICE_*, the
// controller's environment) stay as written, which is about their size once resolved, so a
// doubling chain is caught here whatever it starts from; the runtime checks again at spawn.
void check_expansion_sizes(DocChecker& c, const PodTemplate& t) {
  const std::string base = "spec.template";
  std::map<std::string, std::string> vars;
  size_t total = 0;
  for (size_t i = 0; i < t.env.size(); ++i) {
    auto value = expand(t.env[i].value, vars);
    if (value.too_large) {
      c.error(fmt::format("{}.env[{}].value", base, i),
              fmt::format("expands to more than {} bytes ($(VAR) references nest too deeply)",
                          kMaxExpandedValueBytes));
      return;  // the entries after it reference it, and each would say the same
    }
    total += t.env[i].name.size() + value.value.size() + 2;
    vars[t.env[i].name] = std::move(value.value);
  }
  for (size_t i = 0; i < t.command.size(); ++i) {
    auto arg = expand(t.command[i], vars);
    if (arg.too_large) {
      c.error(fmt::format("{}.command[{}]", base, i),
              fmt::format("expands to more than {} bytes ($(VAR) references nest too deeply)",
                          kMaxExpandedValueBytes));
      return;
    }
    total += arg.value.size() + 1;
  }
  if (total > kMaxExpandedTotalBytes) {
    c.error(base + ".env",
            fmt::format("the env and command expand to {} bytes, more than the {} an instance "
                        "may have",
                        total, kMaxExpandedTotalBytes));
  }
}

void check_template(DocChecker& c, const PodTemplate& t) {
  const std::string base = "spec.template";
  if (!t.command.empty()) {
    if (t.command[0].empty()) c.error(base + ".command[0]", "must not be empty");
    // Checked after $(VAR) expansion: "$(P)" with P=../../bin/sh runs ../../bin/sh.
    const auto expanded = known_expansion(t.command[0], t.env);
    if (expanded && escapes(*expanded)) {
      c.error(base + ".command[0]",
              *expanded == t.command[0]
                  ? std::string("must not climb out of the repository checkout with ..")
                  : fmt::format("expands to \"{}\", which must not climb out of the repository "
                                "checkout with ..",
                                *expanded));
    }
  }
  if (!t.working_dir.empty() && t.working_dir[0] == '/') {
    c.error(base + ".workingDir", "must be relative to the repository checkout");
  } else if (escapes(t.working_dir)) {
    c.error(base + ".workingDir", "must not climb out of the repository checkout with ..");
  }
  check_expansion_sizes(c, t);
  // The role is live in a file, never in env (an env is fixed at spawn; a canary that is
  // promoted keeps its process): a $(SLUICE_ROLE) reference would stay unexpanded.
  const std::string role_ref = "$(SLUICE_ROLE)";
  const std::string role_hint =
      "refers to $(SLUICE_ROLE), which Sluice does not set: the role changes while an instance "
      "runs, so it is in the file named by $(SLUICE_ROLE_FILE)";
  for (size_t i = 0; i < t.env.size(); ++i) {
    if (t.env[i].value.find(role_ref) != std::string::npos) {
      c.error(fmt::format("{}.env[{}].value", base, i), role_hint);
    }
  }
  for (size_t i = 0; i < t.command.size(); ++i) {
    if (t.command[i].find(role_ref) != std::string::npos) {
      c.error(fmt::format("{}.command[{}]", base, i), role_hint);
    }
  }
  std::set<std::string> env_names;
  for (size_t i = 0; i < t.env.size(); ++i) {
    const std::string path = fmt::format("{}.env[{}].name", base, i);
    if (!is_env_name(t.env[i].name)) c.error(path, "must be a valid environment variable name");
    if (!env_names.insert(t.env[i].name).second) c.error(path, "duplicate environment variable");
  }
  std::set<std::string> port_names;
  for (size_t i = 0; i < t.ports.size(); ++i) {
    const std::string path = fmt::format("{}.ports[{}].name", base, i);
    const std::string& name = t.ports[i].name;
    if (!is_dns1123_label(name) || name.size() > 15 || is_number(name)) {
      c.error(path, "must be a lowercase name of at most 15 characters (like http)");
    }
    if (!port_names.insert(name).second) c.error(path, "duplicate port name");
  }
  check_probe(c, t, base + ".readinessProbe", t.readiness_probe);
  check_probe(c, t, base + ".livenessProbe", t.liveness_probe);
  check_probe(c, t, base + ".startupProbe", t.startup_probe);
  check_hook(c, t, base + ".lifecycle.activate", t.lifecycle.activate);
  check_hook(c, t, base + ".lifecycle.deactivate", t.lifecycle.deactivate);
  check_hook(c, t, base + ".lifecycle.preStop", t.lifecycle.pre_stop);
}

void check_header_route(DocChecker& c, const std::string& path, const SetHeaderRoute& route) {
  if (route.name.empty()) c.error(path + ".name", "must not be empty");
  for (size_t i = 0; i < route.match.size(); ++i) {
    const auto& m = route.match[i];
    const std::string mpath = fmt::format("{}.match[{}]", path, i);
    if (m.header_name.empty()) c.error(mpath + ".headerName", "must not be empty");
    if (m.header_value.regex) {
      const std::string& re = *m.header_value.regex;
      if (re.size() > 256) {
        c.error(mpath + ".headerValue.regex", "must be at most 256 characters");
        continue;
      }
      try {
        std::regex compiled(re, std::regex::ECMAScript);
        (void)compiled;
      } catch (const std::regex_error& e) {
        c.error(mpath + ".headerValue.regex",
                fmt::format("invalid regular expression: {}", e.what()));
      }
    }
  }
}

void check_canary(DocChecker& c, const RolloutSpec& spec, const CanaryStrategy& canary) {
  const std::string base = "spec.strategy.canary";
  const bool routed = canary.traffic_routing.has_value();
  if (routed && canary.traffic_routing->builtin && !spec.service) {
    c.error(base + ".trafficRouting.builtin",
            "the built-in router needs spec.service.listen (the front door to route)");
  }
  for (size_t i = 0; i < canary.steps.size(); ++i) {
    const std::string path = c.canary_step_path(i);
    if (const auto* route = std::get_if<SetHeaderRoute>(&canary.steps[i])) {
      if (!routed) c.error(path + ".setHeaderRoute", "needs spec.strategy.canary.trafficRouting");
      check_header_route(c, path + ".setHeaderRoute", *route);
    }
    if (const auto* scale = std::get_if<SetCanaryScale>(&canary.steps[i])) {
      if (scale->replicas && *scale->replicas > spec.replicas * 2 + 100) {
        c.error(path + ".setCanaryScale.replicas", "is implausibly large");
      }
    }
  }
  if (canary.analysis && canary.analysis->starting_step > static_cast<int>(canary.steps.size())) {
    c.error(base + ".analysis.startingStep",
            fmt::format("must be at most the number of steps ({}) (got {})", canary.steps.size(),
                        canary.analysis->starting_step));
  }
}

void check_blue_green(DocChecker& c, const RolloutSpec& spec, const BlueGreenStrategy& bg) {
  const std::string base = "spec.strategy.blueGreen";
  if (bg.preview_replica_count > spec.replicas) {
    c.error(base + ".previewReplicaCount",
            fmt::format("must be at most spec.replicas ({}) (got {})", spec.replicas,
                        bg.preview_replica_count));
  }
  if (bg.preview) {
    if (!is_listen_address(bg.preview->listen)) {
      c.error(base + ".preview.listen",
              fmt::format("must be host:port (got \"{}\")", bg.preview->listen));
    }
    if (!spec.service) c.error(base + ".preview", "a preview front door needs spec.service");
  }
}

// spec.webhooks: unique names, a URL Sluice can call, and a type that means something for the
// strategy (confirm-promotion needs a promotion: canary or blue-green).
void check_webhooks(DocChecker& c, const RolloutSpec& spec) {
  std::set<std::string> names;
  for (size_t i = 0; i < spec.webhooks.size(); ++i) {
    const Webhook& w = spec.webhooks[i];
    const std::string base = fmt::format("spec.webhooks[{}]", i);
    if (!is_dns1123_label(w.name)) {
      c.error(base + ".name",
              fmt::format("must be a DNS-1123 label: lowercase letters, digits and '-' (got \"{}\")",
                          w.name));
    } else if (!names.insert(w.name).second) {
      c.error(base + ".name", fmt::format("duplicate webhook name \"{}\"", w.name));
    }
    // The URL itself is never echoed: it may carry a token.
    if (w.url.empty()) {
      // A missing url is the decoder's error already.
    } else if (w.url.rfind("http://", 0) != 0 && w.url.rfind("https://", 0) != 0) {
      c.error(base + ".url", "must be an http:// or https:// URL");
    } else if (w.url.find_first_of(" \t\r\n") != std::string::npos) {
      c.error(base + ".url", "must not contain white space");
    }
    if (w.type == "confirm-promotion" && std::holds_alternative<RollingUpdateStrategy>(spec.strategy)) {
      c.error(base + ".type",
              "confirm-promotion needs a promotion to gate: use it with canary or blueGreen "
              "(rollingUpdate has none; confirm-rollout gates its start)");
    }
  }
}

}  // namespace

void validate_rollout(DocContext& ctx, const Rollout& rollout) {
  DocChecker c(ctx);
  if (!is_dns1123_label(rollout.metadata.name)) {
    c.error("metadata.name",
            fmt::format("must be a DNS-1123 label: lowercase letters, digits and '-', at most 63 "
                        "characters (got \"{}\")",
                        rollout.metadata.name));
  }
  const RolloutSpec& spec = rollout.spec;
  const int max_replicas = ctx.limits ? ctx.limits->max_replicas : LoadLimits{}.max_replicas;
  if (spec.replicas > max_replicas) {
    c.error("spec.replicas",
            fmt::format("must be at most {} (got {}): the runtime's limit, raised with "
                        "`serve --max-replicas` or runtime.maxReplicas in the config file",
                        max_replicas, spec.replicas));
  }
  check_template(c, spec.template_);
  if (spec.git_write_back && spec.git_write_back->on_abort == "revert" && ctx.limits &&
      !ctx.limits->git_write_back_refused.empty()) {
    c.error("spec.gitWriteBack.onAbort",
            "revert needs a repository this server can push to, and it only reads its own: " +
                ctx.limits->git_write_back_refused);
  }
  if (spec.service) {
    if (!is_listen_address(spec.service->listen)) {
      c.error("spec.service.listen",
              fmt::format("must be host:port (got \"{}\")", spec.service->listen));
    }
    check_port_ref(c, spec.template_, "spec.service.targetPort", spec.service->target_port);
  }
  if (const auto* canary = std::get_if<CanaryStrategy>(&spec.strategy)) {
    check_canary(c, spec, *canary);
  } else if (const auto* bg = std::get_if<BlueGreenStrategy>(&spec.strategy)) {
    check_blue_green(c, spec, *bg);
  }
  check_webhooks(c, spec);
}

namespace {

// bootstrapServers: a comma list of host:port (empty and missing fields are the decoder's
// errors). A value with an {{args.x}} placeholder is checked after substitution, at run time, by
// the provider.
void check_kafka(DocChecker& c, const std::string& path, const KafkaMetric& kafka) {
  const std::string& servers = kafka.bootstrap_servers;
  if (!servers.empty() && servers.find("{{") == std::string::npos) {
    size_t start = 0;
    while (true) {
      const size_t comma = servers.find(',', start);
      const std::string one =
          servers.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!is_listen_address(one)) {
        c.error(path + ".bootstrapServers",
                fmt::format("must be a comma-separated list of host:port (got \"{}\")", servers));
        break;
      }
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
}

}  // namespace

void validate_analysis_template(DocContext& ctx, const AnalysisTemplate& templ) {
  DocChecker c(ctx);
  if (!is_dns1123_label(templ.metadata.name)) {
    c.error("metadata.name",
            fmt::format("must be a DNS-1123 label (got \"{}\")", templ.metadata.name));
  }
  std::set<std::string> args;
  for (size_t i = 0; i < templ.spec.args.size(); ++i) {
    if (!args.insert(templ.spec.args[i].name).second) {
      c.error(fmt::format("spec.args[{}].name", i), "duplicate argument");
    }
  }
  if (templ.spec.metrics.empty()) c.error("spec.metrics", "must list at least one metric");
  std::set<std::string> names;
  for (size_t i = 0; i < templ.spec.metrics.size(); ++i) {
    const Metric& m = templ.spec.metrics[i];
    const std::string base = fmt::format("spec.metrics[{}]", i);
    if (!names.insert(m.name).second) c.error(base + ".name", "duplicate metric name");
    if (m.count && *m.count > 1 && !m.interval) {
      c.error(base + ".interval", "is required when count is greater than 1");
    }
    for (const auto& [key, text] :
         {std::pair<const char*, const std::string&>{"successCondition", m.success_condition},
          {"failureCondition", m.failure_condition}}) {
      if (text.empty()) continue;
      // {{args.x}} placeholders are substituted at run time; check the shape with a number.
      std::string probe_text = text;
      for (size_t open = probe_text.find("{{"); open != std::string::npos;
           open = probe_text.find("{{", open)) {
        const size_t close = probe_text.find("}}", open);
        if (close == std::string::npos) break;
        probe_text.replace(open, close + 2 - open, "1");
      }
      auto parsed = Condition::parse(probe_text);
      if (!parsed.is_ok()) c.error(base + "." + key, parsed.status().message());
    }
    if (const auto* web = std::get_if<WebMetric>(&m.provider)) {
      if (!web->json_path.empty() && web->json_path[0] != '$') {
        c.error(base + ".provider.web.jsonPath", "must start with $ (like $.data.rate)");
      }
      if (web->url.rfind("http://", 0) != 0 && web->url.rfind("https://", 0) != 0) {
        c.error(base + ".provider.web.url", "must be an http:// or https:// URL");
      }
    } else if (const auto* prom = std::get_if<PrometheusMetric>(&m.provider)) {
      if (!prom->address.empty() && prom->address.rfind("http://", 0) != 0 &&
          prom->address.rfind("https://", 0) != 0) {
        c.error(base + ".provider.prometheus.address", "must be an http:// or https:// URL");
      }
    } else if (const auto* rmq = std::get_if<RabbitmqMetric>(&m.provider)) {
      if (rmq->url.rfind("http://", 0) != 0 && rmq->url.rfind("https://", 0) != 0) {
        c.error(base + ".provider.rabbitmq.url", "must be an http:// or https:// URL");
      }
    } else if (const auto* kafka = std::get_if<KafkaMetric>(&m.provider)) {
      check_kafka(c, base + ".provider.kafka", *kafka);
    }
  }
}

namespace {

// Every args entry must be declared by one of the referenced templates: an undeclared name is
// a misspelling whose value would be dropped while the template's default applies. Checked only
// when every referenced template was found (a missing one is reported on its own, and might
// declare the arg).
void check_arg_names(ManifestSet& set, const LoadedRollout& lr, const std::string& path,
                     const RolloutAnalysis& analysis,
                     const std::vector<const LoadedAnalysisTemplate*>& templates) {
  std::vector<std::string> declared;
  std::string checked;
  for (const auto* t : templates) {
    for (const auto& arg : t->templ.spec.args) declared.push_back(arg.name);
    checked += fmt::format("{}\"{}\" ({}:{})", checked.empty() ? "" : ", ",
                           t->templ.metadata.name, t->origin.file, t->origin.pos.line);
  }
  for (size_t i = 0; i < analysis.args.size(); ++i) {
    const std::string& name = analysis.args[i].name;
    if (std::find(declared.begin(), declared.end(), name) != declared.end()) continue;
    const std::string arg_path = fmt::format("{}.args[{}].name", path, i);
    std::string message =
        fmt::format("argument \"{}\" is declared by no referenced AnalysisTemplate (checked {})",
                    name, checked);
    if (const std::string best = closest_name(name, declared); !best.empty()) {
      message += fmt::format("; did you mean \"{}\"?", best);
    }
    set.diagnostics.push_back(
        {lr.origin.find(arg_path), "Rollout", lr.rollout.metadata.name, arg_path, message});
  }
}

void check_refs(ManifestSet& set, const LoadedRollout& lr, const std::string& path,
                const RolloutAnalysis& analysis) {
  std::vector<const LoadedAnalysisTemplate*> found;
  bool all_found = true;
  for (size_t i = 0; i < analysis.templates.size(); ++i) {
    const std::string ref_path = fmt::format("{}.templates[{}].templateName", path, i);
    const std::string& name = analysis.templates[i].template_name;
    const LoadedAnalysisTemplate* t = set.find_template(name);
    if (t == nullptr) {
      std::string known;
      for (const auto& tt : set.templates)
        known += (known.empty() ? "" : ", ") + tt.templ.metadata.name;
      set.diagnostics.push_back({lr.origin.find(ref_path), "Rollout", lr.rollout.metadata.name,
                                 ref_path,
                                 fmt::format("no AnalysisTemplate named \"{}\" (known: {})", name,
                                             known.empty() ? "none" : known)});
      all_found = false;
      continue;
    }
    found.push_back(t);
    for (const auto& arg : t->templ.spec.args) {
      if (arg.value) continue;
      const bool given = std::any_of(analysis.args.begin(), analysis.args.end(),
                                     [&](const AnalysisArg& a) { return a.name == arg.name; });
      if (!given) {
        set.diagnostics.push_back(
            {lr.origin.find(path), "Rollout", lr.rollout.metadata.name, path + ".args",
             fmt::format("AnalysisTemplate \"{}\" needs argument \"{}\"", name, arg.name)});
      }
    }
  }
  if (all_found) check_arg_names(set, lr, path, analysis, found);
}

}  // namespace

void validate_set(ManifestSet& set) {
  // Unique names per kind.
  auto check_unique = [&](auto& items, const char* kind, auto name_of) {
    std::map<std::string, const DocumentOrigin*> first;
    for (auto& item : items) {
      const std::string& name = name_of(item);
      auto [it, inserted] = first.emplace(name, &item.origin);
      if (!inserted) {
        const SourcePos& p = it->second->find("metadata.name");
        set.diagnostics.push_back({item.origin.find("metadata.name"), kind, name, "metadata.name",
                                   fmt::format("duplicate {} name; first defined at {}:{}:{}", kind,
                                               p.file, p.line, p.column)});
      }
    }
  };
  check_unique(set.rollouts, "Rollout", [](const LoadedRollout& r) -> const std::string& {
    return r.rollout.metadata.name;
  });
  check_unique(
      set.templates, "AnalysisTemplate",
      [](const LoadedAnalysisTemplate& t) -> const std::string& { return t.templ.metadata.name; });

  std::map<std::string, std::string> listeners;  // address -> rollout
  for (const auto& lr : set.rollouts) {
    const RolloutSpec& spec = lr.rollout.spec;
    std::vector<std::pair<std::string, std::string>> addresses;
    if (spec.service) addresses.emplace_back("spec.service.listen", spec.service->listen);
    if (const auto* canary = std::get_if<CanaryStrategy>(&spec.strategy)) {
      for (size_t i = 0; i < canary->steps.size(); ++i) {
        if (const auto* a = std::get_if<RolloutAnalysis>(&canary->steps[i])) {
          check_refs(set, lr, lr.origin.canary_step_path(i) + ".analysis", *a);
        }
      }
      if (canary->analysis) check_refs(set, lr, "spec.strategy.canary.analysis", *canary->analysis);
    } else if (const auto* bg = std::get_if<BlueGreenStrategy>(&spec.strategy)) {
      if (bg->pre_promotion_analysis) {
        check_refs(set, lr, "spec.strategy.blueGreen.prePromotionAnalysis",
                   *bg->pre_promotion_analysis);
      }
      if (bg->post_promotion_analysis) {
        check_refs(set, lr, "spec.strategy.blueGreen.postPromotionAnalysis",
                   *bg->post_promotion_analysis);
      }
      if (bg->preview)
        addresses.emplace_back("spec.strategy.blueGreen.preview.listen", bg->preview->listen);
    }
    for (const auto& [path, address] : addresses) {
      auto [it, inserted] = listeners.emplace(address, lr.rollout.metadata.name);
      if (!inserted && it->second != lr.rollout.metadata.name) {
        set.diagnostics.push_back(
            {lr.origin.find(path), "Rollout", lr.rollout.metadata.name, path,
             fmt::format("address {} is already used by Rollout/{}", address, it->second)});
      }
    }
  }
}

}  // namespace sluice::manifests
