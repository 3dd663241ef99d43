// The session manifest: every field survives JSON, and every consistency rule a loader relies on
// (contiguous segments from 0, ordered in-range checkpoints, one at the length, plain file names)
// rejects a manifest that breaks it with DATA_LOSS.
#include "sdk/store/session_manifest.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace jamba::sdk {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

// A consistent manifest after a rewind: the second segment extends past the length.
SessionManifest Example() {
  SessionManifest m;
  m.id = "doc-1";
  m.tenant = "acme";
  m.display_name = "Annual report \xe2\x80\x94 2024";
  m.labels = {{"team", "legal"}, {"lang", "en"}};
  m.model_fingerprint = std::string(64, 'f');
  m.length = 6000;
  m.segments = {{"seg-1.kv", 0, 4096}, {"seg-3.kv", 4096, 8192}};
  m.checkpoints = {{"ckpt-2.state", 4096, "interval", 0xfedcba9876543210ULL, 11},
                   {"ckpt-5.state", 6000, "rewind", 42, 12}};
  m.create_time_us = 1700000000000000;
  m.update_time_us = 1700000000000001;
  m.access_time_us = 1700000000000002;
  m.next_file_number = 6;
  m.generation = 7;
  m.fencing = 3;
  m.owner = "host-a:12:0badcafe";
  m.commit_id = "00112233aabbccdd";
  m.ancestors = {"0000000000000001", "0000000000000002"};
  return m;
}

absl::Status Parse(const Json& j) { return ManifestFromJson(j.dump(), "m").status(); }

Json ExampleJson() { return Json::parse(ManifestToJson(Example())); }

TEST(SessionManifestTest, JsonRoundTripKeepsEveryField) {
  const SessionManifest m = Example();
  auto parsed = ManifestFromJson(ManifestToJson(m), "m");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->version, kManifestVersion);
  EXPECT_EQ(parsed->id, m.id);
  EXPECT_EQ(parsed->tenant, m.tenant);
  EXPECT_EQ(parsed->display_name, m.display_name);
  EXPECT_EQ(parsed->labels, m.labels);
  EXPECT_EQ(parsed->model_fingerprint, m.model_fingerprint);
  EXPECT_EQ(parsed->length, 6000);
  ASSERT_EQ(parsed->segments.size(), 2u);
  EXPECT_EQ(parsed->segments[1].file, "seg-3.kv");
  EXPECT_EQ(parsed->segments[1].begin, 4096);
  EXPECT_EQ(parsed->segments[1].end, 8192);
  ASSERT_EQ(parsed->checkpoints.size(), 2u);
  EXPECT_EQ(parsed->checkpoints[0].file, "ckpt-2.state");
  EXPECT_EQ(parsed->checkpoints[0].reason, "interval");
  EXPECT_EQ(parsed->checkpoints[0].prefix_hash, 0xfedcba9876543210ULL);  // all 64 bits
  EXPECT_EQ(parsed->generation, 7u);
  EXPECT_EQ(parsed->fencing, 3u);
  EXPECT_EQ(parsed->owner, m.owner);
  EXPECT_EQ(parsed->commit_id, m.commit_id);
  EXPECT_EQ(parsed->ancestors, m.ancestors);
  EXPECT_FALSE(parsed->deleted);
  EXPECT_EQ(parsed->checkpoints[1].position, 6000);
  EXPECT_EQ(parsed->checkpoints[1].create_time_us, 12);
  EXPECT_EQ(parsed->create_time_us, m.create_time_us);
  EXPECT_EQ(parsed->update_time_us, m.update_time_us);
  EXPECT_EQ(parsed->access_time_us, m.access_time_us);
  EXPECT_EQ(parsed->next_file_number, 6u);
  EXPECT_EQ(ManifestToJson(*parsed), ManifestToJson(m));
}

TEST(SessionManifestTest, EmptySessionIsConsistent) {
  SessionManifest m;
  m.id = "empty";
  m.tenant = "t";
  EXPECT_TRUE(ManifestFromJson(ManifestToJson(m), "m").ok());
}

TEST(SessionManifestTest, UsedSegmentsClipAtTheLengthAndAtTheNextSegment) {
  SessionManifest m = Example();
  // After another rewind to 2048 and an append: [0, 4096) is used only up to 2048.
  m.segments = {{"seg-1.kv", 0, 4096}, {"seg-7.kv", 2048, 2100}};
  const auto used = m.UsedSegments(2100);
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].begin, 0);
  EXPECT_EQ(used[0].end, 2048);
  EXPECT_EQ(used[1].begin, 2048);
  EXPECT_EQ(used[1].end, 2100);
  EXPECT_EQ(m.UsedSegments(100).size(), 1u);
}

