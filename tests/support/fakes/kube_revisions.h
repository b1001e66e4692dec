// The revisions of a "web" Rollout on Kubernetes, shared by the KubernetesRuntime tests (unit,
// against FakeCluster, and integration, against the real control plane). Header only.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/runtime.h"

namespace sluice::fakes {

// A `template.kubernetes`: one container "web" with the image and a named port http:8080.
inline nlohmann::json web_pod_template(const std::string& image) {
  return {{"metadata", {{"labels", {{"app", "web"}}}}},
          {"spec",
           {{"containers",
             {{{"name", "web"},
               {"image", image},
               {"ports", {{{"name", "http"}, {"containerPort", 8080}}}}}}}}}};
}

// Revision `number` of "web": commit "c<number>", version "<number>.0".
inline runtime::RevisionSpec web_revision(int64_t number) {
  runtime::RevisionSpec spec;
  spec.rollout = "web";
  spec.revision = number;
  spec.commit = "c" + std::to_string(number);
  spec.pod.version = std::to_string(number) + ".0";
  return spec;
}

}  // namespace sluice::fakes
