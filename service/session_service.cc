// SessionService: the unary methods as handlers on the session pool, and the AppendToSession
// reactor.
#include "service/session_service.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/empty.pb.h"
#include "service/page_token.h"
#include "service/proto_mapping.h"
#include "service/session_support.h"
#include "service/status_mapping.h"
#include "service/stream_reactor.h"
#include "service/validation.h"

namespace jamba::service {
namespace {

constexpr char kService[] = "jamba.v1.SessionService/";
constexpr int kDefaultSessionPageSize = 50;
constexpr int kDefaultCheckpointPageSize = 100;
// Text an append may send per token of context: far above any tokenizer's bytes per token, but a
// bound, so a stream cannot grow the server's memory without limit before it is tokenized.
constexpr int64_t kMaxAppendBytesPerToken = 64;

std::string Method(absl::string_view name) { return absl::StrCat(kService, name); }

v1::Session ToProto(const ServiceContext& ctx, const SessionView& view) {
  return view.ToProto(ctx.model_id, ctx.engine->model_info().fingerprint);
}

absl::Status SessionError(absl::Status status, const ServiceContext& ctx, const std::string& name,
                          const std::string& field) {
  EngineErrorContext error;
  error.session_name = name;
  error.field = field;
  error.retry_delay = ctx.retry_delay;
  return AnnotateEngineError(std::move(status), error);
}

absl::Status AlreadyExists(const std::string& name) {
  return WithReason(WithResource(absl::AlreadyExistsError(absl::StrCat(name, " already exists")),
                                 kSessionType, name),
                    kReasonSessionExists);
}

// The checkpoint at API position `position` of `view`, as the SDK's position; NOT_FOUND when the
// session has none there.
absl::StatusOr<int64_t> FindCheckpoint(const ServiceContext& ctx, const std::string& tenant,
                                       const SessionView& view, int64_t position,
                                       const std::string& checkpoint_name) {
  absl::StatusOr<std::vector<CheckpointInfo>> checkpoints =
      ctx.engine->ListCheckpoints(tenant, view.info().id);
  if (!checkpoints.ok()) {
    return SessionError(checkpoints.status(), ctx, SessionName(view.info().id), "name");
  }
  const bool found =
      view.IsApiPosition(position) &&
      std::any_of(checkpoints->begin(), checkpoints->end(), [&](const CheckpointInfo& c) {
        return view.ToApiPosition(c.position) == position;
      });
  if (!found) {
    return WithReason(
        WithResource(absl::NotFoundError(absl::StrCat(checkpoint_name, " does not exist")),
                     kCheckpointType, checkpoint_name),
        kReasonCheckpointNotFound);
  }
  return view.ToSdkPosition(position);
}

// A checkpoint name in `field` that must belong to session `id`.
absl::StatusOr<int64_t> ParseOwnCheckpoint(const std::string& name, const std::string& id,
                                           const std::string& field) {
  absl::StatusOr<ParsedCheckpoint> checkpoint = ParseCheckpointName(name, field);
  if (!checkpoint.ok()) return checkpoint.status();
  if (checkpoint->session_id != id) {
    return InvalidField(
        field, absl::StrCat(QuoteValue(name), " is not a checkpoint of ", SessionName(id)));
  }
  return checkpoint->position;
}

// ---- AppendToSession ----

class AppendCall final
    : public StreamReactor<grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                           v1::AppendToSessionResponse> {
 public:
  AppendCall(const ServiceContext& ctx, grpc::CallbackServerContext* context)
      : StreamReactor(ctx, context, Method("AppendToSession")) {
    absl::Status status = record().Admit();
    if (status.ok()) status = RequireSessions(ctx);
    if (!status.ok()) {
      Complete(status);
      return;
    }
    StartRead(&read_buffer_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed, or the call ended
      if (cancelled()) {
        Fail(absl::CancelledError("the client cancelled the append; nothing was changed"));
      } else if (!lease_.has_value()) {
        Fail(InvalidField("config", "the stream ended before its AppendToSessionConfig"));
      } else if (!ctx().stream_pool->TrySubmit(record().tenant(), [this] { Complete(Run()); })) {
        Fail(QueueFull("every stream worker is busy and their queue is full; retry later",
                       ctx().retry_delay));
      }
      return;
    }
    absl::Status status = Accept();
    if (!status.ok()) {
      Fail(status);  // no further read: the remaining chunks are dropped with the call
      return;
    }
    StartRead(&read_buffer_);
  }

 private:
  struct Segment {
    enum class Kind { kText, kTokens, kMessage } kind;
    std::string text;  // text, or the message content
    std::vector<int32_t> tokens;
    v1::ChatMessage::Role role = v1::ChatMessage::ROLE_UNSPECIFIED;
  };

  void Merge(v1::AppendToSessionResponse& pending,
             v1::AppendToSessionResponse&& next) const override {
    pending = std::move(next);  // progress is cumulative: the newer report says it all
  }

  // Ends the call with an error. The session is freed first, so that a client retrying right
  // after the status never finds it busy with this call.
  void Fail(const absl::Status& status) {
    lease_.reset();
    Complete(status);
  }

  absl::Status AcceptConfig(const v1::AppendToSessionConfig& config) {
    FieldErrors errors;
    if (std::string problem = SessionNameProblem(config.session()); !problem.empty()) {
      errors.Add("config.session", std::move(problem));
    }
    if (config.message_role() != v1::ChatMessage::ROLE_UNSPECIFIED &&
        RoleName(config.message_role()).empty()) {
      errors.Add("config.message_role", "must be SYSTEM, USER or ASSISTANT, or unset");
    }
    if (config.parse_special_tokens() &&
        config.message_role() != v1::ChatMessage::ROLE_UNSPECIFIED) {
      errors.Add("config.parse_special_tokens",
                 "not allowed with message_role: message content is always plain text");
    }
    const int32_t interval = config.progress_interval_tokens();
    if (interval != 0 && (interval < kMinProgressInterval || interval > kMaxProgressInterval)) {
      errors.Add(
          "config.progress_interval_tokens",
          absl::StrCat("must be 0 (default ", kDefaultProgressInterval, ") or in [",
                       kMinProgressInterval, ", ", kMaxProgressInterval, "], got ", interval));
    }
    if (!errors.empty()) return errors.ToStatus();
    if (config.message_role() != v1::ChatMessage::ROLE_UNSPECIFIED) {
      absl::Status chat = RequireChatTemplate(ctx(), "config.message_role");
      if (!chat.ok()) return chat;
    }
    id_ = config.session().substr(sizeof("sessions/") - 1);
    name_ = config.session();
    // Checked when the stream starts, as the API promises, and held until it ends.
    absl::StatusOr<SessionLocks::Lease> lease =
        ctx().session_locks->TryAcquire(record().tenant(), id_);
    if (!lease.ok()) return lease.status();
    absl::StatusOr<SessionView> session = LookupSession(ctx(), record().tenant(), id_);
    if (!session.ok()) return session.status();
    absl::Status etag = CheckEtag(*session, config.etag());
    if (!etag.ok()) return etag;
    session_.emplace(*std::move(session));
    lease_.emplace(*std::move(lease));
    role_ = config.message_role();
    parse_special_tokens_ = config.parse_special_tokens();
    progress_interval_ = interval == 0 ? kDefaultProgressInterval : interval;
    // The response headers now tell the client the stream is established (the session exists,
    // is not busy and matches the etag) before it sends a large document.
    StartSendInitialMetadata();
    return absl::OkStatus();
  }

  // One message of the client's stream, on a gRPC thread.
  absl::Status Accept() {
    v1::AppendToSessionRequest request;
    record().AddRequestBytes(static_cast<int64_t>(read_buffer_.Length()));
    absl::Status parsed = ParseRequest(read_buffer_, request);
    if (!parsed.ok()) return parsed;
    if (!lease_.has_value()) {
      if (!request.has_config()) {
        return InvalidField("config", "the first message must be an AppendToSessionConfig");
      }
      return AcceptConfig(request.config());
    }
    switch (request.request_case()) {
      case v1::AppendToSessionRequest::kConfig:
        return InvalidField("config", "only the first message may be a config");
      case v1::AppendToSessionRequest::kText:
        if (request.text().empty()) return InvalidField("text", "a text chunk must not be empty");
        bytes_received_ += static_cast<int64_t>(request.text().size());
        has_text_ = true;
        // Joined with the previous text chunk: a document may be cut anywhere.
        if (!segments_.empty() && segments_.back().kind == Segment::Kind::kText) {
          segments_.back().text += request.text();
        } else {
          segments_.push_back({Segment::Kind::kText, request.text(), {}, {}});
        }
        break;
      case v1::AppendToSessionRequest::kTokenIds: {
        FieldErrors errors;
        ValidateTokenIds(request.token_ids(), ctx().limits.vocab_size, "token_ids", errors);
        if (!errors.empty()) return errors.ToStatus();
        tokens_sent_ += request.token_ids().ids_size();
        segments_.push_back({Segment::Kind::kTokens,
                             "",
                             {request.token_ids().ids().begin(), request.token_ids().ids().end()},
                             {}});
        break;
      }
      case v1::AppendToSessionRequest::kMessage: {
        if (role_ != v1::ChatMessage::ROLE_UNSPECIFIED) {
          return InvalidField("message", "not allowed when config.message_role is set");
        }
        FieldErrors errors;
        ValidateChatRole(request.message().role(), /*first=*/true, "message.role", errors);
        if (!errors.empty()) return errors.ToStatus();
        absl::Status chat = RequireChatTemplate(ctx(), "message");
        if (!chat.ok()) return chat;
        bytes_received_ += static_cast<int64_t>(request.message().content().size());
        segments_.push_back(
            {Segment::Kind::kMessage, request.message().content(), {}, request.message().role()});
        break;
      }
      case v1::AppendToSessionRequest::REQUEST_NOT_SET:
        return InvalidField("request", "a message must carry text, token_ids or a message");
    }
    ++chunks_received_;
    const int64_t max_context = ctx().limits.max_context_tokens;
    if (bytes_received_ > max_context * kMaxAppendBytesPerToken || tokens_sent_ > max_context) {
      FieldErrors errors;
      errors.AddContextLength(
          tokens_sent_ > max_context ? "token_ids" : "text",
          absl::StrCat("the content cannot fit in max_context_tokens (", max_context, ")"));
      return errors.ToStatus();
    }
    return absl::OkStatus();
  }

  // The tokens of everything received, as they continue the session.
  absl::StatusOr<std::vector<int32_t>> Tokens() const {
    std::vector<int32_t> tokens;
    const std::string role = RoleName(role_);
    const bool all_text = std::all_of(segments_.begin(), segments_.end(), [](const Segment& s) {
      return s.kind == Segment::Kind::kText;
    });
    if (!role.empty() && all_text) {
      // One chat message of the whole text: exactly what the template renders.
      const std::string text = segments_.empty() ? "" : segments_.front().text;
      Input message = Input::Chat({{role, text}}, /*add_generation_prompt=*/false);
      message.continue_conversation = session_->info().token_count > 0;
      return ChatTokens(ctx(), message, /*with_bos=*/false, "text");
    }
    std::vector<int32_t> end_of_turn;
    if (!role.empty()) {
      auto frame = MessageFrame(ctx(), role, "config.message_role");
      if (!frame.ok()) return frame.status();
      tokens = std::move(frame->first);
      end_of_turn = std::move(frame->second);
    }
    for (const Segment& segment : segments_) {
      absl::StatusOr<std::vector<int32_t>> piece;
      switch (segment.kind) {
        case Segment::Kind::kText: {
          // Each text stops tokenizing once the session could not hold it.
          TextTokenOptions options;
          options.parse_special_tokens = parse_special_tokens_;
          options.max_tokens = ctx().limits.max_context_tokens - session_->info().token_count -
                               static_cast<int64_t>(tokens.size());
          options.limit_name = "the room left in max_context_tokens";
          piece = TextTokens(ctx(), segment.text, options, "text");
          break;
        }
        case Segment::Kind::kTokens:
          piece = segment.tokens;
          break;
        case Segment::Kind::kMessage: {
          Input message = Input::Chat({{RoleName(segment.role), segment.text}},
                                      /*add_generation_prompt=*/false);
          message.continue_conversation = session_->info().token_count > 0 || !tokens.empty();
          piece = ChatTokens(ctx(), message, /*with_bos=*/false, "message");
          break;
        }
      }
      if (!piece.ok()) return piece.status();
      tokens.insert(tokens.end(), piece->begin(), piece->end());
    }
    tokens.insert(tokens.end(), end_of_turn.begin(), end_of_turn.end());
    return tokens;
  }

  v1::AppendToSessionResponse Progress(int64_t received, int64_t processed, int64_t restored) {
    v1::AppendToSessionResponse response;
    v1::AppendProgress* p = response.mutable_progress();
    p->set_chunks_received(chunks_received_);
    p->set_bytes_received(bytes_received_);
    p->set_tokens_received(static_cast<int32_t>(received));
    p->set_tokens_processed(static_cast<int32_t>(processed));
    p->set_restored_tokens(static_cast<int32_t>(restored));
    p->set_recomputed_tokens(static_cast<int32_t>(processed - restored));
    return response;
  }

  // After the client half-closed, on a stream worker thread.
  absl::Status Run() {
    absl::Status status = Append();
    lease_.reset();  // (on every path: the session is free before the client sees the status)
    return status;
  }

  absl::Status Append() {
    if (cancelled()) return absl::CancelledError("the client cancelled the append");
    const std::string field = has_text_ ? "text" : tokens_sent_ > 0 ? "token_ids" : "message";
    absl::StatusOr<std::vector<int32_t>> tokens = Tokens();
    if (!tokens.ok()) return tokens.status();
    if (segments_.empty()) return InvalidField("request", "the stream carried no content");
    const SessionView& session = *session_;
    const bool at_start = session.info().token_count == 0;
    if (session.virtual_bos()) {
      tokens->insert(tokens->begin(), ctx().engine->model_info().bos_token_id);
    }
    const int64_t received = static_cast<int64_t>(tokens->size());
    const int64_t total = session.info().token_count + received;
    if (total > ctx().limits.max_context_tokens) {
      FieldErrors errors;
      errors.AddContextLength(field, absl::StrCat("the session would hold ", total,
                                                  " tokens, over max_context_tokens (",
                                                  ctx().limits.max_context_tokens, ")"));
      return errors.ToStatus();
    }
    Send(Progress(received, 0, 0));

    // The first report of a request comes as it leaves the engine's queue, with the tokens
    // already in the state: those restored from a stored checkpoint.
    std::optional<int64_t> restored;
    int64_t last_reported = 0;
    AppendOptions options;
    options.deadline = record().deadline();
    options.on_progress = [&](int64_t done, int64_t) {
      if (cancelled()) return false;
      if (!restored.has_value()) restored = done;
      if (done - last_reported >= progress_interval_) {
        last_reported = done;
        Send(Progress(received, done, *restored));
      }
      return !cancelled();
    };
    absl::StatusOr<AppendResult> result = ctx().engine->AppendToSession(
        record().tenant(), id_, Input::Tokens(*std::move(tokens)), options);
    // Done with the session: free it before the client can see the outcome.
    lease_.reset();
    if (!result.ok()) return SessionError(result.status(), ctx(), name_, field);

    record().SetTokens(received, 0);
    ctx().metrics->AddPromptTokens(result->usage.restored_tokens, result->usage.recomputed_tokens);
    if (at_start) {
      const bool hit = result->usage.restored_tokens > 0;
      ctx().metrics->CountSessionLookup(hit ? "hit" : "miss", hit ? "prefix" : "no_prefix");
    } else {
      ctx().metrics->CountSessionLookup("hit", session.info().in_memory ? "memory" : "disk");
    }
    v1::AppendToSessionResponse last = Progress(received, received, result->usage.restored_tokens);
    const SessionView updated(result->session, ctx().engine->model_info().bos_token_id);
    *last.mutable_session() = ToProto(ctx(), updated);
    Send(std::move(last));
    return absl::OkStatus();
  }

  grpc::ByteBuffer read_buffer_;
  // Set by the config (gRPC thread, before the worker starts).
  std::optional<SessionLocks::Lease> lease_;
  std::optional<SessionView> session_;
  std::string id_;
  std::string name_;
  v1::ChatMessage::Role role_ = v1::ChatMessage::ROLE_UNSPECIFIED;
  bool parse_special_tokens_ = false;
  int64_t progress_interval_ = kDefaultProgressInterval;
  // Content received (gRPC thread; read by the worker after the last read).
  std::vector<Segment> segments_;
  int32_t chunks_received_ = 0;
  int64_t bytes_received_ = 0;
  int64_t tokens_sent_ = 0;
  bool has_text_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* SessionService::CreateSession(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return ServeUnary<v1::CreateSessionRequest, v1::Session>(
      ctx_, context, Method("CreateSession"), request, response, ctx_.session_pool,
      [this](const v1::CreateSessionRequest& req, CallRecord& call) -> absl::StatusOr<v1::Session> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        FieldErrors errors;
        if (!req.session_id().empty() && !IsValidSessionId(req.session_id())) {
          errors.Add("session_id",
                     "must be 1-63 lowercase letters, digits and hyphens, not starting or "
                     "ending with a hyphen");
        }
        ValidateDisplayName(req.session().display_name(), "session.display_name", errors);
        if (!errors.empty()) return errors.ToStatus();
        absl::StatusOr<SessionInfo> info = ctx_.engine->CreateSession(
            call.tenant(), NewSessionOptions(ctx_, req.session_id(), req.session().display_name(),
                                             req.session().skip_bos()));
        if (absl::IsAlreadyExists(info.status())) {
          return AlreadyExists(SessionName(req.session_id()));
        }
        if (!info.ok()) return SessionError(info.status(), ctx_, "", "session_id");
        return ToProto(ctx_, SessionView(*std::move(info), ctx_.engine->model_info().bos_token_id));
      });
}

grpc::ServerUnaryReactor* SessionService::GetSession(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return ServeUnary<v1::GetSessionRequest, v1::Session>(
      ctx_, context, Method("GetSession"), request, response, ctx_.session_pool,
      [this](const v1::GetSessionRequest& req, CallRecord& call) -> absl::StatusOr<v1::Session> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<std::string> id = ParseSessionName(req.name(), "name");
        if (!id.ok()) return id.status();
        absl::StatusOr<SessionView> session = LookupSession(ctx_, call.tenant(), *id);
        if (!session.ok()) return session.status();
        return ToProto(ctx_, *session);
      });
}

grpc::ServerUnaryReactor* SessionService::ListSessions(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request,
                                                       grpc::ByteBuffer* response) {
  return ServeUnary<v1::ListSessionsRequest, v1::ListSessionsResponse>(
      ctx_, context, Method("ListSessions"), request, response, ctx_.session_pool,
      [this](const v1::ListSessionsRequest& req,
             CallRecord& call) -> absl::StatusOr<v1::ListSessionsResponse> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<int> page_size = EffectivePageSize(req.page_size(), kDefaultSessionPageSize);
        if (!page_size.ok()) return page_size.status();
        const PageScope scope{"ListSessions", call.tenant(), ""};
        std::string after;
        if (!req.page_token().empty()) {
          absl::StatusOr<std::string> key = DecodePageToken(scope, req.page_token());
          if (!key.ok()) return key.status();
          after = *std::move(key);
        }
        absl::StatusOr<SessionPage> page =
            ctx_.engine->ListSessions(call.tenant(), *page_size, after);
        if (!page.ok()) return SessionError(page.status(), ctx_, "", "page_token");
        v1::ListSessionsResponse out;
        const int32_t bos = ctx_.engine->model_info().bos_token_id;
        for (SessionInfo& info : page->sessions) {
          *out.add_sessions() = ToProto(ctx_, SessionView(std::move(info), bos));
        }
        if (!page->next_page_token.empty()) {
          out.set_next_page_token(EncodePageToken(scope, page->next_page_token));
        }
        return out;
      });
}

