// `jamba session`, run as the real binary: the main flows on the demo model (text) and the golden
// model (token ids), and the error exits, after which nothing stored has changed.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "engine/npy.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/util/subprocess.h"
#include "tests/util/test_util.h"

namespace jamba {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class CliSessionTest : public ::testing::Test {
 protected:
  std::string DemoModel() const { return testing::BinaryDir() + "/demo-model"; }
  std::string IdsModel() const { return testing::GoldenDir("hybrid8_moe_f32_sharded"); }
  std::string Store() const { return dir_.path() + "/store"; }

  testing::ProcessResult Jamba(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), testing::BinaryDir() + "/tools/jamba");
    return testing::RunProcess(args, input);
  }
  // `jamba session <command> --store S --model M <args...>`.
  testing::ProcessResult Session(const std::string& command, std::vector<std::string> args,
                                 const std::string& model = "", const std::string& input = "") {
    args.insert(args.begin(), {"session", command, "--store", Store(), "--model",
                               model.empty() ? DemoModel() : model, "--threads", "2"});
    return Jamba(args, input);
  }
  // Token count of each session, from `list --json`.
  std::map<std::string, int64_t> Lengths(const std::string& model = "") {
    const testing::ProcessResult listed = Session("list", {"--json"}, model);
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    std::map<std::string, int64_t> lengths;
    const nlohmann::json j = nlohmann::json::parse(listed.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << listed.out;
    if (!j.is_array()) return lengths;
    for (const auto& s : j)
      lengths[s.at("id").get<std::string>()] = s.at("token_count").get<int64_t>();
    return lengths;
  }
  std::string WriteDoc(const std::string& name, size_t begin, size_t size) {
    const std::string corpus =
        testing::ReadFile(testing::TestDataDir() + "/../../tools/demo_corpus.txt");
    testing::WriteFile(dir_.File(name), corpus.substr(begin, size));
    return dir_.File(name);
  }
  std::string WriteIds(const std::string& name, const std::vector<int64_t>& ids) {
    EXPECT_TRUE(
        engine::WriteNpyInt64(dir_.File(name), {static_cast<int64_t>(ids.size())}, ids.data())
            .ok());
    return dir_.File(name);
  }

  testing::TempDir dir_;
};

