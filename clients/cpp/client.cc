// The jamba C++ client over the generated stubs: channels and credentials, per-call metadata
// (API key, x-jamba-session) and deadlines, retries of refused calls, paging, chunked appends
// with a progress reader thread, and generation streams.
#include "jamba/client/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace jamba::client {
namespace {

constexpr absl::string_view kSessionPrefix = "sessions/";

// The length of the longest prefix of `text` that ends between UTF-8 characters.
size_t Utf8Boundary(absl::string_view text) {
  if (text.empty()) return 0;
  size_t start = text.size() - 1;
  while (start > 0 && text.size() - start < 4 &&
         (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
    --start;  // back over continuation bytes (10xxxxxx) to the last character's lead byte
  }
  const unsigned char lead = static_cast<unsigned char>(text[start]);
  const size_t needed = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  if (text.size() - start >= needed || start == 0) return text.size();
  return start;
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return content.str();
}

std::string SessionName(absl::string_view session) {
  if (absl::StartsWith(session, kSessionPrefix)) return std::string(session);
  return absl::StrCat(kSessionPrefix, session);
}

std::string SessionId(absl::string_view session) {
  if (absl::StartsWith(session, kSessionPrefix)) session.remove_prefix(kSessionPrefix.size());
  return std::string(session);
}

std::string CheckpointName(absl::string_view session, int64_t token_position) {
  return absl::StrCat(SessionName(session), "/checkpoints/", token_position);
}

std::vector<absl::string_view> SplitUtf8(absl::string_view text, size_t max_bytes) {
  max_bytes = std::max<size_t>(max_bytes, 4);
  std::vector<absl::string_view> pieces;
  while (!text.empty()) {
    size_t cut = text.size();
    if (cut > max_bytes) {
      cut = Utf8Boundary(text.substr(0, max_bytes));
      if (cut == 0) cut = max_bytes;
    }
    pieces.push_back(text.substr(0, cut));
    text.remove_prefix(cut);
  }
  return pieces;
}

v1::ChatMessage GenerateResult::AssistantMessage() const {
  return client::AssistantMessage(text, tool_calls, reasoning);
}

bool RetryPolicy::Wait(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable || left_ <= 0) return false;
  std::optional<google::rpc::RetryInfo> info = GetErrorDetail<google::rpc::RetryInfo>(status);
  if (!info.has_value()) return false;  // not the server's refusal: maybe it did some work
  const absl::Duration delay =
      absl::Seconds(info->retry_delay().seconds()) + absl::Nanoseconds(info->retry_delay().nanos());
  if (absl::Now() + delay >= deadline_) return false;
  --left_;
  absl::SleepFor(delay);
  return true;
}

// GenerateStream.

GenerateStream::GenerateStream(ContextFactory new_context, Starter start, RetryPolicy retry)
    : new_context_(std::move(new_context)), start_(std::move(start)), retry_(retry) {
  Start();
}

void GenerateStream::Start() {
  std::unique_ptr<grpc::ClientContext> context = new_context_();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_) context->TryCancel();
    std::swap(context_, context);
  }
  reader_ = start_(context_.get());
}

GenerateStream::~GenerateStream() {
  if (!status_.has_value()) {
    Cancel();
    Finish().IgnoreError();
  }
}

bool GenerateStream::Read(v1::GenerateResponse* response) {
  if (status_.has_value()) return false;
  while (!reader_->Read(response)) {
    if (received_) return false;  // Finish() reports how it ended
    // Ended before any response: a refusal is sent again.
    absl::Status status = FromGrpcStatus(reader_->Finish());
    bool cancelled;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      cancelled = cancelled_;
    }
    if (cancelled || !retry_.Wait(status)) {
      status_ = status;
      return false;
    }
    Start();
  }
  received_ = true;
  result_.text += response->text();
  result_.reasoning += response->reasoning();
  result_.tool_calls.insert(result_.tool_calls.end(), response->tool_calls().begin(),
                            response->tool_calls().end());
  result_.token_ids.insert(result_.token_ids.end(), response->token_ids().begin(),
                           response->token_ids().end());
  if (response->finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    result_.finish_reason = response->finish_reason();
    result_.usage = response->usage();
    result_.matched_stop_string = response->matched_stop_string();
    result_.malformed_tool_call = response->malformed_tool_call();
    if (response->has_seed()) result_.seed = response->seed();
  }
  if (response->has_session()) result_.session = response->session();
  return true;
}

