#include "manifests/loader.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "manifests/decode.h"
#include "manifests/parse_guard.h"

namespace sluice::manifests {

namespace fs = std::filesystem;

namespace {

Diagnostic file_error(const std::string& file, int line, int column, std::string message) {
  Diagnostic d;
  d.pos = SourcePos{file, line, column};
  d.message = std::move(message);
  return d;
}

// Returns the byte offset of the first invalid UTF-8 sequence, or npos.
size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = p[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      // YAML allows only printable characters: no C0 controls except tab, LF, CR; no DEL.
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) return i;
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else
      return i;
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;  // overlong, out of range or surrogate
    }
    i += len;
  }
  return std::string::npos;
}

void line_col_of(const std::string& s, size_t offset, int& line, int& col) {
  line = 1 + static_cast<int>(std::count(s.begin(), s.begin() + static_cast<long>(offset), '\n'));
  const size_t nl = s.rfind('\n', offset == 0 ? 0 : offset - 1);
  col = static_cast<int>(offset - (nl == std::string::npos || offset == 0 ? 0 : nl + 1)) + 1;
  if (offset > 0 && s[offset - 1] == '\n') col = 1;
}

// yaml-cpp parses recursively, so nesting must be bounded before it sees the text. This scan
// over-estimates depth: flow brackets outside quotes, plus block indentation and "- " runs.
bool prescan_depth(const std::string& text, int max_depth, int& bad_line, int& bad_col) {
  int flow = 0;
  int line = 1;
  size_t line_start = 0;
  char quote = 0;
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      comment = false;
      if (quote == '\'' || quote == '"') {
        // quoted scalars may span lines; keep the quote open
      }
      // Block depth estimate for the new line.
      size_t j = line_start;
      int indent = 0;
      while (j < text.size() && text[j] == ' ') {
        ++indent;
        ++j;
      }
      int dashes = 0;
      while (j + 1 < text.size() && text[j] == '-' && text[j + 1] == ' ') {
        ++dashes;
        j += 2;
        while (j < text.size() && text[j] == ' ') ++j;
      }
      if (indent / 2 + dashes > max_depth * 2 || dashes > max_depth) {
        bad_line = line;
        bad_col = 1;
        return false;
      }
      continue;
    }
    if (comment) continue;
    if (quote != 0) {
      if (quote == '"' && c == '\\') {
        ++i;
        continue;
      }
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '#' && (i == line_start || text[i - 1] == ' ')) {
      comment = true;
      continue;
    }
    if ((c == '"' || c == '\'') &&
        (i == line_start || std::string(" [{,:-").find(text[i - 1]) != std::string::npos)) {
      quote = c;
      continue;
    }
    if (c == '[' || c == '{') {
      if (++flow > max_depth) {
        bad_line = line;
        bad_col = static_cast<int>(i - line_start) + 1;
        return false;
      }
    } else if ((c == ']' || c == '}') && flow > 0) {
      --flow;
    }
  }
  // The first line's "- - - -" run.
  size_t j = 0;
  int dashes = 0;
  while (j + 1 < text.size() && text[j] == '-' && text[j + 1] == ' ') {
    ++dashes;
    j += 2;
  }
  if (dashes > max_depth) {
    bad_line = 1;
    bad_col = 1;
    return false;
  }
  return true;
}

