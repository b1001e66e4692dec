// spec.webhooks: decoding with defaults, and the errors a person gets (file, line, field, and
// "did you mean" for a misspelt type).
#include <catch2/catch.hpp>

#include <string>

#include "manifests/loader.h"

using namespace sluice::manifests;

namespace {

// A rolling or canary Rollout with `webhooks` (YAML under spec.webhooks, indented by 4) from
// line 12.
std::string rollout(const std::string& webhooks, const std::string& strategy = "canary") {
  return "apiVersion: sluice.dev/v1alpha1\n"              // 1
         "kind: Rollout\n"                                // 2
         "metadata: {name: orders-api}\n"                 // 3
         "spec:\n"                                        // 4
         "  replicas: 2\n"                                // 5
         "  template:\n"                                  // 6
         "    command: [\"./bin/orders-api\"]\n"          // 7
         "    ports: [{name: http, containerPort: 0}]\n"  // 8
         "  strategy:\n"                                  // 9
         "    " + strategy + ": {}\n"                     // 10
         "  webhooks:\n" +                                // 11
         webhooks;
}

const Diagnostic* find_field(const ManifestSet& set, const std::string& field) {
  for (const auto& d : set.diagnostics) {
    if (d.field == field) return &d;
  }
  return nullptr;
}

std::string texts(const ManifestSet& set) {
  std::string out;
  for (const auto& d : set.diagnostics) out += d.to_string() + "\n";
  return out;
}

}  // namespace

TEST_CASE("spec.webhooks decodes with Flagger's defaults", "[manifests][webhooks]") {
  const ManifestSet set = load_files({{"services/orders.yaml",
                                       rollout("    - name: load-test\n"
                                               "      type: rollout\n"
                                               "      url: http://127.0.0.1:8089/run\n"
                                               "      metadata: {url: \"http://127.0.0.1:1/\"}\n"
                                               "    - name: ticket\n"
                                               "      type: confirm-rollout\n"
                                               "      url: https://tickets.example/ok\n"
                                               "      timeout: 30s\n"
                                               "      interval: 2s\n")}});
  INFO(texts(set));
  REQUIRE(set.diagnostics.empty());
  REQUIRE(set.rollouts.size() == 1);
  const auto& hooks = set.rollouts[0].rollout.spec.webhooks;
  REQUIRE(hooks.size() == 2);
  CHECK(hooks[0].name == "load-test");
  CHECK(hooks[0].type == "rollout");
  CHECK(hooks[0].timeout == sluice::Duration(10'000));   // Flagger's default
  CHECK(hooks[0].interval == sluice::Duration(10'000));
  CHECK(hooks[0].failure_limit == 0);
  CHECK(hooks[0].metadata.at("url") == "http://127.0.0.1:1/");
  CHECK(hooks[1].timeout == sluice::Duration(30'000));
  CHECK(hooks[1].interval == sluice::Duration(2'000));
}

TEST_CASE("spec.webhooks errors name the file, line and field", "[manifests][webhooks][bad-input]") {
  struct Case {
    const char* name;
    std::string text;
    const char* field;
    const char* says;
    int line;
  };
  const std::vector<Case> cases = {
      {"a misspelt type", rollout("    - {name: a, type: pre-rolout, url: \"http://127.0.0.1:1/\"}\n"),
       "spec.webhooks[0].type", "did you mean \"pre-rollout\"?", 12},
      {"a duplicate name",
       rollout("    - {name: a, type: rollout, url: \"http://127.0.0.1:1/\"}\n"
               "    - {name: a, type: event, url: \"http://127.0.0.1:1/\"}\n"),
       "spec.webhooks[1].name", "duplicate webhook name \"a\"", 13},
      {"a URL Sluice cannot call", rollout("    - {name: a, type: rollout, url: \"ftp://x/\"}\n"),
       "spec.webhooks[0].url", "must be an http:// or https:// URL", 12},
      {"no URL", rollout("    - {name: a, type: rollout}\n"), "spec.webhooks[0]",
       "missing required field \"url\"", 12},
      {"an unbounded timeout",
       rollout("    - {name: a, type: rollout, url: \"http://127.0.0.1:1/\", timeout: 2h}\n"),
       "spec.webhooks[0].timeout", "", 12},
      {"confirm-promotion on a rolling update",
       rollout("    - {name: a, type: confirm-promotion, url: \"http://127.0.0.1:1/\"}\n",
               "rollingUpdate"),
       "spec.webhooks[0].type", "confirm-promotion needs a promotion", 12},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const ManifestSet set = load_files({{"services/orders.yaml", c.text}});
    INFO(texts(set));
    const Diagnostic* d = find_field(set, c.field);
    REQUIRE(d != nullptr);
    CHECK_THAT(d->message, Catch::Contains(c.says));
    CHECK(d->pos.file == "services/orders.yaml");
    CHECK(d->pos.line == c.line);
  }
}

TEST_CASE("a webhook URL's token never appears in a diagnostic", "[manifests][webhooks]") {
  const ManifestSet set = load_files(
      {{"services/orders.yaml",
        rollout("    - {name: a, type: rollout, url: \"htp://hooks.example/run?token=s3cret\"}\n")}});
  REQUIRE_FALSE(set.diagnostics.empty());
  CHECK(texts(set).find("s3cret") == std::string::npos);
}
