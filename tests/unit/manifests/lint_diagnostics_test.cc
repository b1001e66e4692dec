// What `sluice lint` tells a person about three kinds of mistakes (issue 20, item 5): a step
// after an invalid one keeps its own index and line, misspelled keys get "did you mean" at every
// level, and an analysis arg no referenced template declares is an error.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "manifests/loader.h"
#include "manifests/yaml_reader.h"

using namespace sluice::manifests;

namespace {

// Declares min-success-rate with a default: a misspelt arg would silently leave the default.
const char* kTemplate = R"Y(apiVersion: sluice.dev/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: min-success-rate, value: "0.99"}, {name: window, value: "30s"}]
  metrics:
    - name: success-rate
      successCondition: "result >= {{args.min-success-rate}}"
      provider:
        builtin: {metric: request-success-rate}
)Y";

// A canary Rollout whose steps (and any extra template lines) are given; line 1 is apiVersion.
std::string rollout(const std::string& steps, const std::string& template_extra = "",
                    const std::string& canary_extra = "") {
  return "apiVersion: sluice.dev/v1alpha1\n"                // 1
         "kind: Rollout\n"                                  // 2
         "metadata: {name: orders-api}\n"                   // 3
         "spec:\n"                                          // 4
         "  replicas: 2\n"                                  // 5
         "  template:\n"                                    // 6
         "    command: [\"./bin/orders-api\"]\n"            // 7
         "    ports: [{name: http, containerPort: 0}]\n" +  // 8
         template_extra +
         "  strategy:\n"    // 9 (without template_extra)
         "    canary:\n" +  // 10
         canary_extra +
         "      steps:\n" + steps;  // 11, steps from 12
}

ManifestSet load(const std::string& rollout_text) {
  return load_files(
      {{"services/orders.yaml", rollout_text}, {"analysis/success-rate.yaml", kTemplate}});
}

std::vector<std::string> texts(const ManifestSet& set) {
  std::vector<std::string> out;
  for (const auto& d : set.diagnostics) out.push_back(d.to_string());
  return out;
}