// yaml-cpp 0.7 never returns (it allocates forever) on some documents whose top level is not a
// block mapping: a leading flow entry (", ", "!,"), or a quoted scalar or flow collection at the
// root followed by ',' ("'',", "[a] ,", "{a: 1},"; found by manifests_loader_fuzz). A manifest is
// always a block mapping, so each document's first token is checked before yaml-cpp sees it:
// it must be a plain key, or a quoted key followed by ':' on the same line. Returns the problem,
// or "" when every document starts well.
std::string check_document_roots(const std::string& text, int& bad_line, int& bad_col) {
  bool at_document_start = true;
  int line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    ++line_no;
    const std::string trimmed = line.substr(0, line.find_last_not_of(" \t\r") + 1);
    if (trimmed.rfind("---", 0) == 0 || trimmed.rfind("...", 0) == 0) {
      at_document_start = true;
    } else if (at_document_start) {
      size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
        if (i >= line.size() || line[i] == '#' || line[i] == '%') break;  // keep looking
        if (line[i] == '!' || line[i] == '&') {  // tag or anchor before the content
          while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != ',') ++i;
          continue;
        }
        bad_line = line_no;
        bad_col = static_cast<int>(i) + 1;
        const char c = line[i];
        if (c == ',') return "YAML syntax error: a document may not start with ','";
        if (c == '[' || c == '{') {
          return "a manifest document must be a block mapping (key: value lines); flow style "
                 "at the top level is not supported";
        }
        if (c == '\'' || c == '"') {
          size_t j = i + 1;
          while (j < line.size()) {
            if (c == '"' && line[j] == '\\') {
              j += 2;
              continue;
            }
            if (line[j] == c) {
              if (c == '\'' && j + 1 < line.size() && line[j + 1] == '\'') {
                j += 2;
                continue;
              }
              break;
            }
            ++j;
          }
          size_t k = j + 1;
          while (k < line.size() && (line[k] == ' ' || line[k] == '\t')) ++k;
          if (j >= line.size() || k >= line.size() || line[k] != ':') {
            return "a manifest document must be a mapping; a quoted value may not stand at its "
                   "top level";
          }
        }
        at_document_start = false;
        break;
      }
    }
    start = end + 1;
  }
  return "";
}

// Counts nodes with aliases expanded (a "billion laughs" document is small as text but huge
// when walked) and measures depth. Stops as soon as a bound is crossed.
struct WalkBudget {
  size_t nodes = 0;
  size_t max_nodes;
  int max_depth;
  bool exceeded_nodes = false;
  bool exceeded_depth = false;
};

void walk(const YAML::Node& node, int depth, WalkBudget& b) {
  if (b.exceeded_nodes || b.exceeded_depth) return;
  if (++b.nodes > b.max_nodes) {
    b.exceeded_nodes = true;
    return;
  }
  if (depth > b.max_depth) {
    b.exceeded_depth = true;
    return;
  }
  if (node.IsMap()) {
    for (const auto& kv : node) {
      walk(kv.first, depth + 1, b);
      walk(kv.second, depth + 1, b);
      if (b.exceeded_nodes || b.exceeded_depth) return;
    }
  } else if (node.IsSequence()) {
    for (const auto& item : node) {
      walk(item, depth + 1, b);
      if (b.exceeded_nodes || b.exceeded_depth) return;
    }
  }
}

std::string scalar_or_empty(const YAML::Node& map, const char* key) {
  if (!map.IsMap()) return "";
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key && kv.second.IsScalar()) {
      return kv.second.Scalar();
    }
  }
  return "";
}

YAML::Node child(const YAML::Node& map, const char* key) {
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node();
}

