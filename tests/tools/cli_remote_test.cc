// The `jamba` client commands (--server), run as the real binary against a real jambad on
// loopback: generate, session create/append/ask/fork/rewind/checkpoints/list/delete and chat give
// what the gRPC API gives; errors print the gRPC code and exit with its class; API keys come from
// a flag, a file or the environment; TLS and mutual TLS connect.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/integration/jambad_process.h"
#include "tests/util/subprocess.h"

namespace jamba::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKey[] = "cli-test-key-1";

class CliRemoteTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("JAMBA_API_KEY"); }

  void StartServer(std::vector<std::string> flags = {}, const std::string& model_dir = "") {
    auto server = JambadProcess::Start(
        {.model_dir = model_dir.empty() ? DemoModelDir() : model_dir, .flags = std::move(flags)});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    sessions_ = v1::SessionService::NewStub(server_->Channel());
    generation_ = v1::GenerationService::NewStub(server_->Channel());
    models_ = v1::ModelService::NewStub(server_->Channel());
  }

  // `jamba <args...> --server <address>`.
  ProcessResult Jamba(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), BinaryDir() + "/tools/jamba");
    args.insert(args.end(), {"--server", server_->address()});
    return RunProcess(args, input);
  }
  ProcessResult Session(const std::string& command, std::vector<std::string> args,
                        const std::string& input = "") {
    args.insert(args.begin(), {"session", command});
    return Jamba(args, input);
  }

  // A piece of the demo corpus with accented letters and CJK characters in it, so that small
  // chunks fall inside multi-byte characters.
  std::string Document() const {
    const std::string corpus = ReadFile(TestDataDir() + "/../../tools/demo_corpus.txt");
    return corpus.substr(7700, 1100);
  }
  std::string WriteDocument(const std::string& name) {
    WriteFile(dir_.File(name), Document());
    return dir_.File(name);
  }

  // The same document appended in one gRPC chunk to session `id`.
  void AppendOverGrpc(const std::string& id, const std::string& text) {
    grpc::ClientContext create_context;
    v1::CreateSessionRequest create;
    create.set_session_id(id);
    v1::Session session;
    ASSERT_TRUE(sessions_->CreateSession(&create_context, create, &session).ok());
    grpc::ClientContext context;
    auto stream = sessions_->AppendToSession(&context);
    v1::AppendToSessionRequest request;
    request.mutable_config()->set_session("sessions/" + id);
    ASSERT_TRUE(stream->Write(request));
    request.set_text(text);
    ASSERT_TRUE(stream->Write(request));
    stream->WritesDone();
    v1::AppendToSessionResponse response;
    while (stream->Read(&response)) {
    }
    ASSERT_TRUE(stream->Finish().ok());
  }

  v1::Session Get(const std::string& id) {
    grpc::ClientContext context;
    v1::GetSessionRequest request;
    request.set_name("sessions/" + id);
    v1::Session session;
    const grpc::Status status = sessions_->GetSession(&context, request, &session);
    EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
    return session;
  }

  std::map<std::string, int64_t> ListedLengths() {
    const ProcessResult listed = Session("list", {"--json"});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    std::map<std::string, int64_t> lengths;
    const nlohmann::json j = nlohmann::json::parse(listed.out, nullptr, false);
    EXPECT_TRUE(j.is_array()) << listed.out;
    if (!j.is_array()) return lengths;
    for (const auto& s : j) {
      lengths[s.at("id").get<std::string>()] = s.at("token_count").get<int64_t>();
    }
    return lengths;
  }

  TempDir dir_;
  std::unique_ptr<JambadProcess> server_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::ModelService::Stub> models_;
};

TEST_F(CliRemoteTest, GenerateStreamsWhatTheServerGenerates) {
  StartServer();
  v1::GenerateRequest request;
  request.set_prompt("The engine reads the manual and");
  request.set_max_tokens(12);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stop()->set_ignore_eos(true);
  const GenerateOutcome expected = testing::Generate(*generation_, request);
  ASSERT_TRUE(expected.status.ok()) << expected.status.error_message();

  const ProcessResult quiet =
      Jamba({"generate", "--prompt", "The engine reads the manual and", "--max-tokens", "12",
             "--temperature", "0", "--ignore-eos", "--quiet"});
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.out, expected.text + "\n");
  EXPECT_EQ(quiet.err, "");

  // Without --quiet, a summary on stderr; a seed makes a sampled answer reproducible.
  const std::vector<std::string> sampled = {"generate", "--prompt",     "Once",   "--max-tokens",
                                            "8",        "--ignore-eos", "--seed", "11"};
  const ProcessResult first = Jamba(sampled);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.err, HasSubstr("generated 8; first token after "));
  EXPECT_THAT(first.err, HasSubstr("finish: max_tokens; seed 11"));
  EXPECT_EQ(Jamba(sampled).out, first.out);
}