absl::Status GenerateStream::Finish() {
  if (!status_.has_value()) {
    v1::GenerateResponse rest;
    while (reader_->Read(&rest)) {
    }
    status_ = FromGrpcStatus(reader_->Finish());
  }
  return *status_;
}

void GenerateStream::Cancel() {
  std::lock_guard<std::mutex> lock(mutex_);
  cancelled_ = true;
  context_->TryCancel();
}

// Client.

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  grpc::ChannelArguments arguments;
  if (options.tls.has_value()) {
    const TlsOptions& tls = *options.tls;
    if (tls.certificate_chain.empty() != tls.private_key.empty()) {
      return absl::InvalidArgumentError(
          "mutual TLS needs both a certificate chain and a private key");
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = tls.root_certificates;
    ssl.pem_cert_chain = tls.certificate_chain;
    ssl.pem_private_key = tls.private_key;
    credentials = grpc::SslCredentials(ssl);
    if (!tls.server_name.empty()) arguments.SetSslTargetNameOverride(tls.server_name);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  if (options.max_retries < 0) return absl::InvalidArgumentError("max_retries is negative");
  return std::make_unique<Client>(grpc::CreateCustomChannel(options.target, credentials, arguments),
                                  options.api_key, options.timeout, options.max_retries);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, std::string api_key, absl::Duration timeout,
               int max_retries)
    : channel_(std::move(channel)),
      api_key_(std::move(api_key)),
      timeout_(timeout),
      max_retries_(max_retries),
      sessions_(v1::SessionService::NewStub(channel_)),
      generation_(v1::GenerationService::NewStub(channel_)),
      models_(v1::ModelService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext(absl::string_view session,
                                                        absl::Time deadline) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!api_key_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", api_key_));
  if (!session.empty()) context->AddMetadata(kSessionMetadataKey, SessionName(session));
  if (deadline != absl::InfiniteFuture()) context->set_deadline(absl::ToChronoTime(deadline));
  return context;
}

RetryPolicy Client::NewRetryPolicy() const {
  return RetryPolicy(max_retries_, timeout_ == absl::InfiniteDuration() ? absl::InfiniteFuture()
                                                                        : absl::Now() + timeout_);
}

template <typename Response>
absl::StatusOr<Response> Client::Call(
    absl::string_view session,
    const std::function<grpc::Status(grpc::ClientContext*, Response*)>& call) {
  RetryPolicy retry = NewRetryPolicy();
  while (true) {
    std::unique_ptr<grpc::ClientContext> context = NewContext(session, retry.deadline());
    Response response;
    absl::Status status = FromGrpcStatus(call(context.get(), &response));
    if (status.ok()) return response;
    if (!retry.Wait(status)) return status;
  }
}

absl::Status Client::WaitForConnected(absl::Duration timeout) {
  if (channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + timeout))) {
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("not connected within ", absl::FormatDuration(timeout)));
}

absl::StatusOr<v1::Session> Client::CreateSession(absl::string_view session_id,
                                                  absl::string_view display_name, bool skip_bos) {
  v1::CreateSessionRequest request;
  request.set_session_id(std::string(session_id));
  request.mutable_session()->set_display_name(std::string(display_name));
  request.mutable_session()->set_skip_bos(skip_bos);
  return Call<v1::Session>(session_id, [&](grpc::ClientContext* context, v1::Session* session) {
    return sessions_->CreateSession(context, request, session);
  });
}