void load_document(const std::string& file, int index, const YAML::Node& doc,
                   const LoadLimits& limits, ManifestSet& set) {
  DocContext ctx;
  ctx.file = file;
  ctx.limits = &limits;
  ctx.diagnostics = &set.diagnostics;
  DocumentOrigin origin;
  origin.file = file;
  origin.document_index = index;
  origin.pos = ctx.pos_of(doc);
  ctx.origin = &origin;

  if (!doc.IsMap()) {
    ctx.error(doc, "", "a document must be a mapping with apiVersion, kind, metadata and spec");
    return;
  }
  WalkBudget budget{0, limits.max_nodes, limits.max_depth};
  walk(doc, 0, budget);
  if (budget.exceeded_nodes) {
    ctx.error(doc, "",
              fmt::format("document expands to more than {} nodes (aliases are expanded); "
                          "refusing it",
                          limits.max_nodes));
    return;
  }
  if (budget.exceeded_depth) {
    ctx.error(doc, "", fmt::format("document nests deeper than {} levels", limits.max_depth));
    return;
  }

  const std::string kind = scalar_or_empty(doc, "kind");
  const std::string api_version = scalar_or_empty(doc, "apiVersion");
  const YAML::Node metadata = child(doc, "metadata");
  ctx.name = metadata.IsDefined() ? scalar_or_empty(metadata, "name") : "";
  ctx.kind = kind;

  if (api_version != kApiVersion) {
    const YAML::Node n = child(doc, "apiVersion");
    ctx.error(n.IsDefined() ? ctx.pos_of(n) : origin.pos, "apiVersion",
              api_version.empty()
                  ? fmt::format("missing; must be {}", kApiVersion)
                  : fmt::format("must be {} (got \"{}\")", kApiVersion, api_version));
  }
  if (kind == "Rollout") {
    LoadedRollout lr;
    {
      ObjectReader r(ctx, doc, "", nullptr);
      decode_rollout(r, lr.rollout);
    }
    validate_rollout(ctx, lr.rollout);
    lr.origin = std::move(origin);
    set.rollouts.push_back(std::move(lr));
  } else if (kind == "AnalysisTemplate") {
    LoadedAnalysisTemplate lt;
    {
      ObjectReader r(ctx, doc, "", nullptr);
      decode_analysis_template(r, lt.templ);
    }
    validate_analysis_template(ctx, lt.templ);
    lt.origin = std::move(origin);
    set.templates.push_back(std::move(lt));
  } else {
    const YAML::Node n = child(doc, "kind");
    std::string message =
        kind.empty()
            ? "missing; must be Rollout or AnalysisTemplate"
            : fmt::format("unknown kind \"{}\"; must be Rollout or AnalysisTemplate", kind);
    if (const std::string known = closest_name(kind, {"Rollout", "AnalysisTemplate"});
        !kind.empty() && !known.empty()) {
      message += fmt::format("; did you mean \"{}\"?", known);
    }
    ctx.kind = "";
    ctx.error(n.IsDefined() ? ctx.pos_of(n) : origin.pos, "kind", message);
  }
}

// The checks that must pass before yaml-cpp may see the text. False: a diagnostic was added.
bool precheck(const SourceFile& f, const LoadLimits& limits, ManifestSet& set) {
  if (f.content.size() > limits.max_file_bytes) {
    set.diagnostics.push_back(file_error(f.path, 0, 0,
                                         fmt::format("file is {} bytes; the limit is {} bytes",
                                                     f.content.size(), limits.max_file_bytes)));
    return false;
  }
  if (const size_t bad = invalid_utf8_at(f.content); bad != std::string::npos) {
    int line, col;
    line_col_of(f.content, bad, line, col);
    set.diagnostics.push_back(file_error(
        f.path, line, col,
        fmt::format("file is not valid UTF-8 text (byte 0x{:02x} at offset {}; YAML allows only "
                    "printable characters)",
                    static_cast<unsigned>(static_cast<unsigned char>(f.content[bad])), bad)));
    return false;
  }
  int bad_line = 0, bad_col = 0;
  if (!prescan_depth(f.content, limits.max_depth, bad_line, bad_col)) {
    set.diagnostics.push_back(file_error(
        f.path, bad_line, bad_col,
        fmt::format("nesting is deeper than {} levels; refusing the file", limits.max_depth)));
    return false;
  }
  if (const std::string problem = check_document_roots(f.content, bad_line, bad_col);
      !problem.empty()) {
    set.diagnostics.push_back(file_error(f.path, bad_line, bad_col, problem));
    return false;
  }
  return true;
}