TEST_F(CliRemoteTest, SessionCommandsActOnTheServersSessions) {
  StartServer({"--checkpoint-interval", "64"});
  const ProcessResult created = Session("create", {"--id", "doc", "--name", "Manual"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "doc\n");

  // Chunks of 16 bytes cut the document inside characters; the client moves each cut to a
  // character boundary, and the tokens are those of the whole text, as one gRPC chunk gives.
  const ProcessResult appended =
      Session("append", {"--id", "doc", "--file", WriteDocument("doc.txt"), "--chunk-bytes", "16"});
  ASSERT_EQ(appended.exit_code, 0) << appended.err;
  EXPECT_THAT(appended.out, StartsWith("appended "));
  EXPECT_THAT(appended.out, HasSubstr(" tokens to doc in "));
  EXPECT_EQ(appended.err, "");  // no progress when stderr is not a terminal
  AppendOverGrpc("reference", Document());
  const int32_t length = Get("doc").token_count();
  EXPECT_EQ(length, Get("reference").token_count());
  EXPECT_GT(length, 200);
  EXPECT_EQ(Get("doc").display_name(), "Manual");

  // ask without --commit: the same greedy continuation as the reference session, and no change.
  const ProcessResult asked = Session("ask", {"--id", "doc", "--text", " And so", "--max-tokens",
                                              "10", "--temperature", "0", "--ignore-eos"});
  ASSERT_EQ(asked.exit_code, 0) << asked.err;
  v1::GenerateRequest request;
  request.mutable_session()->set_session("sessions/reference");
  request.mutable_session()->set_text(" And so");
  request.set_max_tokens(10);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_stop()->set_ignore_eos(true);
  const GenerateOutcome expected = testing::Generate(*generation_, request);
  ASSERT_TRUE(expected.status.ok());
  EXPECT_EQ(asked.out, expected.text + "\n");
  EXPECT_THAT(asked.err, HasSubstr(absl::StrCat("(", length, " restored, ")));
  EXPECT_THAT(asked.err, HasSubstr("not committed (the session is unchanged)"));
  EXPECT_EQ(Get("doc").token_count(), length);

  // --commit keeps the question and the answer.
  const ProcessResult committed = Session(
      "ask", {"--id", "doc", "--text", " And so", "--max-tokens", "4", "--commit", "--quiet"});
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  const int32_t committed_length = Get("doc").token_count();
  EXPECT_GT(committed_length, length + 4);

  const ProcessResult checkpoints = Session("checkpoints", {"--id", "doc"});
  ASSERT_EQ(checkpoints.exit_code, 0) << checkpoints.err;
  EXPECT_THAT(checkpoints.out, HasSubstr(absl::StrCat(length, "  append")));
  EXPECT_THAT(checkpoints.out, HasSubstr("64  periodic"));

  const ProcessResult forked =
      Session("fork", {"--id", "doc", "--new-id", "branch", "--at", std::to_string(length)});
  ASSERT_EQ(forked.exit_code, 0) << forked.err;
  EXPECT_EQ(forked.out, absl::StrCat("forked doc at ", length, " tokens into branch\n"));
  const ProcessResult rewound = Session("rewind", {"--id", "doc", "--to", "64"});
  ASSERT_EQ(rewound.exit_code, 0) << rewound.err;
  EXPECT_EQ(rewound.out, "rewound doc to 64 tokens\n");
  EXPECT_EQ(ListedLengths(), (std::map<std::string, int64_t>{
                                 {"doc", 64}, {"branch", length}, {"reference", length}}));

  const ProcessResult table = Session("list", {});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("id "));
  EXPECT_THAT(table.out, HasSubstr("Manual"));

  const ProcessResult deleted = Session("delete", {"--id", "branch"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "deleted branch\n");
  EXPECT_EQ(ListedLengths().count("branch"), 0u);
}

TEST_F(CliRemoteTest, AppendStreamsStandardInputAndShowsProgressWhenAsked) {
  StartServer();
  ASSERT_EQ(Session("create", {"--id", "notes"}).exit_code, 0);
  const std::string text = Document() + Document() + Document();
  const ProcessResult appended =
      Session("append", {"--id", "notes", "--role", "user", "--progress"}, text);
  ASSERT_EQ(appended.exit_code, 0) << appended.err;
  // The last progress line is always printed: everything sent, every token processed.
  EXPECT_THAT(appended.err, HasSubstr(absl::StrCat("sent ", text.size() / 1024)));
  EXPECT_THAT(appended.err, HasSubstr(" processed of "));
  const int32_t length = Get("notes").token_count();
  EXPECT_THAT(appended.out, HasSubstr(absl::StrCat("now ", length, " tokens")));

  // As one user message: the template's header and end-of-turn around the text.
  grpc::ClientContext context;
  v1::TokenizeRequest tokenize;
  v1::ChatMessage& message = *tokenize.mutable_messages()->add_messages();
  message.set_role(v1::ChatMessage::USER);
  message.set_content(text);
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(models_->Tokenize(&context, tokenize, &tokens).ok());
  // Tokenize adds the assistant header (2 tokens: <|bom|><|assistant|>) that the append does not.
  EXPECT_EQ(length, tokens.token_ids_size() - 2);
}

TEST_F(CliRemoteTest, ChatCommitsEachTurnToItsSessionAndResetGoesBackToTheStart) {
  StartServer();
  // The first reply is the greedy reply to the same message without a session.
  v1::GenerateRequest request;
  v1::ChatMessage& hello = *request.mutable_messages()->add_messages();
  hello.set_role(v1::ChatMessage::USER);
  hello.set_content("Hello there");
  request.set_max_tokens(4);
  request.mutable_sampling()->set_temperature(0);
  const GenerateOutcome expected = testing::Generate(*generation_, request);
  ASSERT_TRUE(expected.status.ok());
  grpc::ClientContext context;
  v1::TokenizeRequest tokenize;
  *tokenize.mutable_messages() = request.messages();
  tokenize.set_include_pieces(true);
  v1::TokenizeResponse prompt;
  ASSERT_TRUE(models_->Tokenize(&context, tokenize, &prompt).ok());
  // The template's end-of-turn token, which closes the user's message.
  int32_t end_of_turn = -1;
  for (int i = 0; i < prompt.pieces_size(); ++i) {
    if (prompt.pieces(i) == "<|eom|>") end_of_turn = prompt.token_ids(i);
  }
  ASSERT_GE(end_of_turn, 0);

  const std::vector<std::string> greedy = {"--max-tokens", "4", "--temperature", "0"};
  std::vector<std::string> args = {"chat"};
  args.insert(args.end(), greedy.begin(), greedy.end());
  const ProcessResult chat = Jamba(args, "Hello there\n/exit\nnot read\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  EXPECT_EQ(chat.out, expected.text + "\n");
  EXPECT_THAT(chat.err, HasSubstr("chat in session "));

  const std::map<std::string, int64_t> sessions = ListedLengths();
  ASSERT_EQ(sessions.size(), 1u);
  const std::string id = sessions.begin()->first;
  // The message, the reply and, when the reply was cut short, the end-of-turn the chat closes it
  // with: the conversation is ready for the next message.
  const int64_t eom_added = expected.tokens.back() == end_of_turn ? 0 : 1;
  const int64_t after_one_turn =
      prompt.token_ids_size() + static_cast<int64_t>(expected.tokens.size()) + eom_added;
  EXPECT_EQ(sessions.begin()->second, after_one_turn);

  // Continuing it: two more turns, then /reset goes back to where this chat started.
  args.insert(args.end(), {"--session", id});
  const ProcessResult more = Jamba(args, "And then?\nWhy?\n");
  ASSERT_EQ(more.exit_code, 0) << more.err;
  const int32_t after_three_turns = Get(id).token_count();
  EXPECT_GT(after_three_turns, after_one_turn + 10);
  const ProcessResult reset = Jamba(args, "Once more\nAnd more\n/reset\n");
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_THAT(reset.err, HasSubstr("(the conversation starts over)"));
  EXPECT_EQ(Get(id).token_count(), after_three_turns);  // the earlier chats' turns stay
  EXPECT_EQ(ListedLengths().size(), 1u);                // --session makes no new session
}

TEST_F(CliRemoteTest, ChatWithToolsPrintsEachCallAndTakesItsResultFromTheNextLine) {
  StartServer({}, ReasoningDemoModelDir());
  const std::string tools = dir_.File("tools.json");
  WriteFile(tools, R"([{"type": "function", "function": {"name": "get_weather",
      "description": "The weather in a city",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])");
  const std::vector<std::string> args = {"chat",        "--tools",      tools, "--tool-choice",
                                         "get_weather", "--max-tokens", "60",  "--seed",
                                         "11"};
  const ProcessResult chat = Jamba(args, "Weather in Paris?\n22 degrees, sunny\n/exit\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  // The call on stdout; the result line goes back and the reply goes on, which (the choice
  // holds for every round) is another call, whose result is never given: /exit.
  ASSERT_THAT(chat.out, StartsWith("[tool call call_"));
  EXPECT_THAT(chat.out, HasSubstr("] get_weather {"));
  const std::vector<std::string> lines = absl::StrSplit(chat.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << chat.out;
  EXPECT_THAT(lines[1], StartsWith("[tool call call_"));
  EXPECT_NE(lines[0].substr(0, 30), lines[1].substr(0, 30));  // a new call id
  const std::map<std::string, int64_t> sessions = ListedLengths();
  ASSERT_EQ(sessions.size(), 1u);

  // Reasoning streams to stderr, apart from the answer.
  const ProcessResult think =
      Jamba({"chat", "--max-tokens", "24", "--seed", "7"}, "What is 2+2?\n");
  ASSERT_EQ(think.exit_code, 0) << think.err;
  EXPECT_THAT(think.err, HasSubstr("[thinking] "));

  // Bad files and choices are errors before anything is sent.
  WriteFile(dir_.File("bad.json"), R"([{"type": "function", "function": {}}])");
  const ProcessResult bad = Jamba({"chat", "--tools", dir_.File("bad.json")}, "hi\n");
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_THAT(bad.err, HasSubstr("bad.json: "));
  const ProcessResult orphan = Jamba({"chat", "--tool-choice", "required"}, "hi\n");
  EXPECT_EQ(orphan.exit_code, 2) << orphan.err;
  EXPECT_THAT(orphan.err, HasSubstr("--tool-choice needs --tools"));
  const ProcessResult unknown = Jamba({"chat", "--tools", tools, "--tool-choice", "f"}, "hi\n");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_EQ(ListedLengths().size(), 2u);  // only the two chats that ran made sessions
}

TEST_F(CliRemoteTest, ChatDocumentsGoWithTheFirstMessage) {
  StartServer();
  const std::string documents = dir_.File("documents.json");
  WriteFile(documents, R"([{"title": "Q3 report", "text": "Revenue rose by four percent."}])");
  const std::vector<std::string> greedy = {"--max-tokens", "2", "--temperature", "0"};
  std::vector<std::string> plain = {"chat"};
  plain.insert(plain.end(), greedy.begin(), greedy.end());
  std::vector<std::string> with_documents = plain;
  with_documents.insert(with_documents.end(), {"--documents", documents});
  ASSERT_EQ(Jamba(plain, "Summarize.\n").exit_code, 0);
  const ProcessResult chat = Jamba(with_documents, "Summarize.\n");
  ASSERT_EQ(chat.exit_code, 0) << chat.err;
  std::vector<int64_t> lengths;
  for (const auto& [id, length] : ListedLengths()) lengths.push_back(length);
  ASSERT_EQ(lengths.size(), 2u);
  // Both replies are two greedy tokens and a closing one; the document is the difference.
  EXPECT_GT(std::max(lengths[0], lengths[1]), std::min(lengths[0], lengths[1]) + 8);
}

TEST_F(CliRemoteTest, ErrorsPrintTheGrpcCodeAndExitWithItsClass) {
  const std::string key_file = dir_.File("api-keys");
  ASSERT_EQ(std::system(absl::StrCat("'", BinaryDir(), "/service/jambad' hash-key acme ", kKey,
                                     " > '", key_file, "'")
                            .c_str()),
            0);
  StartServer({"--api-key-file", key_file});
  const std::vector<std::string> key = {"--api-key", kKey};

  // UNAUTHENTICATED: no key, or a wrong one.
  const ProcessResult no_key = Session("list", {});
  EXPECT_EQ(no_key.exit_code, 4);
  EXPECT_THAT(no_key.err, HasSubstr("jamba session list: UNAUTHENTICATED: "));
  EXPECT_THAT(no_key.err, HasSubstr("reason API_KEY_MISSING"));
  EXPECT_EQ(Session("list", {"--api-key", "wrong"}).exit_code, 4);

  // NOT_FOUND.
  const ProcessResult missing =
      Session("ask", {"--id", "nothing", "--text", "x", "--api-key", kKey});
  EXPECT_EQ(missing.exit_code, 3);
  EXPECT_THAT(missing.err, HasSubstr("NOT_FOUND: "));
  EXPECT_THAT(missing.err, HasSubstr("reason SESSION_NOT_FOUND"));
  EXPECT_EQ(Session("delete", {"--id", "nothing", "--api-key", kKey}).exit_code, 3);

  // INVALID_ARGUMENT, from the server (naming the field) and from the client's own flags.
  const ProcessResult bad =
      Jamba({"generate", "--prompt", "x", "--temperature", "-1", "--api-key", kKey});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("INVALID_ARGUMENT: "));
  EXPECT_THAT(bad.err, HasSubstr("field sampling.temperature"));
  EXPECT_EQ(Session("create", {"--bogus"}).exit_code, 2);
  EXPECT_EQ(Session("ask", {"--api-key", kKey}).exit_code, 2);  // no --id

  // Any other code (ALREADY_EXISTS here) exits 1.
  ASSERT_EQ(Session("create", {"--id", "twice", "--api-key", kKey}).exit_code, 0);
  const ProcessResult twice = Session("create", {"--id", "twice", "--api-key", kKey});
  EXPECT_EQ(twice.exit_code, 1);
  EXPECT_THAT(twice.err, HasSubstr("ALREADY_EXISTS: "));

  // The key from a file, or from JAMBA_API_KEY.
  WriteFile(dir_.File("key"), std::string(kKey) + "\n");
  EXPECT_EQ(Session("list", {"--api-key-file", dir_.File("key")}).exit_code, 0);
  setenv("JAMBA_API_KEY", kKey, 1);
  const ProcessResult from_env = Session("list", {"--json"});
  unsetenv("JAMBA_API_KEY");
  ASSERT_EQ(from_env.exit_code, 0) << from_env.err;
  EXPECT_THAT(from_env.out, HasSubstr("\"twice\""));

  // UNAVAILABLE: nothing listens there (a port of a server that has stopped).
  server_->Signal(SIGTERM);
  ASSERT_EQ(server_->Wait(), 0);
  const ProcessResult down = Session("list", {"--api-key", kKey});
  EXPECT_EQ(down.exit_code, 5);
  EXPECT_THAT(down.err, HasSubstr("UNAVAILABLE: "));
  EXPECT_THAT(down.out, Not(HasSubstr("id ")));
}

TEST_F(CliRemoteTest, ConnectsWithTlsAndMutualTls) {
  ASSERT_TRUE(MakeCertificates(dir_.path()).ok());
  StartServer({"--tls-cert", dir_.File("server.pem"), "--tls-key", dir_.File("server.key"),
               "--tls-client-ca", dir_.File("ca.pem"), "--tls-require-client-cert", "true"});
  const ProcessResult with_cert =
      Session("list", {"--tls-ca", dir_.File("ca.pem"), "--tls-cert", dir_.File("client.pem"),
                       "--tls-key", dir_.File("client.key")});
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.err;
  const ProcessResult without_cert = Session("list", {"--tls-ca", dir_.File("ca.pem")});
  EXPECT_EQ(without_cert.exit_code, 5) << without_cert.err;
  const ProcessResult plaintext = Session("list", {});
  EXPECT_EQ(plaintext.exit_code, 5) << plaintext.err;
  const ProcessResult half = Session("list", {"--tls-cert", dir_.File("client.pem")});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_THAT(half.err, HasSubstr("--tls-cert and --tls-key go together"));
}

}  // namespace
}  // namespace jamba::testing
