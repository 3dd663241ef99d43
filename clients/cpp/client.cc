// The jamba C++ client over the generated stubs: channels and credentials, per-call metadata
// and deadlines, paging, chunked appends with a progress reader thread, and generation streams.
#include "jamba/client/client.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

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

// GenerateStream.

GenerateStream::GenerateStream(std::unique_ptr<grpc::ClientContext> context,
                               std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader)
    : context_(std::move(context)), reader_(std::move(reader)) {}

GenerateStream::~GenerateStream() {
  if (!status_.has_value()) {
    context_->TryCancel();
    Finish().IgnoreError();
  }
}

bool GenerateStream::Read(v1::GenerateResponse* response) {
  if (status_.has_value() || !reader_->Read(response)) return false;
  result_.text += response->text();
  result_.token_ids.insert(result_.token_ids.end(), response->token_ids().begin(),
                           response->token_ids().end());
  if (response->finish_reason() != v1::FINISH_REASON_UNSPECIFIED) {
    result_.finish_reason = response->finish_reason();
    result_.usage = response->usage();
    result_.matched_stop_string = response->matched_stop_string();
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

void GenerateStream::Cancel() { context_->TryCancel(); }

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
  return std::make_unique<Client>(grpc::CreateCustomChannel(options.target, credentials, arguments),
                                  options.api_key, options.timeout);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, std::string api_key, absl::Duration timeout)
    : channel_(std::move(channel)),
      api_key_(std::move(api_key)),
      timeout_(timeout),
      sessions_(v1::SessionService::NewStub(channel_)),
      generation_(v1::GenerationService::NewStub(channel_)),
      models_(v1::ModelService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> Client::NewContext() const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!api_key_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", api_key_));
  if (timeout_ != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }
  return context;
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
  v1::Session session;
  auto context = NewContext();
  grpc::Status status = sessions_->CreateSession(context.get(), request, &session);
  if (!status.ok()) return FromGrpcStatus(status);
  return session;
}

absl::StatusOr<v1::Session> Client::GetSession(absl::string_view session) {
  v1::GetSessionRequest request;
  request.set_name(SessionName(session));
  v1::Session result;
  auto context = NewContext();
  grpc::Status status = sessions_->GetSession(context.get(), request, &result);
  if (!status.ok()) return FromGrpcStatus(status);
  return result;
}

absl::Status Client::DeleteSession(absl::string_view session, absl::string_view etag) {
  v1::DeleteSessionRequest request;
  request.set_name(SessionName(session));
  request.set_etag(std::string(etag));
  google::protobuf::Empty empty;
  auto context = NewContext();
  return FromGrpcStatus(sessions_->DeleteSession(context.get(), request, &empty));
}

absl::StatusOr<v1::ListSessionsResponse> Client::ListSessionsPage(int page_size,
                                                                  absl::string_view page_token) {
  v1::ListSessionsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(std::string(page_token));
  v1::ListSessionsResponse page;
  auto context = NewContext();
  grpc::Status status = sessions_->ListSessions(context.get(), request, &page);
  if (!status.ok()) return FromGrpcStatus(status);
  return page;
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
  v1::ListCheckpointsResponse page;
  auto context = NewContext();
  grpc::Status status = sessions_->ListCheckpoints(context.get(), request, &page);
  if (!status.ok()) return FromGrpcStatus(status);
  return page;
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
  v1::Session fork;
  auto context = NewContext();
  grpc::Status status = sessions_->ForkSession(context.get(), request, &fork);
  if (!status.ok()) return FromGrpcStatus(status);
  return fork;
}

absl::StatusOr<v1::Session> Client::RewindSession(absl::string_view session,
                                                  absl::string_view checkpoint,
                                                  absl::string_view etag) {
  v1::RewindSessionRequest request;
  request.set_name(SessionName(session));
  request.set_checkpoint(std::string(checkpoint));
  request.set_etag(std::string(etag));
  v1::Session result;
  auto context = NewContext();
  grpc::Status status = sessions_->RewindSession(context.get(), request, &result);
  if (!status.ok()) return FromGrpcStatus(status);
  return result;
}

absl::StatusOr<v1::Session> Client::Append(absl::string_view session, const ChunkSource& next_chunk,
                                           const AppendOptions& options) {
  auto context = NewContext();
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

absl::StatusOr<v1::Session> Client::AppendText(absl::string_view session, absl::string_view text,
                                               const AppendOptions& options) {
  std::vector<absl::string_view> pieces = SplitUtf8(text, options.chunk_bytes);
  size_t next = 0;
  return Append(
      session,
      [&](v1::AppendToSessionRequest& request) -> absl::StatusOr<bool> {
        if (next == pieces.size()) return false;
        request.set_text(std::string(pieces[next++]));
        return true;
      },
      options);
}

absl::StatusOr<v1::Session> Client::AppendFile(absl::string_view session, const std::string& path,
                                               const AppendOptions& options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  const size_t chunk_bytes = std::max<size_t>(options.chunk_bytes, 4);
  std::string pending;  // bytes of a character cut by the previous read
  return Append(
      session,
      [&](v1::AppendToSessionRequest& request) -> absl::StatusOr<bool> {
        std::string buffer = std::move(pending);
        pending.clear();
        const size_t have = buffer.size();
        buffer.resize(chunk_bytes);
        in.read(buffer.data() + have, static_cast<std::streamsize>(chunk_bytes - have));
        if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
        const size_t got = static_cast<size_t>(in.gcount());
        buffer.resize(have + got);
        if (buffer.empty()) return false;
        const size_t cut = got == 0 ? buffer.size() : Utf8Boundary(buffer);
        pending = buffer.substr(cut);
        buffer.resize(cut);
        request.set_text(std::move(buffer));
        return true;
      },
      options);
}

std::unique_ptr<GenerateStream> Client::StartGenerate(const v1::GenerateRequest& request) {
  auto context = NewContext();
  auto reader = generation_->Generate(context.get(), request);
  return std::make_unique<GenerateStream>(std::move(context), std::move(reader));
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
  v1::ModelInfo info;
  auto context = NewContext();
  grpc::Status status = models_->GetModelInfo(context.get(), v1::GetModelInfoRequest(), &info);
  if (!status.ok()) return FromGrpcStatus(status);
  return info;
}

absl::StatusOr<std::vector<int32_t>> Client::Tokenize(absl::string_view text, bool skip_bos) {
  v1::TokenizeRequest request;
  request.set_text(std::string(text));
  request.set_skip_bos(skip_bos);
  v1::TokenizeResponse response;
  auto context = NewContext();
  grpc::Status status = models_->Tokenize(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return std::vector<int32_t>(response.token_ids().begin(), response.token_ids().end());
}

absl::StatusOr<std::string> Client::Detokenize(const std::vector<int32_t>& token_ids) {
  v1::DetokenizeRequest request;
  request.mutable_token_ids()->Add(token_ids.begin(), token_ids.end());
  v1::DetokenizeResponse response;
  auto context = NewContext();
  grpc::Status status = models_->Detokenize(context.get(), request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.text();
}

}  // namespace jamba::client
