#include "runtime/runtime.h"

namespace sluice::runtime {

const char* role_name(InstanceRole role) {
  switch (role) {
    case InstanceRole::kStable:
      return "stable";
    case InstanceRole::kCanary:
      return "canary";
    case InstanceRole::kPreview:
      return "preview";
  }
  return "unknown";
}

const char* hook_name(HookKind kind) {
  switch (kind) {
    case HookKind::kActivate:
      return "activate";
    case HookKind::kDeactivate:
      return "deactivate";
    case HookKind::kPreStop:
      return "preStop";
  }
  return "unknown";
}

}  // namespace sluice::runtime
