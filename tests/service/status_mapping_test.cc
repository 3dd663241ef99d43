// status_mapping: absl statuses with detail payloads become gRPC statuses whose
// grpc-status-details-bin carries the google.rpc details clients read, and the HTTP API's
// statuses and OpenAI error objects.
#include "service/status_mapping.h"

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"

namespace jamba::service {
namespace {

google::rpc::Status Details(const grpc::Status& status) {
  google::rpc::Status details;
  EXPECT_TRUE(details.ParseFromString(status.error_details()));
  return details;
}

template <typename Detail>
std::vector<Detail> Unpack(const google::rpc::Status& details) {
  std::vector<Detail> out;
  for (const google::protobuf::Any& any : details.details()) {
    Detail detail;
    if (any.UnpackTo(&detail)) out.push_back(detail);
  }
  return out;
}

TEST(StatusMappingTest, InvalidFieldsCarryABadRequestAndTheInvalidFieldReason) {
  FieldErrors errors;
  errors.Add("sampling.top_p", "must be in (0, 1], got 0");
  errors.Add("stop.stop_strings[3]", "must be 1 to 256 bytes, got 0");
  const grpc::Status status = ToGrpcStatus(errors.ToStatus());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  const google::rpc::Status details = Details(status);
  EXPECT_EQ(details.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  const auto bad_requests = Unpack<google::rpc::BadRequest>(details);
  ASSERT_EQ(bad_requests.size(), 1u);
  ASSERT_EQ(bad_requests[0].field_violations_size(), 2);
  EXPECT_EQ(bad_requests[0].field_violations(0).field(), "sampling.top_p");
  EXPECT_EQ(bad_requests[0].field_violations(1).field(), "stop.stop_strings[3]");
  const auto infos = Unpack<google::rpc::ErrorInfo>(details);
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].reason(), "INVALID_FIELD");
  EXPECT_EQ(infos[0].domain(), "jamba.ai");
}

TEST(StatusMappingTest, ContextLengthViolationsChangeTheReason) {
  FieldErrors errors;
  errors.AddContextLength("prompt", "5000 tokens exceed max_prompt_tokens (4096)");
  const auto infos = Unpack<google::rpc::ErrorInfo>(Details(ToGrpcStatus(errors.ToStatus())));
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].reason(), "CONTEXT_LENGTH_EXCEEDED");
}

TEST(StatusMappingTest, QueueFullHasRetryInfo) {
  const grpc::Status status = ToGrpcStatus(QueueFull("queue full", absl::Milliseconds(1500)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const google::rpc::Status details = Details(status);
  const auto retries = Unpack<google::rpc::RetryInfo>(details);
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].retry_delay().seconds(), 1);
  EXPECT_EQ(retries[0].retry_delay().nanos(), 500000000);
  EXPECT_EQ(Unpack<google::rpc::ErrorInfo>(details)[0].reason(), "QUEUE_FULL");
}

TEST(StatusMappingTest, ASessionOwnedElsewhereHasRetryInfoAndNamesTheOwner) {
  const grpc::Status status = ToGrpcStatus(
      OwnedElsewhere(absl::UnavailableError("session \"a\" is in use by replica jambad-1"),
                     "sessions/a", "jambad-1", absl::Milliseconds(6500)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  const google::rpc::Status details = Details(status);
  const auto infos = Unpack<google::rpc::ErrorInfo>(details);
  ASSERT_EQ(infos.size(), 1u);  // the attached one, metadata and all: not a second default
  EXPECT_EQ(infos[0].reason(), "SESSION_OWNED_ELSEWHERE");
  EXPECT_EQ(infos[0].domain(), "jamba.ai");
  ASSERT_EQ(infos[0].metadata().count("owner"), 1u);
  EXPECT_EQ(infos[0].metadata().at("owner"), "jambad-1");
  const auto retries = Unpack<google::rpc::RetryInfo>(details);
  ASSERT_EQ(retries.size(), 1u);
  EXPECT_EQ(retries[0].retry_delay().seconds(), 6);
  EXPECT_EQ(retries[0].retry_delay().nanos(), 500000000);
  EXPECT_EQ(Unpack<google::rpc::ResourceInfo>(details)[0].resource_name(), "sessions/a");
  // The delay is bounded both ways.
  const auto bounded = [](absl::Duration d) {
    return Unpack<google::rpc::RetryInfo>(Details(
        ToGrpcStatus(OwnedElsewhere(absl::UnavailableError("x"), "sessions/a", "r", d))))[0];
  };
  EXPECT_EQ(bounded(absl::ZeroDuration()).retry_delay().nanos(), 100000000);
  EXPECT_EQ(bounded(absl::Hours(1)).retry_delay().seconds(), 30);
  // Through the HTTP API: 503 with Retry-After.
  const HttpError http = ToHttpError(OwnedElsewhere(absl::UnavailableError("in use"), "sessions/a",
                                                    "jambad-1", absl::Milliseconds(6500)),
                                     [](absl::string_view path) { return std::string(path); });
  EXPECT_EQ(http.status, 503);
  EXPECT_EQ(http.code, "session_owned_elsewhere");
  ASSERT_TRUE(http.retry_after.has_value());
  EXPECT_EQ(*http.retry_after, absl::Milliseconds(6500));
}

TEST(StatusMappingTest, NotFoundNamesTheResource) {
  const grpc::Status status = ToGrpcStatus(
      WithResource(absl::NotFoundError("session \"a\" not found"), kSessionType, "sessions/a"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  const google::rpc::Status details = Details(status);
  const auto resources = Unpack<google::rpc::ResourceInfo>(details);
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].resource_type(), "jamba.v1.Session");
  EXPECT_EQ(resources[0].resource_name(), "sessions/a");
  EXPECT_EQ(Unpack<google::rpc::ErrorInfo>(details)[0].reason(), "SESSION_NOT_FOUND");
}

TEST(StatusMappingTest, AnExplicitReasonWinsOverTheDefault) {
  const absl::Status status =
      WithReason(absl::FailedPreconditionError("no chat template"), kReasonChatTemplateMissing);
  EXPECT_EQ(ReasonOf(status), "CHAT_TEMPLATE_MISSING");
  const auto infos = Unpack<google::rpc::ErrorInfo>(Details(ToGrpcStatus(status)));
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].reason(), "CHAT_TEMPLATE_MISSING");
}