const Diagnostic* find_field(const ManifestSet& set, const std::string& field) {
  for (const auto& d : set.diagnostics) {
    if (d.field == field) return &d;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a step after an invalid step is reported at its own index and line",
          "[lint][bad-input]") {
  // steps[0] sets two kinds at once; steps[2] names a template that does not exist.
  const std::string steps =
      "        - {setWeight: 20, pause: {}}\n"                   // 12: steps[0]
      "        - setWeight: 40\n"                                // 13: steps[1]
      "        - analysis:\n"                                    // 14: steps[2]
      "            templates: [{templateName: succes-rate}]\n";  // 15
  const ManifestSet set = load(rollout(steps));
  INFO(Catch::Detail::stringify(texts(set)));
  REQUIRE(set.diagnostics.size() == 2);
  const Diagnostic* first = find_field(set, "spec.strategy.canary.steps[0]");
  REQUIRE(first != nullptr);
  CHECK(first->pos.line == 12);
  const Diagnostic* typo =
      find_field(set, "spec.strategy.canary.steps[2].analysis.templates[0].templateName");
  REQUIRE(typo != nullptr);
  CHECK(typo->pos.file == "services/orders.yaml");
  CHECK(typo->pos.line == 15);
  CHECK_THAT(typo->message, Catch::Contains("no AnalysisTemplate named \"succes-rate\""));
}

TEST_CASE("a step after one that is not a mapping keeps its index", "[lint][bad-input]") {
  const std::string steps =
      "        - 5\n"                              // 13: steps[0], not a mapping
      "        - setHeaderRoute: {name: \"\"}\n";  // 14: steps[1], empty name
  const ManifestSet set = load(rollout(steps, "",
                                       "      trafficRouting: {haproxy: "
                                       "{runtimeApi: /run/h.sock, backend: b}}\n"));
  INFO(Catch::Detail::stringify(texts(set)));
  REQUIRE(set.diagnostics.size() == 2);
  const Diagnostic* name = find_field(set, "spec.strategy.canary.steps[1].setHeaderRoute.name");
  REQUIRE(name != nullptr);
  CHECK(name->pos.line == 14);
}

TEST_CASE("did you mean works for misspelt keys at every level", "[lint][bad-input]") {
  struct Case {
    const char* name;
    std::string text;
    const char* field;
    const char* suggestion;
  };
  const std::string step = "        - setWeight: 20\n";
  const std::vector<Case> cases = {
      {"spec level", rollout(step).replace(rollout(step).find("  replicas: 2"), 13, "  replica: 2"),
       "spec.replica", "replicas"},
      {"template level, an optional object left out",
       rollout(step, "    readinesProbe: {tcpSocket: {port: http}}\n"),
       "spec.template.readinesProbe", "readinessProbe"},
      {"strategy level, an optional object left out",
       rollout(step, "", "      trafficRoutng: {builtin: {}}\n"),
       "spec.strategy.canary.trafficRoutng", "trafficRouting"},
      {"a transposition counts once",
       rollout(step).replace(rollout(step).find("  replicas: 2"), 13, "  replcias: 2"),
       "spec.replcias", "replicas"},
      {"deep in a probe", rollout(step, "    livenessProbe: {tcpSocket: {prot: http}}\n"),
       "spec.template.livenessProbe.tcpSocket.prot", "port"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const ManifestSet set = load(c.text);
    INFO(Catch::Detail::stringify(texts(set)));
    const Diagnostic* d = find_field(set, c.field);
    REQUIRE(d != nullptr);
    CHECK_THAT(d->message, Catch::Contains(std::string("did you mean \"") + c.suggestion + "\"?"));
    CHECK(d->pos.line > 0);
  }
}

TEST_CASE("a key far from every known one gets no guess", "[lint][bad-input]") {
  const ManifestSet set = load(rollout("        - setWeight: 20\n", "    colour: blue\n"));
  const Diagnostic* d = find_field(set, "spec.template.colour");
  REQUIRE(d != nullptr);
  CHECK(d->message == "unknown field \"colour\"");
}

TEST_CASE("closest_name scales the allowed distance with the length", "[lint]") {
  CHECK(edit_distance("replcias", "replicas") == 1);
  CHECK(closest_name("trafficRoutng", {"trafficRouting", "steps"}) == "trafficRouting");
  CHECK(closest_name("prot", {"port"}) == "port");
  CHECK(closest_name("abcd", {"port"}).empty());
  CHECK(closest_name("min-succes-rate", {"window", "min-success-rate"}) == "min-success-rate");
  CHECK(closest_name("x", {"x"}).empty());
}

TEST_CASE("an analysis arg that no referenced template declares is an error", "[lint][bad-input]") {
  const std::string steps =
      "        - analysis:\n"                                    // 12: steps[0]
      "            templates: [{templateName: success-rate}]\n"  // 13
      "            args:\n"                                      // 14
      "              - name: min-succes-rate\n"                  // 15
      "                value: \"0.5\"\n";                        // 16
  const ManifestSet set = load(rollout(steps));
  INFO(Catch::Detail::stringify(texts(set)));
  REQUIRE(set.diagnostics.size() == 1);
  const Diagnostic& d = set.diagnostics.front();
  CHECK(d.field == "spec.strategy.canary.steps[0].analysis.args[0].name");
  CHECK(d.pos.file == "services/orders.yaml");
  CHECK(d.pos.line == 15);
  CHECK_THAT(d.message, Catch::Contains("\"min-succes-rate\""));
  CHECK_THAT(d.message, Catch::Contains("\"success-rate\" (analysis/success-rate.yaml:1)"));
  CHECK_THAT(d.message, Catch::Contains("did you mean \"min-success-rate\"?"));

  SECTION("the declared name passes") {
    std::string good = rollout(steps);
    good.replace(good.find("min-succes-rate"), 15, "min-success-rate");
    const ManifestSet ok = load(good);
    INFO(Catch::Detail::stringify(texts(ok)));
    CHECK(ok.ok());
  }
  SECTION("background analysis is checked too") {
    const std::string background =
        "      analysis:\n"
        "        templates: [{templateName: success-rate}]\n"
        "        args: [{name: windw, value: 1m}]\n";
    const ManifestSet bg = load(rollout("        - setWeight: 20\n", "", background));
    const Diagnostic* arg = find_field(bg, "spec.strategy.canary.analysis.args[0].name");
    REQUIRE(arg != nullptr);
    CHECK_THAT(arg->message, Catch::Contains("did you mean \"window\"?"));
  }
  SECTION("a missing template is reported alone, as before") {
    std::string missing = rollout(steps);
    missing.replace(missing.find("templateName: success-rate"), 26, "templateName: nope");
    const ManifestSet set_missing = load(missing);
    INFO(Catch::Detail::stringify(texts(set_missing)));
    REQUIRE(set_missing.diagnostics.size() == 1);
    CHECK_THAT(set_missing.diagnostics.front().message,
               Catch::Contains("no AnalysisTemplate named \"nope\""));
  }
}

TEST_CASE("kafka provider fields are reported with file:line:col and the field path",
          "[lint][bad-input][kafka]") {
  // A template whose kafka metric carries one mistake at a time; the provider sits on line 8.
  auto templ = [](const std::string& kafka) {
    return "apiVersion: sluice.dev/v1alpha1\n"  // 1
           "kind: AnalysisTemplate\n"           // 2
           "metadata: {name: consumer-lag}\n"   // 3
           "spec:\n"                            // 4
           "  metrics:\n"                       // 5
           "    - name: lag\n"                  // 6
           "      provider:\n"                  // 7
           "        kafka: " +
           kafka + "\n";  // 8
  };
  auto lint = [&](const std::string& kafka) {
    return load_files({{"analysis/consumer-lag.yaml", templ(kafka)}});
  };
  const ManifestSet good = lint(
      "{bootstrapServers: \"127.0.0.1:9092,kafka-2:9092\", consumerGroup: orders-stream, "
      "topic: orders, metric: lag-growth}");
  INFO(Catch::Detail::stringify(texts(good)));
  CHECK(good.ok());

  struct Case {
    std::string kafka;
    std::string expected;
  };
  const std::string where = "analysis/consumer-lag.yaml:8:";
  const std::string who = " AnalysisTemplate/consumer-lag: spec.metrics[0].provider.kafka.";
  const std::vector<Case> cases = {
      {"{bootstrapServers: \"127.0.0.1\", consumerGroup: g, topic: t}",
       where + "35:" + who +
           "bootstrapServers: must be a comma-separated list of host:port (got \"127.0.0.1\")"},
      {"{bootstrapServers: \"127.0.0.1:9092,\", consumerGroup: g, topic: t}",
       where + "35:" + who +
           "bootstrapServers: must be a comma-separated list of host:port (got "
           "\"127.0.0.1:9092,\")"},
      {"{bootstrapServers: \"127.0.0.1:9092\", consumerGroup: \"\", topic: t}",
       where + "68:" + who + "consumerGroup: must not be empty"},
      {"{bootstrapServers: \"127.0.0.1:9092\", consumerGroup: g, topic: \"\"}",
       where + "78:" + who + "topic: must not be empty"},
      {"{bootstrapServers: \"127.0.0.1:9092\", consumerGroup: g, topic: t, metric: lagg}",
       where + "89:" + who +
           "metric: must be one of lag, max-partition-lag, lag-growth (got lagg); did you "
           "mean \"lag\"?"},
      {"{bootstrapServers: \"127.0.0.1:9092\", topic: t}",
       where + "16:" + who.substr(0, who.size() - 1) +
           ": missing required field \"consumerGroup\""},
  };
  for (const auto& c : cases) {
    const ManifestSet set = lint(c.kafka);
    INFO(c.kafka << "\n" << Catch::Detail::stringify(texts(set)));
    REQUIRE(set.diagnostics.size() == 1);
    CHECK(set.diagnostics.front().to_string() == c.expected);
  }
}