absl::StatusOr<v1::Session> Client::GetSession(absl::string_view session) {
  v1::GetSessionRequest request;
  request.set_name(SessionName(session));
  return Call<v1::Session>(session, [&](grpc::ClientContext* context, v1::Session* result) {
    return sessions_->GetSession(context, request, result);
  });
}

absl::Status Client::DeleteSession(absl::string_view session, absl::string_view etag) {
  v1::DeleteSessionRequest request;
  request.set_name(SessionName(session));
  request.set_etag(std::string(etag));
  return Call<google::protobuf::Empty>(
             session,
             [&](grpc::ClientContext* context, google::protobuf::Empty* empty) {
               return sessions_->DeleteSession(context, request, empty);
             })
      .status();
}

absl::StatusOr<v1::ListSessionsResponse> Client::ListSessionsPage(int page_size,
                                                                  absl::string_view page_token) {
  v1::ListSessionsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(std::string(page_token));
  return Call<v1::ListSessionsResponse>(
      "", [&](grpc::ClientContext* context, v1::ListSessionsResponse* page) {
        return sessions_->ListSessions(context, request, page);
      });
}

absl::StatusOr<Listing<v1::Session>> Client::ListSessions(int page_size) {
  Listing<v1::Session> listing;
  std::string token;
  do {
    absl::StatusOr<v1::ListSessionsResponse> page = ListSessionsPage(page_size, token);
    if (!page.ok()) return page.status();
    ++listing.pages;
    listing.items.insert(listing.items.end(), page->sessions().begin(), page->sessions().end());
    token = page->next_page_token();
  } while (!token.empty());
  return listing;
}

absl::StatusOr<v1::ListCheckpointsResponse> Client::ListCheckpointsPage(
    absl::string_view session, int page_size, absl::string_view page_token) {
  v1::ListCheckpointsRequest request;
  request.set_parent(SessionName(session));
  request.set_page_size(page_size);
  request.set_page_token(std::string(page_token));
  return Call<v1::ListCheckpointsResponse>(
      session, [&](grpc::ClientContext* context, v1::ListCheckpointsResponse* page) {
        return sessions_->ListCheckpoints(context, request, page);
      });
}

absl::StatusOr<Listing<v1::Checkpoint>> Client::ListCheckpoints(absl::string_view session,
                                                                int page_size) {
  Listing<v1::Checkpoint> listing;
  std::string token;
  do {
    absl::StatusOr<v1::ListCheckpointsResponse> page =
        ListCheckpointsPage(session, page_size, token);
    if (!page.ok()) return page.status();
    ++listing.pages;
    listing.items.insert(listing.items.end(), page->checkpoints().begin(),
                         page->checkpoints().end());
    token = page->next_page_token();
  } while (!token.empty());
  return listing;
}

absl::StatusOr<v1::Session> Client::ForkSession(absl::string_view session,
                                                absl::string_view new_session_id,
                                                absl::string_view checkpoint) {
  v1::ForkSessionRequest request;
  request.set_name(SessionName(session));
  request.set_session_id(std::string(new_session_id));
  request.set_checkpoint(std::string(checkpoint));
  return Call<v1::Session>(session, [&](grpc::ClientContext* context, v1::Session* fork) {
    return sessions_->ForkSession(context, request, fork);
  });
}

absl::StatusOr<v1::Session> Client::RewindSession(absl::string_view session,
                                                  absl::string_view checkpoint,
                                                  absl::string_view etag) {
  v1::RewindSessionRequest request;
  request.set_name(SessionName(session));
  request.set_checkpoint(std::string(checkpoint));
  request.set_etag(std::string(etag));
  return Call<v1::Session>(session, [&](grpc::ClientContext* context, v1::Session* result) {
    return sessions_->RewindSession(context, request, result);
  });
}