TEST(SessionManifestTest, PrefixHashIsFnv1aOverLittleEndianIds) {
  uint64_t expected = kEmptyPrefixHash;
  for (uint8_t byte : {0x01, 0x02, 0x00, 0x00}) expected = (expected ^ byte) * 0x100000001b3ULL;
  EXPECT_EQ(ExtendPrefixHash(kEmptyPrefixHash, 0x0201), expected);
  EXPECT_NE(ExtendPrefixHash(ExtendPrefixHash(kEmptyPrefixHash, 1), 2),
            ExtendPrefixHash(ExtendPrefixHash(kEmptyPrefixHash, 2), 1));
}

TEST(SessionManifestTest, NotJsonIsDataLoss) {
  for (const char* text : {"", "{", "[1,2]", "42", "\"x\""}) {
    auto parsed = ManifestFromJson(text, "session x manifest");
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kDataLoss) << text;
    EXPECT_THAT(parsed.status().message(), HasSubstr("session x manifest"));
  }
}

TEST(SessionManifestTest, MissingOrMistypedFieldIsDataLoss) {
  for (const char* field :
       {"id", "tenant", "display_name", "labels", "model_fingerprint", "length", "segments",
        "checkpoints", "create_time_us", "update_time_us", "access_time_us", "next_file_number"}) {
    Json missing = ExampleJson();
    missing.erase(field);
    EXPECT_EQ(Parse(missing).code(), absl::StatusCode::kDataLoss) << "without " << field;
    Json mistyped = ExampleJson();
    mistyped[field] = Json::array({Json::object()});
    EXPECT_EQ(Parse(mistyped).code(), absl::StatusCode::kDataLoss) << "mistyped " << field;
  }
  Json bad_segment = ExampleJson();
  bad_segment["segments"][0].erase("end");
  EXPECT_EQ(Parse(bad_segment).code(), absl::StatusCode::kDataLoss);
  Json bad_checkpoint = ExampleJson();
  bad_checkpoint["checkpoints"][0]["position"] = "4096";
  EXPECT_EQ(Parse(bad_checkpoint).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, ATombstoneNamesNoFilesAndTheLineageIsBounded) {
  SessionManifest tombstone = Example();
  tombstone.deleted = true;
  tombstone.length = 0;
  tombstone.segments.clear();
  tombstone.checkpoints.clear();
  auto parsed = ManifestFromJson(ManifestToJson(tombstone), "m");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(parsed->deleted);
  Json with_files = ExampleJson();
  with_files["deleted"] = true;
  EXPECT_EQ(Parse(with_files).code(), absl::StatusCode::kDataLoss);
  Json long_lineage = ExampleJson();
  long_lineage["ancestors"] = std::vector<std::string>(SessionManifest::kAncestors + 1, "x");
  EXPECT_EQ(Parse(long_lineage).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, UnknownManifestVersionIsFailedPrecondition) {
  Json j = ExampleJson();
  j["version"] = 4;
  EXPECT_EQ(Parse(j).code(), absl::StatusCode::kFailedPrecondition);
}

// Version 1 manifests (before precision was recorded) hold fp32 KV with unknown activations;
// version 2 records all three settings and must have them.
TEST(SessionManifestTest, Version1ReadsAsFp32KvAndVersion2RecordsThePrecision) {
  Json v1 = ExampleJson();
  v1["version"] = 1;
  v1.erase("kv_dtype");
  v1.erase("activations");
  v1.erase("precision");
  auto old = ManifestFromJson(v1.dump(), "m");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->kv_dtype, "fp32");
  EXPECT_EQ(old->activations, "");
  Json v2 = ExampleJson();
  v2["kv_dtype"] = "int8";
  v2["activations"] = "bf16";
  v2["precision"] = "custom";
  auto current = ManifestFromJson(v2.dump(), "m");
  ASSERT_TRUE(current.ok()) << current.status();
  EXPECT_EQ(current->kv_dtype, "int8");
  EXPECT_EQ(current->precision, "custom");
  auto round_trip = ManifestFromJson(ManifestToJson(*current), "m");
  ASSERT_TRUE(round_trip.ok());
  EXPECT_EQ(round_trip->activations, "bf16");
  v2.erase("kv_dtype");
  EXPECT_EQ(Parse(v2).code(), absl::StatusCode::kDataLoss);
  v2["kv_dtype"] = "fp16";
  EXPECT_EQ(Parse(v2).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, NegativeLengthIsDataLoss) {
  Json j = ExampleJson();
  j["length"] = -1;
  j["segments"] = Json::array();
  j["checkpoints"] = Json::array();
  EXPECT_EQ(Parse(j).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, FileNameThatIsNotPlainIsDataLoss) {
  for (const char* name :
       {"", "../seg-1.kv", "/etc/passwd", "a/b", ".hidden", "SEG-1.KV", "seg 1.kv", "seg-1.kv\n"}) {
    Json segment = ExampleJson();
    segment["segments"][0]["file"] = name;
    const absl::Status s = Parse(segment);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << "segment \"" << name << "\"";
    EXPECT_THAT(s.message(), HasSubstr("bad segment file name"));
    Json checkpoint = ExampleJson();
    checkpoint["checkpoints"][1]["file"] = name;
    EXPECT_EQ(Parse(checkpoint).code(), absl::StatusCode::kDataLoss) << "checkpoint " << name;
  }
  Json long_name = ExampleJson();
  long_name["segments"][0]["file"] = std::string(129, 'a');
  EXPECT_EQ(Parse(long_name).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, EmptySegmentRangeIsDataLoss) {
  Json j = ExampleJson();
  j["segments"][1]["end"] = 4096;
  EXPECT_THAT(Parse(j).message(), HasSubstr("empty range"));
  Json negative = ExampleJson();
  negative["segments"][0]["begin"] = -5;
  EXPECT_EQ(Parse(negative).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, SegmentsNotStartingAtZeroOrWithAGapAreDataLoss) {
  Json late_start = ExampleJson();
  late_start["segments"][0]["begin"] = 1;
  EXPECT_EQ(Parse(late_start).code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Parse(late_start).message(), HasSubstr("gap before segment seg-1.kv"));
  Json gap = ExampleJson();
  gap["segments"][1]["begin"] = 4097;
  EXPECT_THAT(Parse(gap).message(), HasSubstr("gap before segment seg-3.kv"));
}

TEST(SessionManifestTest, SegmentsOutOfOrderAreDataLoss) {
  Json j = ExampleJson();
  j["segments"] = Json::array({{{"file", "seg-1.kv"}, {"begin", 0}, {"end", 8192}},
                               {{"file", "seg-3.kv"}, {"begin", 4096}, {"end", 8192}},
                               {{"file", "seg-4.kv"}, {"begin", 100}, {"end", 200}}});
  const absl::Status s = Parse(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("out of order"));
}

TEST(SessionManifestTest, SegmentsShorterThanTheLengthAreDataLoss) {
  Json j = ExampleJson();
  j["segments"][1]["end"] = 5000;
  const absl::Status s = Parse(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("segments cover 5000 of 6000 tokens"));
}

TEST(SessionManifestTest, CheckpointOutOfRangeIsDataLoss) {
  for (int64_t position : {int64_t{0}, int64_t{-4}, int64_t{6001}}) {
    Json j = ExampleJson();
    j["checkpoints"][0]["position"] = position;
    const absl::Status s = Parse(j);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << position;
  }
  Json j = ExampleJson();
  j["checkpoints"][0]["position"] = 0;
  EXPECT_THAT(Parse(j).message(), HasSubstr("checkpoint ckpt-2.state out of range"));
}

TEST(SessionManifestTest, CheckpointsOutOfOrderOrDuplicatedAreDataLoss) {
  Json swapped = ExampleJson();
  std::swap(swapped["checkpoints"][0], swapped["checkpoints"][1]);
  EXPECT_THAT(Parse(swapped).message(), HasSubstr("checkpoints out of order"));
  Json duplicated = ExampleJson();
  duplicated["checkpoints"][0]["position"] = 6000;
  EXPECT_EQ(Parse(duplicated).code(), absl::StatusCode::kDataLoss);
}

TEST(SessionManifestTest, NoCheckpointAtTheLengthIsDataLoss) {
  Json j = ExampleJson();
  j["length"] = 6001;
  j["checkpoints"][1]["position"] = 5999;
  const absl::Status s = Parse(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("no checkpoint at the session's length"));
}

TEST(SessionManifestTest, FileNumberThatWouldBeReusedIsDataLoss) {
  // A new file would be named seg-5.kv and replace a committed one: the append-only rule broken.
  Json j = ExampleJson();
  j["next_file_number"] = 5;
  const absl::Status s = Parse(j);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.message(), HasSubstr("next_file_number"));
}

}  // namespace
}  // namespace jamba::sdk
