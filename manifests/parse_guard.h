// A guard around yaml-cpp: YAML text is parsed first in a forked child process.
//
// yaml-cpp 0.7 (Debian 12) never returns on some malformed inputs: its parser loops and allocates
// about 500 MB/s until the process dies (the fuzzer finds new shapes within seconds, so refusing
// them one by one cannot work). The loader therefore parses each text in a child first and only
// parses it in-process once the child finished it. A text the child did not finish within the
// timeout, or died on, is refused; the caller turns that into a diagnostic for the file.
//
// One child serves a whole batch. It parses the texts in order and reports each one it finished
// through a pipe, so the caller can parse text i in-process while the child already works on
// i+1. A child that hangs or dies is killed; the text gets one more child (see wait_for), and
// if that one fails too the text is refused and a new child continues after it.
//
// Thread-compatible: one thread uses a guard. The child only runs yaml-cpp and _exit().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string_view>
#include <vector>

namespace sluice::manifests {

enum class GuardVerdict {
  kParsed,       // the child finished parsing the text (successfully or with a syntax error)
  kTimedOut,     // the child did not finish it within the timeout
  kOutOfMemory,  // the child ran out of its memory limit (release builds only)
  kCrashed,      // the child died (a signal) while parsing it
  kNoChild,      // fork or pipe failed: the text was not checked, the caller must refuse it
};

const char* to_string(GuardVerdict v);

class YamlParseGuard {
 public:
  // `texts` must outlive the guard.
  YamlParseGuard(std::vector<std::string_view> texts, std::chrono::milliseconds timeout);
  ~YamlParseGuard();  // kills and reaps a child still running
  YamlParseGuard(const YamlParseGuard&) = delete;
  YamlParseGuard& operator=(const YamlParseGuard&) = delete;

  // Blocks until the child has finished texts[i] or was judged on it. Indices must be asked for
  // in increasing order. The timeout runs from the moment the caller starts waiting on i, which
  // is never earlier than the child started on it.
  GuardVerdict wait_for(size_t i);

 private:
  void start_child(size_t from);
  void stop_child();

  std::vector<std::string_view> texts_;
  std::chrono::milliseconds timeout_;
  pid_t child_ = -1;
  int read_fd_ = -1;
  size_t next_ = 0;  // texts before this index have a verdict (or were skipped)
  size_t retried_ = static_cast<size_t>(-1);  // the text that already had its second child
};

}  // namespace sluice::manifests
