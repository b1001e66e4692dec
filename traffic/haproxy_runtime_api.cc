#include "traffic/haproxy_runtime_api.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "base/unix_socket.h"

namespace sluice::traffic {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  for (auto line : split(s, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
  }
  return out;
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return v;
    v = v * 10 + (c - '0');
  }
  return v;
}

}  // namespace

Result<std::string> haproxy_command(const std::string& socket_path, const std::string& command,
                                    Duration timeout) {
  return unix_socket_exchange(socket_path, command + "\n", timeout,
                              fmt::format("haproxy runtime API {}: \"{}\"", socket_path, command));
}

Result<std::vector<HaproxyServerState>> parse_servers_state(std::string_view answer) {
  std::vector<HaproxyServerState> out;
  auto lines = split_lines(answer);
  if (lines.empty() || lines[0] != "1") {
    std::string first(lines.empty() ? std::string_view() : lines[0]);
    return failed_precondition(fmt::format("unexpected answer \"{}\"", first));
  }
  std::vector<std::string_view> header;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) continue;
    if (line[0] == '#') {
      header = split(line.substr(2), ' ');
      continue;
    }
    auto fields = split(line, ' ');
    HaproxyServerState s;
    for (size_t c = 0; c < header.size() && c < fields.size(); ++c) {
      const auto& h = header[c];
      if (h == "srv_name") s.name = fields[c];
      if (h == "srv_addr") s.addr = fields[c];
      if (h == "srv_port") s.port = to_int(fields[c]);
      if (h == "srv_op_state") s.op_state = to_int(fields[c]);
      if (h == "srv_admin_state") s.admin_state = to_int(fields[c]);
      if (h == "srv_uweight") s.weight = to_int(fields[c]);
    }
    if (s.name.empty()) return failed_precondition(fmt::format("unparsable row \"{}\"", line));
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<std::string>> parse_map_list(std::string_view answer) {
  std::vector<std::string> out;
  auto lines = split_lines(answer);
  if (lines.empty() || lines[0].rfind("# id", 0) != 0) {
    std::string first(lines.empty() ? std::string_view() : lines[0]);
    return failed_precondition(fmt::format("unexpected answer \"{}\"", first));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.empty()) continue;
    const size_t open = line.find(" (");
    const size_t close = line.find(") ", open == std::string_view::npos ? 0 : open);
    if (open == std::string_view::npos || close == std::string_view::npos) {
      return failed_precondition(fmt::format("unparsable row \"{}\"", line));
    }
    out.emplace_back(line.substr(open + 2, close - open - 2));
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> parse_map_entries(
    std::string_view answer) {
  std::vector<std::pair<std::string, std::string>> out;
  for (std::string_view line : split_lines(answer)) {
    if (line.empty()) continue;
    const size_t first = line.find(' ');
    const size_t last = line.rfind(' ');
    if (line.substr(0, 2) != "0x" || first == std::string_view::npos || last <= first) {
      return failed_precondition(fmt::format("unexpected answer \"{}\"", line));
    }
    out.emplace_back(line.substr(first + 1, last - first - 1), line.substr(last + 1));
  }
  return out;
}

std::string haproxy_cli_escape(std::string_view argument) {
  std::string out;
  for (char c : argument) {
    if (c == '\\' || c == ' ' || c == ';') out += '\\';
    out += c;
  }
  return out;
}

Result<std::vector<std::map<std::string, std::string>>> parse_show_stat(std::string_view answer) {
  auto lines = split_lines(answer);
  if (lines.empty() || lines[0].rfind("# ", 0) != 0) {
    std::string first(lines.empty() ? std::string_view() : lines[0]);
    return failed_precondition(fmt::format("unexpected answer \"{}\"", first));
  }
  auto header = split(lines[0].substr(2), ',');
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].empty()) continue;
    auto fields = split(lines[i], ',');
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < header.size() && c < fields.size(); ++c) {
      if (!header[c].empty()) row.emplace(std::string(header[c]), std::string(fields[c]));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace sluice::traffic
