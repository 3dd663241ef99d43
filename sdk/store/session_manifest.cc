// Manifest <-> JSON, with the consistency checks a loader relies on.
#include "sdk/store/session_manifest.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace jamba::sdk {
namespace {

using Json = nlohmann::json;

bool PlainFileName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name[0] == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

// The number in a name the store generated ("seg-12.kv", "ckpt-3.state"), or -1.
int64_t FileNumber(const std::string& name) {
  const size_t dash = name.find('-');
  const size_t dot = name.find('.', dash == std::string::npos ? 0 : dash);
  if (dash == std::string::npos || dot == std::string::npos || dot == dash + 1) return -1;
  int64_t number = 0;
  if (!absl::SimpleAtoi(name.substr(dash + 1, dot - dash - 1), &number)) return -1;
  return number;
}

}  // namespace

const CheckpointRecord* SessionManifest::CheckpointAt(int64_t position) const {
  for (const CheckpointRecord& c : checkpoints) {
    if (c.position == position) return &c;
  }
  return nullptr;
}

std::vector<SessionManifest::UsedSegment> SessionManifest::UsedSegments(int64_t up_to) const {
  std::vector<UsedSegment> used;
  for (size_t i = 0; i < segments.size(); ++i) {
    const SegmentRecord& s = segments[i];
    int64_t end = std::min(s.end, up_to);
    if (i + 1 < segments.size()) end = std::min(end, segments[i + 1].begin);
    if (s.begin < end) used.push_back({&s, s.begin, end});
  }
  return used;
}

