#include "healthcheck/analysis/prometheus_text.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace sluice::analysis {

namespace {

bool name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

void skip_blanks(std::string_view s, size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
}

std::optional<std::string> read_name(std::string_view s, size_t& i, bool allow_colon) {
  if (i >= s.size() || !name_start(s[i]) || (!allow_colon && s[i] == ':')) return std::nullopt;
  const size_t b = i;
  while (i < s.size() && name_char(s[i]) && (allow_colon || s[i] != ':')) ++i;
  return std::string(s.substr(b, i - b));
}

std::optional<double> parse_value(std::string_view token) {
  if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (token == "+Inf" || token == "Inf") return std::numeric_limits<double>::infinity();
  if (token == "-Inf") return -std::numeric_limits<double>::infinity();
  if (token.empty() || token.size() > 64) return std::nullopt;
  // strtod also accepts "inf", "nan(...)" and hex floats; the format does not.
  for (char c : token) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return std::nullopt;
    }
  }
  const std::string copy(token);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

std::optional<PromSample> parse_sample(std::string_view line) {
  PromSample sample;
  size_t i = 0;
  skip_blanks(line, i);
  auto name = read_name(line, i, true);
  if (!name) return std::nullopt;
  sample.name = std::move(*name);
  const size_t after_name = i;
  skip_blanks(line, i);
  if (i >= line.size() || line[i] != '{') i = after_name;  // no labels: keep the blank
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (true) {
      skip_blanks(line, i);
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      auto label = read_name(line, i, false);
      if (!label) return std::nullopt;
      skip_blanks(line, i);
      if (i >= line.size() || line[i] != '=') return std::nullopt;
      ++i;
      skip_blanks(line, i);
      if (i >= line.size() || line[i] != '"') return std::nullopt;
      ++i;
      std::string value;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size()) return std::nullopt;
          const char e = line[i++];
          if (e == 'n') {
            value += '\n';
          } else if (e == '\\' || e == '"') {
            value += e;
          } else {
            return std::nullopt;
          }
        } else {
          value += c;
        }
      }
      if (!closed) return std::nullopt;
      sample.labels.emplace_back(std::move(*label), std::move(value));
      skip_blanks(line, i);
      if (i < line.size() && line[i] == ',') {
        ++i;
        continue;
      }
      if (i < line.size() && line[i] == '}') {
        ++i;
        break;
      }
      return std::nullopt;
    }
  }
  // The value must be separated from the name/labels by at least one blank.
  if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) return std::nullopt;
  skip_blanks(line, i);
  size_t b = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  auto value = parse_value(line.substr(b, i - b));
  if (!value) return std::nullopt;
  sample.value = *value;
  skip_blanks(line, i);
  if (i < line.size()) {
    b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    const std::string ts(line.substr(b, i - b));
    if (ts.size() > 19) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long long t = std::strtoll(ts.c_str(), &end, 10);
    if (end != ts.c_str() + ts.size() || errno == ERANGE || ts.empty()) return std::nullopt;
    sample.timestamp_ms = t;
    skip_blanks(line, i);
    if (i < line.size()) return std::nullopt;
  }
  return sample;
}

}  // namespace

PromText parse_prometheus_text(std::string_view text, size_t max_samples) {
  PromText out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t i = 0;
    skip_blanks(line, i);
    if (i == line.size() || line[i] == '#') continue;
    auto sample = parse_sample(line);
    if (!sample) {
      ++out.garbage_lines;
      continue;
    }
    if (out.samples.size() >= max_samples) {
      ++out.dropped_samples;
      continue;
    }
    out.samples.push_back(std::move(*sample));
  }
  return out;
}

std::optional<double> sum_samples(const PromText& text, const std::string& name) {
  std::optional<double> sum;
  for (const auto& s : text.samples) {
    if (s.name == name) sum = sum.value_or(0) + s.value;
  }
  return sum;
}

}  // namespace sluice::analysis
