#include "kube/resource_path.h"

namespace sluice::kube::internal {

std::string percent_encode(const std::string& value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

std::string string_member(const nlohmann::json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string collection_path(ResourceKind kind, const std::string& namespace_name) {
  const std::string ns = "/namespaces/" + percent_encode(namespace_name);
  switch (kind) {
    case ResourceKind::kReplicaSet:
      return "/apis/apps/v1" + ns + "/replicasets";
    case ResourceKind::kPod:
      return "/api/v1" + ns + "/pods";
    case ResourceKind::kService:
      return "/api/v1" + ns + "/services";
  }
  return "/api/v1" + ns;
}

std::string object_path(const ObjectRef& ref) {
  return collection_path(ref.kind, ref.namespace_name) + "/" + percent_encode(ref.name);
}

std::string query(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    out += out.empty() ? '?' : '&';
    out += key + "=" + percent_encode(value);
  }
  return out;
}

}  // namespace sluice::kube::internal