TEST(StatusMappingTest, CancelledAndDeadlineCarryNoDetails) {
  EXPECT_TRUE(ToGrpcStatus(absl::CancelledError("x")).error_details().empty());
  const grpc::Status deadline = ToGrpcStatus(absl::DeadlineExceededError("late"));
  EXPECT_EQ(deadline.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(deadline.error_details().empty());
}

TEST(StatusMappingTest, OkStaysOk) { EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok()); }

TEST(StatusMappingTest, LongValuesAreQuotedShortWithTheirSize) {
  EXPECT_EQ(QuoteValue("sessions/a"), "\"sessions/a\"");
  const std::string name = "sessions/" + std::string(4000, 'a');
  const std::string quoted = QuoteValue(name);
  EXPECT_LT(quoted.size(), 100u);
  EXPECT_NE(quoted.find("(4009 bytes)"), std::string::npos) << quoted;
  // Never cut inside a character: 100 two-byte characters.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "\xC3\xA9";
  const std::string cut = QuoteValue(accents);
  EXPECT_EQ(cut.find("\xC3\""), std::string::npos);
  EXPECT_NE(cut.find("\xC3\xA9\xE2\x80\xA6"), std::string::npos) << cut;
}

TEST(StatusMappingTest, EveryErrorFitsTheDefaultMetadataLimit) {
  // A request with thousands of bad fields, each echoing a long value, and a huge message.
  FieldErrors errors;
  for (int i = 0; i < 5000; ++i) {
    errors.Add("prompt_token_ids.ids[" + std::to_string(i) + "]", std::string(10000, 'x'));
  }
  const absl::Status invalid = errors.ToStatus();
  const absl::Status busy = WithResource(absl::AbortedError(std::string(1 << 20, 'y')),
                                         "jamba.v1.Session", std::string(1 << 20, 'z'));
  for (const absl::Status& status : {invalid, busy}) {
    const grpc::Status out = ToGrpcStatus(status);
    EXPECT_LE(out.error_message().size(), kMaxErrorMessageBytes);
    // Base64 of the details plus a percent-encoded message stay well inside 8 KiB.
    EXPECT_LT(out.error_details().size() * 4 / 3 + out.error_message().size() * 3, 8000u);
  }
  const auto bad = Unpack<google::rpc::BadRequest>(Details(ToGrpcStatus(invalid)));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].field_violations_size(), static_cast<int>(kMaxFieldViolations));
  EXPECT_NE(std::string(invalid.message()).find("\xE2\x80\xA6"), std::string::npos);
}

