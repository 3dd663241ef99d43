// validation: field checks name the field, and invalid UTF-8 is found by walking the wire format.
#include "service/validation.h"

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "jamba/v1/session_service.pb.h"

namespace jamba::service {
namespace {

RequestLimits Limits() {
  RequestLimits limits;
  limits.vocab_size = 512;
  limits.max_context_tokens = 4096;
  limits.max_prompt_tokens = 1024;
  limits.max_completion_tokens = 256;
  limits.default_max_tokens = 16;
  return limits;
}

// The fields named by the BadRequest payload of `status`.
std::vector<std::string> Fields(const absl::Status& status) {
  std::vector<std::string> fields;
  auto payload = status.GetPayload("type.googleapis.com/google.rpc.BadRequest");
  if (!payload.has_value()) return fields;
  google::rpc::BadRequest bad_request;
  EXPECT_TRUE(bad_request.ParseFromString(std::string(*payload)));
  for (const auto& v : bad_request.field_violations()) fields.push_back(v.field());
  return fields;
}

using ::testing::ElementsAre;

TEST(ValidationTest, Utf8ValidatorRejectsMalformedSequences) {
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"));  // é € 😀
  EXPECT_FALSE(IsValidUtf8("\xC3"));                                 // truncated
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));                             // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));                         // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));                     // beyond U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\x80"));                                 // lone continuation
}

TEST(ValidationTest, InvalidUtf8IsFoundByItsFieldPath) {
  v1::GenerateRequest request;
  auto* messages = request.mutable_session()->mutable_messages();
  messages->add_messages()->set_content("fine");
  messages->add_messages()->set_content("PLACEHOLDER");
  request.mutable_stop()->add_stop_strings("ok");
  std::string wire = request.SerializeAsString();
  wire.replace(wire.find("PLACEHOLDER"), 11, "bad\xFF\xFEtext");
  EXPECT_EQ(FindInvalidUtf8Field(*v1::GenerateRequest::descriptor(), wire),
            "session.messages.messages[1].content");

  v1::GenerateRequest stop;
  stop.mutable_stop()->add_stop_strings("a");
  stop.mutable_stop()->add_stop_strings("STOP");
  std::string stop_wire = stop.SerializeAsString();
  stop_wire.replace(stop_wire.find("STOP"), 4, "\xC3(\xC3(");
  EXPECT_EQ(FindInvalidUtf8Field(*v1::GenerateRequest::descriptor(), stop_wire),
            "stop.stop_strings[1]");
  EXPECT_EQ(FindInvalidUtf8Field(*v1::GenerateRequest::descriptor(), request.SerializeAsString()),
            std::nullopt);
}

TEST(ValidationTest, ParseRequestTurnsInvalidUtf8IntoInvalidArgument) {
  v1::AppendToSessionRequest request;
  request.set_text("XXXX");
  std::string wire = request.SerializeAsString();
  wire.replace(wire.find("XXXX"), 4, "\xFF\xFF\xFF\xFF");
  grpc::Slice slice(wire);
  grpc::ByteBuffer buffer(&slice, 1);
  v1::AppendToSessionRequest parsed;
  absl::Status status = ParseRequest(buffer, parsed);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Fields(status), ElementsAre("text"));

  v1::AppendToSessionRequest good;
  good.set_text("héllo");
  v1::AppendToSessionRequest round_trip;
  ASSERT_TRUE(ParseRequest(SerializeResponse(good), round_trip).ok());
  EXPECT_EQ(round_trip.text(), "héllo");
}

TEST(ValidationTest, AValidRequestPasses) {
  v1::GenerateRequest request;
  request.set_prompt("Hello");
  request.set_max_tokens(10);
  request.mutable_sampling()->set_temperature(0.7f);
  request.mutable_sampling()->set_top_p(0.9f);
  request.mutable_stop()->add_stop_strings("\n\n");
  request.set_include_logprobs(true);
  request.set_top_logprobs(5);
  EXPECT_TRUE(ValidateGenerateRequest(request, Limits()).ok());
}

TEST(ValidationTest, EveryBadGenerateFieldIsNamed) {
  v1::GenerateRequest request;
  request.set_prompt("");
  request.set_max_tokens(257);
  request.mutable_sampling()->set_temperature(2.5f);
  request.mutable_sampling()->set_top_p(0.0f);
  request.mutable_sampling()->set_top_k(513);
  request.mutable_sampling()->set_min_p(1.0f);
  request.mutable_sampling()->set_repetition_penalty(0.0f);
  request.mutable_sampling()->set_presence_penalty(-3.0f);
  request.mutable_sampling()->set_frequency_penalty(2.5f);
  request.mutable_stop()->add_stop_strings("");
  request.mutable_stop()->add_stop_token_ids(512);
  request.set_top_logprobs(3);
  EXPECT_THAT(Fields(ValidateGenerateRequest(request, Limits())),
              ElementsAre("prompt", "max_tokens", "sampling.temperature", "sampling.top_p",
                          "sampling.top_k", "sampling.min_p", "sampling.repetition_penalty",
                          "sampling.presence_penalty", "sampling.frequency_penalty",
                          "stop.stop_strings[0]", "stop.stop_token_ids[0]", "top_logprobs"));
}

