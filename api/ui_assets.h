// The dashboard's static files (api/ui/*), embedded into the binary at build time by a CMake
// custom command (api/embed_ui.cmake generates ui_assets_data.cc), so `sluice` is self-contained.
#pragma once

#include <string_view>

namespace sluice::api {

struct UiAsset {
  std::string_view name;  // file name relative to api/ui/, e.g. "app.js"
  std::string_view body;
};

// The asset named `name` (no leading slash), or nullptr. Lookup is by exact name, so no request
// path can reach a file that was not embedded.
const UiAsset* find_ui_asset(std::string_view name);
std::string_view ui_content_type(std::string_view name);

}  // namespace sluice::api
