#include "manifests/expand.h"

#include <algorithm>

namespace sluice::manifests {

Expansion expand(std::string_view text, const std::map<std::string, std::string>& vars,
                 size_t max_bytes) {
  Expansion e;
  std::string& out = e.value;
  out.reserve(std::min(text.size(), max_bytes));
  // Appends at most what fits; false once the bound is hit (the rest is not read).
  auto append = [&](std::string_view piece) {
    if (piece.size() > max_bytes - out.size()) {
      out.append(piece.substr(0, max_bytes - out.size()));
      e.too_large = true;
      return false;
    }
    out.append(piece);
    return true;
  };
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    size_t used = 1;
    std::string_view piece = text.substr(i, 1);
    if (c == '$' && i + 1 < text.size()) {
      const char next = text[i + 1];
      if (next == '$') {
        used = 2;  // "$$" is one literal '$'
      } else if (next == '(') {
        const size_t close = text.find(')', i + 2);
        if (close != std::string_view::npos) {
          used = close - i + 1;
          const std::string name(text.substr(i + 2, close - i - 2));
          if (auto it = vars.find(name); it != vars.end()) {
            piece = it->second;
          } else {
            piece = text.substr(i, used);
            e.unresolved = true;
          }
        }
      }
    }
    if (!append(piece)) return e;
    i += used;
  }
  return e;
}

}  // namespace sluice::manifests