grpc::ServerUnaryReactor* SessionService::DeleteSession(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return ServeUnary<v1::DeleteSessionRequest, google::protobuf::Empty>(
      ctx_, context, Method("DeleteSession"), request, response, ctx_.session_pool,
      [this](const v1::DeleteSessionRequest& req,
             CallRecord& call) -> absl::StatusOr<google::protobuf::Empty> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<std::string> id = ParseSessionName(req.name(), "name");
        if (!id.ok()) return id.status();
        absl::StatusOr<SessionLocks::Lease> lease =
            ctx_.session_locks->TryAcquire(call.tenant(), *id);
        if (!lease.ok()) return lease.status();
        absl::StatusOr<SessionView> session = LookupSession(ctx_, call.tenant(), *id);
        if (!session.ok()) return session.status();
        absl::Status etag = CheckEtag(*session, req.etag());
        if (!etag.ok()) return etag;
        absl::Status deleted = ctx_.engine->DeleteSession(call.tenant(), *id);
        if (!deleted.ok()) return SessionError(deleted, ctx_, req.name(), "name");
        return google::protobuf::Empty();
      });
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* SessionService::AppendToSession(
    grpc::CallbackServerContext* context) {
  return new AppendCall(ctx_, context);
}

grpc::ServerUnaryReactor* SessionService::ForkSession(grpc::CallbackServerContext* context,
                                                      const grpc::ByteBuffer* request,
                                                      grpc::ByteBuffer* response) {
  return ServeUnary<v1::ForkSessionRequest, v1::Session>(
      ctx_, context, Method("ForkSession"), request, response, ctx_.session_pool,
      [this](const v1::ForkSessionRequest& req, CallRecord& call) -> absl::StatusOr<v1::Session> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<std::string> id = ParseSessionName(req.name(), "name");
        if (!id.ok()) return id.status();
        FieldErrors errors;
        if (!req.session_id().empty() && !IsValidSessionId(req.session_id())) {
          errors.Add("session_id",
                     "must be 1-63 lowercase letters, digits and hyphens, not starting or "
                     "ending with a hyphen");
        }
        if (!req.display_name().empty()) {
          errors.Add("display_name",
                     "not supported by this server version: a fork keeps its parent's "
                     "display name; leave it empty");
        }
        if (!errors.empty()) return errors.ToStatus();
        std::optional<int64_t> api_position;
        if (!req.checkpoint().empty()) {
          absl::StatusOr<int64_t> position =
              ParseOwnCheckpoint(req.checkpoint(), *id, "checkpoint");
          if (!position.ok()) return position.status();
          api_position = *position;
        }
        // Like Rewind and Delete: a session busy with a change is SESSION_BUSY at once; waiting
        // for it would park this shared worker thread behind another caller's work.
        absl::StatusOr<SessionLocks::Lease> lease =
            ctx_.session_locks->TryAcquire(call.tenant(), *id);
        if (!lease.ok()) return lease.status();
        absl::StatusOr<SessionView> session = LookupSession(ctx_, call.tenant(), *id);
        if (!session.ok()) return session.status();
        std::optional<int64_t> sdk_position;
        if (api_position.has_value()) {
          absl::StatusOr<int64_t> position =
              FindCheckpoint(ctx_, call.tenant(), *session, *api_position, req.checkpoint());
          if (!position.ok()) return position.status();
          sdk_position = *position;
        }
        if (req.session_id() == *id) return AlreadyExists(SessionName(*id));
        absl::StatusOr<SessionInfo> fork =
            ctx_.engine->ForkSession(call.tenant(), *id, req.session_id(), sdk_position);
        if (absl::IsAlreadyExists(fork.status())) {
          return AlreadyExists(SessionName(req.session_id()));
        }
        if (!fork.ok()) return SessionError(fork.status(), ctx_, req.name(), "checkpoint");
        return ToProto(ctx_, SessionView(*std::move(fork), ctx_.engine->model_info().bos_token_id));
      });
}

