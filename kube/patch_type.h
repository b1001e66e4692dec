// The kinds of PATCH the API server takes. Shared by RestClient (the wire) and Cluster (the
// HTTP-free interface), so that callers of Cluster never include the transport.
#pragma once

namespace sluice::kube {

enum class PatchType {
  kMerge,           // application/merge-patch+json
  kStrategicMerge,  // application/strategic-merge-patch+json
  kJson,            // application/json-patch+json
  kApply,           // application/apply-patch+yaml (server-side apply; add ?fieldManager=...)
};

}  // namespace sluice::kube