uint64_t ExtendPrefixHash(uint64_t hash, int32_t token) {
  const auto value = static_cast<uint32_t>(token);
  for (int i = 0; i < 4; ++i) hash = (hash ^ ((value >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
  return hash;
}

std::string ManifestToJson(const SessionManifest& m) {
  Json segments = Json::array();
  for (const SegmentRecord& s : m.segments)
    segments.push_back({{"file", s.file}, {"begin", s.begin}, {"end", s.end}});
  Json checkpoints = Json::array();
  for (const CheckpointRecord& c : m.checkpoints) {
    checkpoints.push_back({{"file", c.file},
                           {"position", c.position},
                           {"reason", c.reason},
                           {"prefix_hash", c.prefix_hash},
                           {"create_time_us", c.create_time_us}});
  }
  Json j = {{"version", m.version},
            {"id", m.id},
            {"tenant", m.tenant},
            {"display_name", m.display_name},
            {"labels", m.labels},
            {"model_fingerprint", m.model_fingerprint},
            {"kv_dtype", m.kv_dtype},
            {"activations", m.activations},
            {"precision", m.precision},
            {"length", m.length},
            {"segments", segments},
            {"checkpoints", checkpoints},
            {"create_time_us", m.create_time_us},
            {"update_time_us", m.update_time_us},
            {"access_time_us", m.access_time_us},
            {"next_file_number", m.next_file_number},
            {"generation", m.generation},
            {"fencing", m.fencing},
            {"owner", m.owner},
            {"commit", m.commit_id},
            {"ancestors", m.ancestors},
            {"deleted", m.deleted}};
  return j.dump();
}

absl::StatusOr<SessionManifest> ManifestFromJson(const std::string& json, const std::string& name) {
  auto bad = [&](const std::string& what) {
    return absl::DataLossError(absl::StrCat(name, ": ", what));
  };
  Json j = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return bad("manifest is not a JSON object");
  SessionManifest m;
  try {
    m.version = j.at("version").get<int>();
    if (m.version < kOldestManifestVersion || m.version > kManifestVersion) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, ": manifest version ", m.version, " is not supported"));
    }
    m.id = j.at("id").get<std::string>();
    m.tenant = j.at("tenant").get<std::string>();
    m.display_name = j.at("display_name").get<std::string>();
    m.labels = j.at("labels").get<std::map<std::string, std::string>>();
    m.model_fingerprint = j.at("model_fingerprint").get<std::string>();
    if (m.version >= 2) {
      m.kv_dtype = j.at("kv_dtype").get<std::string>();
      m.activations = j.at("activations").get<std::string>();
      m.precision = j.at("precision").get<std::string>();
    }
    m.length = j.at("length").get<int64_t>();
    for (const Json& s : j.at("segments")) {
      m.segments.push_back({s.at("file").get<std::string>(), s.at("begin").get<int64_t>(),
                            s.at("end").get<int64_t>()});
    }
    for (const Json& c : j.at("checkpoints")) {
      m.checkpoints.push_back({c.at("file").get<std::string>(), c.at("position").get<int64_t>(),
                               c.at("reason").get<std::string>(),
                               c.at("prefix_hash").get<uint64_t>(),
                               c.at("create_time_us").get<int64_t>()});
    }
    m.create_time_us = j.at("create_time_us").get<int64_t>();
    m.update_time_us = j.at("update_time_us").get<int64_t>();
    m.access_time_us = j.at("access_time_us").get<int64_t>();
    m.next_file_number = j.at("next_file_number").get<uint64_t>();
    if (m.version >= 3) {
      m.generation = j.at("generation").get<uint64_t>();
      m.fencing = j.at("fencing").get<uint64_t>();
      m.owner = j.at("owner").get<std::string>();
      m.commit_id = j.at("commit").get<std::string>();
      m.ancestors = j.at("ancestors").get<std::vector<std::string>>();
      m.deleted = j.at("deleted").get<bool>();
    }
  } catch (const Json::exception& e) {
    return bad(absl::StrCat("manifest field missing or of the wrong type: ", e.what()));
  }
  if (m.length < 0) return bad("negative length");
  if (m.deleted && (m.length != 0 || !m.segments.empty() || !m.checkpoints.empty()))
    return bad("a deleted session's manifest names files");
  if (m.ancestors.size() > SessionManifest::kAncestors) return bad("too many ancestors");
  if (m.kv_dtype != "fp32" && m.kv_dtype != "bf16" && m.kv_dtype != "int8")
    return bad(absl::StrCat("unknown kv_dtype \"", m.kv_dtype, "\""));
  int64_t covered = 0;
  for (size_t i = 0; i < m.segments.size(); ++i) {
    const SegmentRecord& s = m.segments[i];
    if (!PlainFileName(s.file)) return bad(absl::StrCat("bad segment file name \"", s.file, "\""));
    if (s.begin < 0 || s.end <= s.begin)
      return bad(absl::StrCat("segment ", s.file, " has an empty range"));
    if (s.begin > covered) return bad(absl::StrCat("gap before segment ", s.file));
    if (i > 0 && s.begin < m.segments[i - 1].begin) return bad("segments out of order");
    covered = std::max(covered, s.end);
  }
  if (covered < m.length)
    return bad(absl::StrCat("segments cover ", covered, " of ", m.length, " tokens"));
  for (size_t i = 0; i < m.checkpoints.size(); ++i) {
    const CheckpointRecord& c = m.checkpoints[i];
    if (!PlainFileName(c.file))
      return bad(absl::StrCat("bad checkpoint file name \"", c.file, "\""));
    if (c.position <= 0 || c.position > m.length)
      return bad(absl::StrCat("checkpoint ", c.file, " out of range"));
    if (i > 0 && c.position <= m.checkpoints[i - 1].position)
      return bad("checkpoints out of order");
  }
  if (m.length > 0 && m.CheckpointAt(m.length) == nullptr)
    return bad("no checkpoint at the session's length");
  // New files are named from next_file_number; one at or below a referenced file's number would
  // replace that file, which the append-only rule forbids.
  for (const SegmentRecord& s : m.segments) {
    if (FileNumber(s.file) >= 0 && static_cast<uint64_t>(FileNumber(s.file)) >= m.next_file_number)
      return bad(absl::StrCat("next_file_number ", m.next_file_number, " would reuse ", s.file));
  }
  for (const CheckpointRecord& c : m.checkpoints) {
    if (FileNumber(c.file) >= 0 && static_cast<uint64_t>(FileNumber(c.file)) >= m.next_file_number)
      return bad(absl::StrCat("next_file_number ", m.next_file_number, " would reuse ", c.file));
  }
  return m;
}

}  // namespace jamba::sdk