// Parses a text that passed precheck() and that the parse guard's child finished.
void parse_checked(const SourceFile& f, const LoadLimits& limits, ManifestSet& set) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(f.content);
  } catch (const YAML::Exception& e) {
    const int line = e.mark.line >= 0 ? e.mark.line + 1 : 0;
    const int col = e.mark.column >= 0 ? e.mark.column + 1 : 0;
    std::string message = "YAML syntax error: " + e.msg;
    // yaml-cpp reports tab indentation as a generic error; name the real cause.
    std::istringstream lines(f.content);
    std::string text;
    for (int i = 1; std::getline(lines, text); ++i) {
      if (i < line - 1 || i > line) continue;
      const size_t lead = text.find_first_not_of(" \t");
      if (text.substr(0, lead == std::string::npos ? text.size() : lead).find('\t') !=
          std::string::npos) {
        message = "YAML syntax error: tab character in indentation (YAML allows only spaces)";
        set.diagnostics.push_back(file_error(f.path, i, 1, message));
        return;
      }
    }
    set.diagnostics.push_back(file_error(f.path, line, col, message));
    return;
  } catch (const std::exception& e) {
    set.diagnostics.push_back(file_error(f.path, 0, 0, std::string("cannot parse: ") + e.what()));
    return;
  }
  if (docs.size() > limits.max_documents) {
    set.diagnostics.push_back(file_error(
        f.path, 0, 0,
        fmt::format("file has {} documents; the limit is {}", docs.size(), limits.max_documents)));
    return;
  }
  int index = 0;
  int loaded = 0;
  for (const auto& doc : docs) {
    ++index;
    if (doc.IsNull()) continue;  // "---" separators with nothing between them
    ++loaded;
    try {
      load_document(f.path, index - 1, doc, limits, set);
    } catch (const std::exception& e) {
      // yaml-cpp conversion errors should not escape; report instead of crashing.
      set.diagnostics.push_back(file_error(f.path, 0, 0, std::string("cannot load: ") + e.what()));
    }
  }
  if (loaded == 0) {
    set.diagnostics.push_back(
        file_error(f.path, 1, 1, "file contains no YAML documents (it is empty)"));
  }
}

void finish(ManifestSet& set) {
  std::stable_sort(set.rollouts.begin(), set.rollouts.end(),
                   [](const LoadedRollout& a, const LoadedRollout& b) {
                     return a.rollout.metadata.name < b.rollout.metadata.name;
                   });
  std::stable_sort(set.templates.begin(), set.templates.end(),
                   [](const LoadedAnalysisTemplate& a, const LoadedAnalysisTemplate& b) {
                     return a.templ.metadata.name < b.templ.metadata.name;
                   });
  validate_set(set);
  std::sort(set.diagnostics.begin(), set.diagnostics.end());
  set.diagnostics.erase(std::unique(set.diagnostics.begin(), set.diagnostics.end(),
                                    [](const Diagnostic& a, const Diagnostic& b) {
                                      return a.to_string() == b.to_string();
                                    }),
                        set.diagnostics.end());
}

