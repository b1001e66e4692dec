// Loading manifests: YAML text -> typed model + positions + diagnostics.
//
// Contract: loading never throws and never crashes on any input. Every problem becomes a
// Diagnostic with file:line:col, the object's Kind/name and the field path. Resource use is
// bounded by LoadLimits (file size, nesting depth, node count after alias expansion, and parse
// time: yaml-cpp runs first in a child process that is killed after parse_timeout).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "manifests/types.h"

namespace sluice::manifests {

struct LoadLimits {
  size_t max_file_bytes = 4 * 1024 * 1024;
  int max_depth = 64;            // nesting of maps/sequences
  size_t max_nodes = 200'000;    // per file, counted after alias expansion
  size_t max_documents = 1'000;  // per file
  // yaml-cpp first parses every file in a child process (manifests/parse_guard.h); a file it
  // does not finish within this time is refused.
  std::chrono::milliseconds parse_timeout{3'000};
  // spec.replicas above this is refused. Every replica of the embedded default is a process (and
  // its ports) on this one machine, and a rollout briefly runs more (maxSurge; blue-green runs
  // two sets), so 100,000 is a typo, not a plan. `serve --max-replicas` / `runtime.maxReplicas`.
  int max_replicas = 256;
  // Non-empty: why this server cannot push to its repository (gitops::read_only_reason); a
  // Rollout with spec.gitWriteBack.onAbort: revert is then an error at that field.
  std::string git_write_back_refused;
};

struct SourceFile {
  std::string path;     // as shown in diagnostics (relative to the root when loaded from a tree)
  std::string content;  // raw bytes
};

// Parses, defaults and validates every document of every file, then runs cross-document checks
// (unique names per kind, templateName references, required template args).
ManifestSet load_files(const std::vector<SourceFile>& files, const LoadLimits& limits = {});

// Reads every *.yaml / *.yml below root (or root itself when it is a file), in sorted order.
// Symlinks that resolve outside root and files over the size limit are refused with a diagnostic.
// Diagnostics name files relative to display_base when given, else as found.
// Incremental loading (the gitops per-blob parse cache). load_file parses and validates one file's
// documents without the cross-document checks; finish_set sorts, runs the cross-document checks
// and sorts the diagnostics. load_files(files) == finish_set(concatenation of load_file(f), in
// order of files).
ManifestSet load_file(const SourceFile& file, const LoadLimits& limits = {});
// load_file for each of files (result i is files[i]'s), sharing one parse-guard child.
std::vector<ManifestSet> load_each(const std::vector<SourceFile>& files,
                                   const LoadLimits& limits = {});
void finish_set(ManifestSet& set);

ManifestSet load_tree(const std::string& root, const LoadLimits& limits = {});
ManifestSet load_paths(const std::vector<std::string>& paths, const LoadLimits& limits = {});

}  // namespace sluice::manifests