grpc::ServerUnaryReactor* SessionService::ListCheckpoints(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* request,
                                                          grpc::ByteBuffer* response) {
  return ServeUnary<v1::ListCheckpointsRequest, v1::ListCheckpointsResponse>(
      ctx_, context, Method("ListCheckpoints"), request, response, ctx_.session_pool,
      [this](const v1::ListCheckpointsRequest& req,
             CallRecord& call) -> absl::StatusOr<v1::ListCheckpointsResponse> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<std::string> id = ParseSessionName(req.parent(), "parent");
        if (!id.ok()) return id.status();
        absl::StatusOr<int> page_size =
            EffectivePageSize(req.page_size(), kDefaultCheckpointPageSize);
        if (!page_size.ok()) return page_size.status();
        const PageScope scope{"ListCheckpoints", call.tenant(), req.parent()};
        int64_t after = -1;
        if (!req.page_token().empty()) {
          absl::StatusOr<std::string> key = DecodePageToken(scope, req.page_token());
          if (!key.ok()) return key.status();
          if (!absl::SimpleAtoi(*key, &after)) {
            return InvalidField("page_token", "not a page token returned by this method");
          }
        }
        absl::StatusOr<SessionView> session = LookupSession(ctx_, call.tenant(), *id);
        if (!session.ok()) return session.status();
        absl::StatusOr<std::vector<CheckpointInfo>> checkpoints =
            ctx_.engine->ListCheckpoints(call.tenant(), *id);
        if (!checkpoints.ok())
          return SessionError(checkpoints.status(), ctx_, req.parent(), "parent");
        std::sort(checkpoints->begin(), checkpoints->end(),
                  [](const CheckpointInfo& a, const CheckpointInfo& b) {
                    return a.position < b.position;
                  });
        v1::ListCheckpointsResponse out;
        for (const CheckpointInfo& checkpoint : *checkpoints) {
          const int64_t position = session->ToApiPosition(checkpoint.position);
          if (position <= after) continue;
          if (out.checkpoints_size() == *page_size) {
            out.set_next_page_token(
                EncodePageToken(scope, absl::StrCat(out.checkpoints().rbegin()->token_count())));
            break;
          }
          *out.add_checkpoints() = session->CheckpointToProto(checkpoint);
        }
        return out;
      });
}