TEST_F(CliSessionTest, CreateAppendAndGenerateGiveWhatAPlainGenerateGives) {
  const testing::ProcessResult created = Session("create", {"--id", "doc", "--name", "Manual"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "doc\n");
  const std::string doc = WriteDoc("doc.txt", 0, 1500);
  const testing::ProcessResult appended =
      Session("append", {"--id", "doc", "--file", doc, "--checkpoint-interval", "128"});
  ASSERT_EQ(appended.exit_code, 0) << appended.err;
  // A summary line always, no progress line when stderr is not a terminal.
  EXPECT_THAT(appended.out, StartsWith("appended "));
  EXPECT_THAT(appended.out, HasSubstr(" tokens to doc in "));
  EXPECT_THAT(appended.out, HasSubstr(" checkpoints, "));
  EXPECT_EQ(appended.err, "");
  const int64_t length = Lengths()["doc"];
  EXPECT_GT(length, 256);

  const std::vector<std::string> greedy = {"--temperature", "0", "--max-tokens", "12", "--quiet"};
  std::vector<std::string> args = {"--id", "doc"};
  args.insert(args.end(), greedy.begin(), greedy.end());
  const testing::ProcessResult from_session = Session("generate", args);
  ASSERT_EQ(from_session.exit_code, 0) << from_session.err;
  std::vector<std::string> plain_args = {"generate", "--model",  DemoModel(),           "--threads",
                                         "2",        "--prompt", testing::ReadFile(doc)};
  plain_args.insert(plain_args.end(), greedy.begin(), greedy.end());
  const testing::ProcessResult plain = Jamba(plain_args);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(from_session.out, plain.out);
  EXPECT_GT(from_session.out.size(), 1u);
  // Without --commit the session is unchanged.
  EXPECT_EQ(Lengths()["doc"], length);

  // The summary names what was resumed (not --quiet).
  const testing::ProcessResult verbose = Session(
      "generate",
      {"--id", "doc", "--prompt", " And so", "--max-tokens", "4", "--commit", "--seed", "7"});
  ASSERT_EQ(verbose.exit_code, 0) << verbose.err;
  EXPECT_THAT(verbose.err, HasSubstr("resumed " + std::to_string(length) + " tokens"));
  EXPECT_THAT(verbose.err, HasSubstr("committed to the session"));
  EXPECT_GT(Lengths()["doc"], length + 4);  // the prompt and the answer were appended
}

TEST_F(CliSessionTest, AppendReadsStandardInputWhenGivenNoInputFlag) {
  ASSERT_EQ(Session("create", {"--id", "notes"}).exit_code, 0);
  const testing::ProcessResult appended =
      Session("append", {"--id", "notes"}, "", "Meeting notes: the model reads tokens.\n");
  ASSERT_EQ(appended.exit_code, 0) << appended.err;
  EXPECT_GT(Lengths()["notes"], 3);
  const testing::ProcessResult text = Session("append", {"--id", "notes", "--text", " More."});
  ASSERT_EQ(text.exit_code, 0) << text.err;
}

TEST_F(CliSessionTest, ForkRewindCheckpointsListAndDelete) {
  ASSERT_EQ(Session("create", {"--id", "base"}).exit_code, 0);
  ASSERT_EQ(Session("append", {"--id", "base", "--file", WriteDoc("d.txt", 0, 2000),
                               "--checkpoint-interval", "100"})
                .exit_code,
            0);
  const int64_t length = Lengths()["base"];
  const testing::ProcessResult checkpoints = Session("checkpoints", {"--id", "base"});
  ASSERT_EQ(checkpoints.exit_code, 0) << checkpoints.err;
  std::vector<int64_t> positions;
  for (absl::string_view line : absl::StrSplit(checkpoints.out, '\n', absl::SkipEmpty())) {
    int64_t p = 0;
    const std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (!fields.empty() && absl::SimpleAtoi(fields[0], &p)) positions.push_back(p);
  }
  ASSERT_GE(positions.size(), 4u);
  EXPECT_EQ(positions[0], 0);
  EXPECT_EQ(positions[1], 100);
  EXPECT_EQ(positions.back(), length);

  const testing::ProcessResult forked =
      Session("fork", {"--id", "base", "--new-id", "branch", "--at", "200"});
  ASSERT_EQ(forked.exit_code, 0) << forked.err;
  EXPECT_EQ(forked.out, "forked base at 200 tokens into branch\n");
  const testing::ProcessResult rewound = Session("rewind", {"--id", "base", "--to", "100"});
  ASSERT_EQ(rewound.exit_code, 0) << rewound.err;
  EXPECT_EQ(rewound.out, "rewound base to 100 tokens\n");
  EXPECT_EQ(Lengths(), (std::map<std::string, int64_t>{{"base", 100}, {"branch", 200}}));

  const testing::ProcessResult table = Session("list", {});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, StartsWith("id "));
  EXPECT_THAT(table.out, HasSubstr("branch"));

  const testing::ProcessResult deleted = Session("delete", {"--id", "base"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted base\n");
  EXPECT_EQ(Lengths(), (std::map<std::string, int64_t>{{"branch", 200}}));
}

TEST_F(CliSessionTest, ModelWithoutTokenizerTakesAndPrintsTokenIds) {
  ASSERT_EQ(Session("create", {"--id", "ids"}, IdsModel()).exit_code, 0);
  std::vector<int64_t> ids;
  for (int i = 0; i < 50; ++i) ids.push_back(3 + (i * 37) % 500);
  const testing::ProcessResult appended =
      Session("append", {"--id", "ids", "--ids", WriteIds("doc.npy", ids)}, IdsModel());
  ASSERT_EQ(appended.exit_code, 0) << appended.err;
  EXPECT_EQ(Lengths(IdsModel())["ids"], 50);
  const testing::ProcessResult generated =
      Session("generate",
              {"--id", "ids", "--temperature", "0", "--max-tokens", "5", "--ignore-eos", "--quiet"},
              IdsModel());
  ASSERT_EQ(generated.exit_code, 0) << generated.err;
  std::vector<int> printed;
  for (absl::string_view t : absl::StrSplit(generated.out, ' ', absl::SkipWhitespace())) {
    int id = 0;
    ASSERT_TRUE(absl::SimpleAtoi(absl::StripAsciiWhitespace(t), &id)) << generated.out;
    printed.push_back(id);
  }
  EXPECT_EQ(printed.size(), 5u);
  // Text needs a tokenizer: a clear error, and the session is unchanged.
  const testing::ProcessResult text =
      Session("append", {"--id", "ids", "--text", "hello"}, IdsModel());
  EXPECT_EQ(text.exit_code, 2);
  EXPECT_THAT(text.err, HasSubstr("no tokenizer"));
  EXPECT_EQ(Lengths(IdsModel())["ids"], 50);
}

TEST_F(CliSessionTest, BadInputIsAClearErrorAndChangesNothing) {
  ASSERT_EQ(Session("create", {"--id", "keep"}).exit_code, 0);
  ASSERT_EQ(Session("append", {"--id", "keep", "--file", WriteDoc("k.txt", 0, 800),
                               "--checkpoint-interval", "64"})
                .exit_code,
            0);
  const std::map<std::string, int64_t> before = Lengths();
  struct Case {
    std::vector<std::string> args;  // after "session"
    int exit_code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"rewind", "--id", "keep", "--to", "13"}, 2, "no checkpoint at position 13"},
      {{"rewind", "--id", "keep", "--to", "-1"}, 2, "negative"},
      {{"rewind", "--id", "keep", "--to", "ten"}, 2, "must be an integer"},
      {{"fork", "--id", "keep", "--new-id", "keep"}, 2, "must differ"},
      {{"fork", "--id", "keep", "--new-id", "../escape"}, 2, "is invalid"},
      {{"fork", "--id", "keep", "--new-id", "other", "--at", "65"}, 2, "no checkpoint"},
      {{"append", "--id", "missing", "--text", "x"}, 1, "not found"},
      {{"append", "--id", "keep", "--text", "x", "--file", "y"}, 2, "at most one"},
      {{"append", "--id", "keep", "--file", "/nonexistent/doc.txt"}, 1, "cannot open"},
      {{"append", "--id", "keep", "--text", ""}, 2, "empty"},
      {{"generate", "--id", "keep", "--temperature", "-1"}, 2, "temperature"},
      {{"delete", "--id", "missing"}, 1, "not found"},
      {{"delete", "--id", "Bad/Id"}, 2, "is invalid"},
      {{"list", "--tenant", ".."}, 2, "tenant"},
      {{"create", "--id", "keep"}, 1, "already exists"},
      {{"append", "--id", "keep", "--bogus", "1"}, 2, "unknown flag --bogus"},
      {{"append", "--id", "keep", "--checkpoint-interval", "0"}, 2, "checkpoint-interval"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args(c.args.begin() + 1, c.args.end());
    const testing::ProcessResult result = Session(c.args[0], args);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.args[0] << " " << c.args[1] << ": " << result.err;
    EXPECT_THAT(result.err, HasSubstr(c.message)) << c.args[0];
    EXPECT_THAT(result.err, StartsWith("jamba session " + c.args[0] + ": "));
  }
  // Missing required flags and unknown commands.
  EXPECT_EQ(Jamba({"session", "list", "--model", DemoModel()}).exit_code, 2);
  EXPECT_THAT(Jamba({"session", "list", "--model", DemoModel()}).err,
              HasSubstr("--store is required"));
  EXPECT_EQ(Jamba({"session", "list", "--store", Store()}).exit_code, 2);
  const testing::ProcessResult unknown = Jamba({"session", "frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_EQ(Jamba({"session"}).exit_code, 2);
  const testing::ProcessResult help = Jamba({"session", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("checkpoints --id ID"));
  // The store is bound to its model: another model refuses the session, and the store is intact.
  const testing::ProcessResult other_model =
      Session("append", {"--id", "keep", "--ids", WriteIds("x.npy", {5, 6, 7})}, IdsModel());
  EXPECT_EQ(other_model.exit_code, 2);
  EXPECT_THAT(other_model.err, HasSubstr("different model"));

  EXPECT_EQ(Lengths(), before);
  const testing::ProcessResult still = Session("generate", {"--id", "keep", "--max-tokens", "2"});
  EXPECT_EQ(still.exit_code, 0) << still.err;
}

TEST_F(CliSessionTest, EncryptedStoreNeedsItsKey) {
  const std::string key = dir_.File("key");
  testing::WriteFile(key, std::string(64, 'a'));
  ASSERT_EQ(Session("create", {"--id", "secret", "--key-file", key}).exit_code, 0);
  ASSERT_EQ(Session("append", {"--id", "secret", "--text", "Top secret notes.", "--key-file", key})
                .exit_code,
            0);
  const testing::ProcessResult no_key = Session("list", {});
  EXPECT_EQ(no_key.exit_code, 2);
  EXPECT_THAT(no_key.err, HasSubstr("no encryption key"));
  const std::string wrong = dir_.File("wrong");
  testing::WriteFile(wrong, std::string(64, 'b'));
  const testing::ProcessResult wrong_key = Session("list", {"--key-file", wrong});
  EXPECT_EQ(wrong_key.exit_code, 2);
  EXPECT_THAT(wrong_key.err, HasSubstr("wrong encryption key"));
  EXPECT_EQ(
      Session("generate", {"--id", "secret", "--key-file", key, "--max-tokens", "2"}).exit_code, 0);
}

}  // namespace
}  // namespace jamba