absl::StatusOr<v1::Session> Client::AppendOnce(absl::string_view session,
                                               const ChunkSource& next_chunk,
                                               const AppendOptions& options, absl::Time deadline,
                                               bool& taken) {
  auto context = NewContext(session, deadline);
  std::unique_ptr<grpc::ClientReaderWriter<v1::AppendToSessionRequest, v1::AppendToSessionResponse>>
      stream = sessions_->AppendToSession(context.get());

  // Progress is read on its own thread while this one writes, so neither side's flow control
  // waits for the other.
  std::optional<v1::Session> committed;
  std::thread reader([&] {
    v1::AppendToSessionResponse response;
    while (stream->Read(&response)) {
      if (options.on_progress) options.on_progress(response.progress());
      if (response.has_session()) committed = response.session();
    }
  });

  absl::Status local_error;
  v1::AppendToSessionRequest request;
  v1::AppendToSessionConfig* config = request.mutable_config();
  config->set_session(SessionName(session));
  config->set_message_role(options.message_role);
  config->set_etag(options.etag);
  config->set_progress_interval_tokens(options.progress_interval_tokens);
  bool writing = stream->Write(request);
  while (writing) {
    request.Clear();
    absl::StatusOr<bool> more = next_chunk(request);
    if (!more.ok()) {
      local_error = more.status();
      context->TryCancel();
      break;
    }
    if (!*more) break;
    taken = true;
    writing = stream->Write(request);
  }
  stream->WritesDone();
  reader.join();
  absl::Status status = FromGrpcStatus(stream->Finish());
  if (!local_error.ok()) return local_error;
  if (!status.ok()) return status;
  if (!committed.has_value()) {
    return absl::UnknownError("the append ended without the updated session");
  }
  return *std::move(committed);
}

absl::StatusOr<v1::Session> Client::Append(absl::string_view session, const ChunkSource& next_chunk,
                                           const AppendOptions& options) {
  RetryPolicy retry = NewRetryPolicy();
  while (true) {
    bool taken = false;
    absl::StatusOr<v1::Session> result =
        AppendOnce(session, next_chunk, options, retry.deadline(), taken);
    // A one-shot source is sent again only if none of it was taken.
    if (result.ok() || taken || !retry.Wait(result.status())) return result;
  }
}

absl::StatusOr<v1::Session> Client::AppendReplayable(absl::string_view session,
                                                     const std::function<ChunkSource()>& open,
                                                     const AppendOptions& options) {
  RetryPolicy retry = NewRetryPolicy();
  while (true) {
    bool taken = false;
    absl::StatusOr<v1::Session> result =
        AppendOnce(session, open(), options, retry.deadline(), taken);
    if (result.ok() || !retry.Wait(result.status())) return result;
  }
}

absl::StatusOr<v1::Session> Client::AppendText(absl::string_view session, absl::string_view text,
                                               const AppendOptions& options) {
  const std::vector<absl::string_view> pieces = SplitUtf8(text, options.chunk_bytes);
  return AppendReplayable(
      session,
      [&pieces]() -> ChunkSource {
        return [&pieces, next = size_t{0}](
                   v1::AppendToSessionRequest& request) mutable -> absl::StatusOr<bool> {
          if (next == pieces.size()) return false;
          request.set_text(std::string(pieces[next++]));
          return true;
        };
      },
      options);
}

