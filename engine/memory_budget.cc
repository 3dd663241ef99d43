// MemoryBudget: the fixed limit, or the machine's available memory read from /proc and cgroup v2.
#include "engine/memory_budget.h"

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace jamba::engine {
namespace {

// The first line of `path` as an integer; -1 when missing or not a number ("max").
int64_t ReadInteger(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int64_t value = -1;
  if (!std::getline(in, line) || !absl::SimpleAtoi(absl::StripAsciiWhitespace(line), &value))
    return -1;
  return value;
}

// MemAvailable in bytes, -1 when /proc/meminfo has none.
int64_t MemAvailable() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib) {
    std::getline(in, unit);
    if (key == "MemAvailable:") return kib * 1024;
  }
  return -1;
}

// Room under this process's cgroup v2 limit, -1 without one.
int64_t CgroupRoom() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // cgroup v2: "0::/path"
    if (line.rfind("0::", 0) != 0) continue;
    const std::string dir = absl::StrCat("/sys/fs/cgroup", line.substr(3));
    const int64_t max = ReadInteger(dir + "/memory.max");
    const int64_t current = ReadInteger(dir + "/memory.current");
    if (max < 0 || current < 0) return -1;
    return std::max<int64_t>(0, max - current);
  }
  return -1;
}

}  // namespace

int64_t ProbeAvailableMemory() {
  const int64_t available = MemAvailable();
  const int64_t room = CgroupRoom();
  if (available < 0) return room;
  if (room < 0) return available;
  return std::min(available, room);
}

int64_t MemoryBudget::Available() const {
  if (limit_ > 0) return std::max<int64_t>(0, limit_ - used());
  const int64_t probed = ProbeAvailableMemory();
  if (probed < 0) return std::numeric_limits<int64_t>::max();  // unknown: do not refuse
  return std::max<int64_t>(0, probed - kProbeReserveBytes);
}

std::string MemoryBudget::LimitName() const {
  if (limit_ > 0) return absl::StrCat("kv_memory_bytes (", limit_, " bytes)");
  return "the machine's available memory";
}

}  // namespace jamba::engine