TEST(StatusMappingTest, PrivatePathsAreReplacedInTheMessageAndTheDetails) {
  const absl::Status status =
      WithResource(absl::DataLossError("/var/lib/jambad/sessions/acme/s1/seg-3: checksum"),
                   "jamba.v1.Session", "sessions/s1");
  const absl::Status clean =
      WithoutPrivatePaths(status, {{"/var/lib/jambad/sessions", "<session_dir>"}});
  EXPECT_EQ(clean.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(clean.message(), "<session_dir>/acme/s1/seg-3: checksum");
  const auto resources = Unpack<google::rpc::ResourceInfo>(Details(ToGrpcStatus(clean)));
  ASSERT_EQ(resources.size(), 1u);
  EXPECT_EQ(resources[0].description(), "<session_dir>/acme/s1/seg-3: checksum");
  EXPECT_EQ(resources[0].resource_name(), "sessions/s1");
  // Nothing to replace: the very same status.
  EXPECT_EQ(WithoutPrivatePaths(status, {{"/elsewhere", "<x>"}}), status);
}

std::string Same(absl::string_view path) { return std::string(path); }

TEST(HttpErrorTest, EachCodeHasItsHttpStatus) {
  struct Case {
    absl::Status status;
    int http;
    const char* type;
    const char* code;
  };
  const Case cases[] = {
      {InvalidField("top_p", "bad"), 400, "invalid_request_error", "invalid_field"},
      {WithReason(absl::UnauthenticatedError("unknown API key"), kReasonApiKeyInvalid), 401,
       "authentication_error", "api_key_invalid"},
      {absl::UnauthenticatedError("x"), 401, "authentication_error", "api_key_invalid"},
      {absl::PermissionDeniedError("x"), 403, "permission_error", "internal"},
      {WithReason(absl::NotFoundError("x"), kReasonSessionNotFound), 404, "not_found_error",
       "session_not_found"},
      {WithReason(absl::NotFoundError("x"), kReasonModelNotFound), 404, "not_found_error",
       "model_not_found"},
      {absl::DeadlineExceededError("x"), 408, "timeout_error", "deadline_exceeded"},
      {WithReason(absl::AbortedError("x"), kReasonSessionBusy), 409, "conflict_error",
       "session_busy"},
      {WithReason(absl::AlreadyExistsError("x"), kReasonSessionExists), 409, "conflict_error",
       "session_already_exists"},
      {WithReason(absl::FailedPreconditionError("x"), kReasonSessionsDisabled), 400,
       "invalid_request_error", "sessions_disabled"},
      {WithReason(absl::ResourceExhaustedError("x"), kReasonRequestTooLarge), 413,
       "invalid_request_error", "request_too_large"},
      {QueueFull("full", absl::Seconds(2)), 429, "rate_limit_error", "queue_full"},
      {WithQuotaViolation(absl::ResourceExhaustedError("x"), "server", "quota"), 429,
       "insufficient_quota", "quota_exceeded"},
      {WithReason(absl::ResourceExhaustedError("x"), kReasonStorageFull), 507, "server_error",
       "storage_full"},
      {absl::InternalError("x"), 500, "server_error", "internal"},
      {WithReason(absl::DataLossError("x"), kReasonSessionCorrupted), 500, "server_error",
       "session_corrupted"},
      {Draining(absl::Seconds(1)), 503, "server_error", "server_unavailable"},
      {absl::CancelledError("x"), 499, "cancelled", "cancelled"},
  };
  for (const Case& c : cases) {
    const HttpError error = ToHttpError(c.status, Same);
    EXPECT_EQ(error.status, c.http) << c.status;
    EXPECT_EQ(error.type, c.type) << c.status;
    EXPECT_EQ(error.code, c.code) << c.status;
  }
}

TEST(HttpErrorTest, AFullQueueAndADrainingServerSayWhenToRetry) {
  const HttpError full = ToHttpError(QueueFull("full", absl::Milliseconds(1500)), Same);
  ASSERT_TRUE(full.retry_after.has_value());
  EXPECT_EQ(*full.retry_after, absl::Milliseconds(1500));
  const HttpError draining = ToHttpError(Draining(absl::Seconds(3)), Same);
  ASSERT_TRUE(draining.retry_after.has_value());
  EXPECT_EQ(*draining.retry_after, absl::Seconds(3));
  EXPECT_FALSE(ToHttpError(absl::InternalError("x"), Same).retry_after.has_value());
}

TEST(HttpErrorTest, FieldPathsAreNamedAsTheClientNamedThem) {
  FieldErrors errors;
  errors.Add("sampling.top_p", "must be in (0, 1], got 0");
  errors.Add("messages.messages[2].role", "a SYSTEM message must be the first message");
  const HttpError error = ToHttpError(errors.ToStatus(), [](absl::string_view path) {
    if (path == "sampling.top_p") return std::string("top_p");
    return std::string("messages[2].role");
  });
  EXPECT_EQ(error.param, "top_p");
  EXPECT_EQ(error.message,
            "top_p: must be in (0, 1], got 0; messages[2].role: a SYSTEM message must be the "
            "first message");
}

TEST(HttpErrorTest, UnsupportedFieldsKeepTheirExactMessage) {
  const HttpError error = ToHttpError(
      UnsupportedField("tools", "tools are not supported by this server version yet"), Same);
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.param, "tools");
  EXPECT_EQ(error.code, "unsupported_parameter");
  EXPECT_EQ(error.message, "tools are not supported by this server version yet");
}

TEST(HttpErrorTest, MessagesStayBounded) {
  const HttpError error = ToHttpError(absl::InvalidArgumentError(std::string(100000, 'x')), Same);
  EXPECT_LE(error.message.size(), kMaxErrorMessageBytes);
}

}  // namespace
}  // namespace jamba::service