absl::StatusOr<v1::Session> Client::AppendFile(absl::string_view session, const std::string& path,
                                               const AppendOptions& options) {
  if (!std::ifstream(path, std::ios::binary)) {
    return absl::NotFoundError(absl::StrCat("cannot open ", path));
  }
  const size_t chunk_bytes = std::max<size_t>(options.chunk_bytes, 4);
  return AppendReplayable(
      session,
      [&path, chunk_bytes]() -> ChunkSource {
        // Each attempt reads the file from the start.
        auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
        auto pending = std::make_shared<std::string>();  // bytes of a character cut by a read
        return [in, pending, &path,
                chunk_bytes](v1::AppendToSessionRequest& request) -> absl::StatusOr<bool> {
          if (!in->is_open()) return absl::NotFoundError(absl::StrCat("cannot open ", path));
          std::string buffer = std::move(*pending);
          pending->clear();
          const size_t have = buffer.size();
          buffer.resize(chunk_bytes);
          in->read(buffer.data() + have, static_cast<std::streamsize>(chunk_bytes - have));
          if (in->bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
          const size_t got = static_cast<size_t>(in->gcount());
          buffer.resize(have + got);
          if (buffer.empty()) return false;
          const size_t cut = got == 0 ? buffer.size() : Utf8Boundary(buffer);
          *pending = buffer.substr(cut);
          buffer.resize(cut);
          request.set_text(std::move(buffer));
          return true;
        };
      },
      options);
}

std::unique_ptr<GenerateStream> Client::StartGenerate(const v1::GenerateRequest& request) {
  RetryPolicy retry = NewRetryPolicy();
  const std::string session = request.has_session() ? request.session().session() : "";
  const absl::Time deadline = retry.deadline();
  return std::make_unique<GenerateStream>(
      [this, session, deadline] { return NewContext(session, deadline); },
      [this, request](grpc::ClientContext* context) {
        return generation_->Generate(context, request);
      },
      retry);
}

absl::StatusOr<GenerateResult> Client::Generate(
    const v1::GenerateRequest& request,
    const std::function<void(const v1::GenerateResponse&)>& on_delta) {
  std::unique_ptr<GenerateStream> stream = StartGenerate(request);
  v1::GenerateResponse delta;
  while (stream->Read(&delta)) {
    if (on_delta) on_delta(delta);
  }
  absl::Status status = stream->Finish();
  if (!status.ok()) return status;
  return stream->result();
}

absl::StatusOr<v1::ModelInfo> Client::GetModelInfo() {
  return Call<v1::ModelInfo>("", [&](grpc::ClientContext* context, v1::ModelInfo* info) {
    return models_->GetModelInfo(context, v1::GetModelInfoRequest(), info);
  });
}

absl::StatusOr<std::vector<int32_t>> Client::Tokenize(absl::string_view text, bool skip_bos) {
  v1::TokenizeRequest request;
  request.set_text(std::string(text));
  request.set_skip_bos(skip_bos);
  absl::StatusOr<v1::TokenizeResponse> response =
      Call<v1::TokenizeResponse>("", [&](grpc::ClientContext* context, v1::TokenizeResponse* out) {
        return models_->Tokenize(context, request, out);
      });
  if (!response.ok()) return response.status();
  return std::vector<int32_t>(response->token_ids().begin(), response->token_ids().end());
}

absl::StatusOr<std::vector<int32_t>> Client::Tokenize(const v1::ChatMessages& chat) {
  v1::TokenizeRequest request;
  *request.mutable_messages() = chat;
  absl::StatusOr<v1::TokenizeResponse> response =
      Call<v1::TokenizeResponse>("", [&](grpc::ClientContext* context, v1::TokenizeResponse* out) {
        return models_->Tokenize(context, request, out);
      });
  if (!response.ok()) return response.status();
  return std::vector<int32_t>(response->token_ids().begin(), response->token_ids().end());
}

absl::StatusOr<std::string> Client::Detokenize(const std::vector<int32_t>& token_ids) {
  v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(token_ids.begin(), token_ids.end());
  absl::StatusOr<v1::DetokenizeResponse> response = Call<v1::DetokenizeResponse>(
      "", [&](grpc::ClientContext* context, v1::DetokenizeResponse* out) {
        return models_->Detokenize(context, request, out);
      });
  if (!response.ok()) return response.status();
  return response->text();
}

}  // namespace jamba::client
