#include "api/ui_assets.h"

#include <cstddef>

namespace sluice::api {

// Defined in the generated ui_assets_data.cc.
extern const UiAsset kUiAssets[];
extern const size_t kUiAssetCount;

const UiAsset* find_ui_asset(std::string_view name) {
  for (size_t i = 0; i < kUiAssetCount; ++i) {
    if (kUiAssets[i].name == name) return &kUiAssets[i];
  }
  return nullptr;
}

std::string_view ui_content_type(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".json")) return "application/json";
  if (ends(".png")) return "image/png";
  return "application/octet-stream";
}

}  // namespace sluice::api