bool is_manifest_name(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// Reads `path` into out, refusing files over the limit without reading them.
bool read_limited(const std::string& path, const std::string& display, const LoadLimits& limits,
                  ManifestSet& set, std::vector<SourceFile>& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    set.diagnostics.push_back(file_error(display, 0, 0, "cannot read file"));
    return false;
  }
  if (static_cast<size_t>(st.st_size) > limits.max_file_bytes) {
    set.diagnostics.push_back(file_error(
        display, 0, 0,
        fmt::format("file is {} bytes; the limit is {} bytes", st.st_size, limits.max_file_bytes)));
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    set.diagnostics.push_back(file_error(display, 0, 0, "cannot open file"));
    return false;
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  out.push_back({display, buf.str()});
  return true;
}

void collect(const std::string& root, const LoadLimits& limits, ManifestSet& set,
             std::vector<SourceFile>& files) {
  std::error_code ec;
  const fs::path root_path(root);
  if (!fs::exists(root_path, ec)) {
    set.diagnostics.push_back(file_error(root, 0, 0, "no such file or directory"));
    return;
  }
  if (!fs::is_directory(root_path, ec)) {
    read_limited(root, root, limits, set, files);
    return;
  }
  const fs::path canonical_root = fs::canonical(root_path, ec);
  std::vector<fs::path> paths;
  fs::recursive_directory_iterator it(root_path, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.filename().string().rfind('.', 0) == 0) {  // .git and other hidden entries
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_symlink(ec) && it->is_directory(ec)) it.disable_recursion_pending();
    if (is_manifest_name(p)) paths.push_back(p);
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    const std::string display = p.string();
    const fs::path real = fs::weakly_canonical(p, ec);
    const std::string real_s = real.string();
    const std::string root_s = canonical_root.string();
    if (ec || real_s.compare(0, root_s.size(), root_s) != 0 ||
        (real_s.size() > root_s.size() && real_s[root_s.size()] != '/')) {
      set.diagnostics.push_back(
          file_error(display, 1, 1, "symlink points outside the manifests root; refusing it"));
      continue;
    }
    if (!fs::is_regular_file(real, ec)) continue;
    read_limited(real_s, display, limits, set, files);
  }
}


// Loads files[i] into out(i). Texts that pass the prechecks are parsed by the guard's child
// first (one child for the batch, running ahead of the in-process parse).
template <typename Out>
void load_batch(const std::vector<SourceFile>& files, const LoadLimits& limits, Out out) {
  std::vector<size_t> checked;
  std::vector<std::string_view> texts;
  for (size_t i = 0; i < files.size(); ++i) {
    if (precheck(files[i], limits, out(i))) {
      checked.push_back(i);
      texts.emplace_back(files[i].content);
    }
  }
  if (checked.empty()) return;
  YamlParseGuard guard(std::move(texts), limits.parse_timeout);
  for (size_t k = 0; k < checked.size(); ++k) {
    const SourceFile& f = files[checked[k]];
    ManifestSet& set = out(checked[k]);
    const GuardVerdict verdict = guard.wait_for(k);
    if (verdict == GuardVerdict::kParsed) {
      parse_checked(f, limits, set);
      continue;
    }
    const std::string why =
        verdict == GuardVerdict::kTimedOut
            ? fmt::format("did not finish within {} ms", limits.parse_timeout.count())
            : std::string(to_string(verdict));
    ++set.unguarded_files;
    set.diagnostics.push_back(file_error(
        f.path, 0, 0,
        fmt::format("YAML parser {} on this file; refusing it (the YAML parser, yaml-cpp 0.7, "
                    "never returns on some malformed YAML: check the file's syntax)",
                    why)));
  }
}

}  // namespace

ManifestSet load_files(const std::vector<SourceFile>& files, const LoadLimits& limits) {
  ManifestSet set;
  load_batch(files, limits, [&](size_t) -> ManifestSet& { return set; });
  finish(set);
  return set;
}

ManifestSet load_file(const SourceFile& file, const LoadLimits& limits) {
  return std::move(load_each({file}, limits).front());
}

std::vector<ManifestSet> load_each(const std::vector<SourceFile>& files, const LoadLimits& limits) {
  std::vector<ManifestSet> sets(files.size());
  load_batch(files, limits, [&](size_t i) -> ManifestSet& { return sets[i]; });
  return sets;
}

void finish_set(ManifestSet& set) { finish(set); }

ManifestSet load_paths(const std::vector<std::string>& paths, const LoadLimits& limits) {
  ManifestSet set;
  std::vector<SourceFile> files;
  for (const auto& p : paths) collect(p, limits, set, files);
  load_batch(files, limits, [&](size_t) -> ManifestSet& { return set; });
  finish(set);
  return set;
}

ManifestSet load_tree(const std::string& root, const LoadLimits& limits) {
  return load_paths({root}, limits);
}

}  // namespace sluice::manifests
