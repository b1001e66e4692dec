#include "healthcheck/analysis/json_path.h"

#include <cctype>

namespace sluice::analysis {

Result<const nlohmann::json*> json_path_select(const nlohmann::json& root,
                                               const std::string& path) {
  if (path.empty() || path[0] != '$') return invalid_argument("jsonPath must start with '$'");
  const nlohmann::json* node = &root;
  size_t i = 1;
  while (i < path.size()) {
    std::string key;
    bool is_index = false;
    size_t index = 0;
    const size_t step_start = i;
    if (path[i] == '.') {
      ++i;
      const size_t b = i;
      while (i < path.size() && path[i] != '.' && path[i] != '[') ++i;
      key = path.substr(b, i - b);
      if (key.empty())
        return invalid_argument("jsonPath: empty name at offset " + std::to_string(b));
    } else if (path[i] == '[') {
      ++i;
      if (i < path.size() && (path[i] == '\'' || path[i] == '"')) {
        const char quote = path[i++];
        const size_t close = path.find(quote, i);
        if (close == std::string::npos || close + 1 >= path.size() || path[close + 1] != ']') {
          return invalid_argument("jsonPath: unterminated ['name'] at offset " +
                                  std::to_string(step_start));
        }
        key = path.substr(i, close - i);
        i = close + 2;
      } else {
        const size_t b = i;
        while (i < path.size() && std::isdigit(static_cast<unsigned char>(path[i]))) ++i;
        if (i == b || i >= path.size() || path[i] != ']' || i - b > 9) {
          return invalid_argument("jsonPath: expected [index] at offset " +
                                  std::to_string(step_start));
        }
        index = std::stoul(path.substr(b, i - b));
        is_index = true;
        ++i;
      }
    } else {
      return invalid_argument("jsonPath: unexpected '" + std::string(1, path[i]) + "' at offset " +
                              std::to_string(i));
    }
    const std::string step = path.substr(0, i);
    if (is_index) {
      if (!node->is_array() || index >= node->size()) {
        return not_found("jsonPath " + step + ": no such element");
      }
      node = &(*node)[index];
    } else {
      if (!node->is_object() || !node->contains(key)) {
        return not_found("jsonPath " + step + ": no such field");
      }
      node = &(*node)[key];
    }
  }
  return node;
}

}  // namespace sluice::analysis