TEST(ValidationTest, TooManyStopStringsAndTooLongOnesAreNamed) {
  v1::GenerateRequest request;
  request.set_prompt("x");
  for (int i = 0; i < 17; ++i) request.mutable_stop()->add_stop_strings("s");
  *request.mutable_stop()->mutable_stop_strings(4) = std::string(257, 'a');
  EXPECT_THAT(Fields(ValidateGenerateRequest(request, Limits())),
              ElementsAre("stop.stop_strings", "stop.stop_strings[4]"));
}

TEST(ValidationTest, InputShapesAreChecked) {
  v1::GenerateRequest none;
  EXPECT_THAT(Fields(ValidateGenerateRequest(none, Limits())), ElementsAre("input"));

  v1::GenerateRequest ids;
  ids.mutable_prompt_token_ids()->add_ids(5);
  ids.mutable_prompt_token_ids()->add_ids(-1);
  EXPECT_THAT(Fields(ValidateGenerateRequest(ids, Limits())),
              ElementsAre("prompt_token_ids.ids[1]"));

  v1::GenerateRequest too_long;
  for (int i = 0; i < 1025; ++i) too_long.mutable_prompt_token_ids()->add_ids(3);
  absl::Status status = ValidateGenerateRequest(too_long, Limits());
  EXPECT_THAT(Fields(status), ElementsAre("prompt_token_ids.ids"));
  EXPECT_EQ(ReasonOf(status), "CONTEXT_LENGTH_EXCEEDED");

  v1::GenerateRequest chat;
  chat.mutable_messages()->add_messages()->set_role(v1::ChatMessage::USER);
  chat.mutable_messages()->add_messages()->set_role(v1::ChatMessage::SYSTEM);
  chat.mutable_messages()->add_messages();
  EXPECT_THAT(Fields(ValidateGenerateRequest(chat, Limits())),
              ElementsAre("messages.messages[1].role", "messages.messages[2].role"));

  v1::GenerateRequest session;
  session.mutable_session()->set_session("sessions/Bad_Name");
  session.mutable_session()->set_text("");
  EXPECT_THAT(Fields(ValidateGenerateRequest(session, Limits())),
              ElementsAre("session.session", "session.text"));
}

TEST(ValidationTest, SessionAndCheckpointNames) {
  EXPECT_EQ(*ParseSessionName("sessions/contract-2024", "name"), "contract-2024");
  for (const char* bad : {"", "contract", "sessions/", "sessions/-a", "sessions/a-",
                          "sessions/UPPER", "sessions/a/b", "projects/x/sessions/a"}) {
    absl::StatusOr<std::string> id = ParseSessionName(bad, "name");
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Fields(id.status()), ElementsAre("name")) << bad;
  }
  EXPECT_TRUE(IsValidSessionId(std::string(63, 'a')));
  EXPECT_FALSE(IsValidSessionId(std::string(64, 'a')));

  auto checkpoint = ParseCheckpointName("sessions/doc/checkpoints/4096", "checkpoint");
  ASSERT_TRUE(checkpoint.ok());
  EXPECT_EQ(checkpoint->session_id, "doc");
  EXPECT_EQ(checkpoint->position, 4096);
  EXPECT_EQ(ParseCheckpointName("sessions/doc/checkpoints/0", "c")->position, 0);
  for (const char* bad : {"sessions/doc/checkpoints/", "sessions/doc/checkpoints/007",
                          "sessions/doc/checkpoints/-1", "sessions/doc", "sessions/doc/cp/1"}) {
    EXPECT_EQ(ParseCheckpointName(bad, "c").status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(ValidationTest, PageSizes) {
  EXPECT_EQ(*EffectivePageSize(0, 50), 50);
  EXPECT_EQ(*EffectivePageSize(7, 50), 7);
  EXPECT_EQ(*EffectivePageSize(5000, 50), 1000);
  EXPECT_THAT(Fields(EffectivePageSize(-1, 50).status()), ElementsAre("page_size"));
}

TEST(ValidationTest, DisplayNamesCountCharactersNotBytes) {
  FieldErrors ok;
  std::string accented;
  for (int i = 0; i < 256; ++i) accented += "\xC3\xA9";  // 256 characters, 512 bytes
  ValidateDisplayName(accented, "session.display_name", ok);
  EXPECT_TRUE(ok.empty());
  FieldErrors too_long;
  ValidateDisplayName(accented + "x", "session.display_name", too_long);
  EXPECT_THAT(Fields(too_long.ToStatus()), ElementsAre("session.display_name"));
}

}  // namespace
}  // namespace jamba::service