grpc::ServerUnaryReactor* SessionService::RewindSession(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return ServeUnary<v1::RewindSessionRequest, v1::Session>(
      ctx_, context, Method("RewindSession"), request, response, ctx_.session_pool,
      [this](const v1::RewindSessionRequest& req, CallRecord& call) -> absl::StatusOr<v1::Session> {
        absl::Status ready = RequireSessions(ctx_);
        if (!ready.ok()) return ready;
        absl::StatusOr<std::string> id = ParseSessionName(req.name(), "name");
        if (!id.ok()) return id.status();
        absl::StatusOr<int64_t> api_position =
            ParseOwnCheckpoint(req.checkpoint(), *id, "checkpoint");
        if (!api_position.ok()) return api_position.status();
        absl::StatusOr<SessionLocks::Lease> lease =
            ctx_.session_locks->TryAcquire(call.tenant(), *id);
        if (!lease.ok()) return lease.status();
        absl::StatusOr<SessionView> session = LookupSession(ctx_, call.tenant(), *id);
        if (!session.ok()) return session.status();
        absl::Status etag = CheckEtag(*session, req.etag());
        if (!etag.ok()) return etag;
        absl::StatusOr<int64_t> position =
            FindCheckpoint(ctx_, call.tenant(), *session, *api_position, req.checkpoint());
        if (!position.ok()) return position.status();
        absl::StatusOr<SessionInfo> rewound =
            ctx_.engine->RewindSession(call.tenant(), *id, *position);
        if (!rewound.ok()) return SessionError(rewound.status(), ctx_, req.name(), "checkpoint");
        return ToProto(ctx_,
                       SessionView(*std::move(rewound), ctx_.engine->model_info().bos_token_id));
      });
}

}  // namespace jamba::service
