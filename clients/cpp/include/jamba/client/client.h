// The jamba C++ client: a thin wrapper over the generated jamba.v1 gRPC stubs. It connects in
// plaintext (loopback), TLS or mutual TLS with an API key, manages sessions (create, append a
// file in chunks with progress, fork, rewind, list page by page, delete), streams generation
// with a reader loop or a callback (the answer, the reasoning and tool calls apart; chats are
// built with chat.h), and reports errors as absl::Status with the gRPC code and the google.rpc
// details (see status.h).
//
// Routing and retries: every call that acts on a session sends its name as `x-jamba-session`
// metadata, for consistent-hash load balancers. A call that fails with UNAVAILABLE carrying a
// RetryInfo (jambad refused it before doing anything: starting, draining, or not the session's
// owner) is sent again after RetryInfo.retry_delay, at most ClientOptions::max_retries times and
// within the deadline; a Generate only before its first response, an append only when its
// content can be sent again (AppendText, AppendFile, or a source no chunk was taken from). No
// other failure is retried: appends and committing generations are not idempotent.
//
//   auto client = jamba::client::Client::Connect(
//       {.target = "127.0.0.1:50051", .api_key = key});
//   jamba::v1::GenerateRequest request;
//   request.set_prompt("Once upon a time");
//   auto stream = (*client)->StartGenerate(request);
//   jamba::v1::GenerateResponse delta;
//   while (stream->Read(&delta)) std::cout << delta.text();
//   absl::Status status = stream->Finish();
#ifndef JAMBA_CLIENT_CLIENT_H_
#define JAMBA_CLIENT_CLIENT_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "jamba/client/chat.h"
#include "jamba/client/status.h"
#include "jamba/v1/generation_service.grpc.pb.h"
#include "jamba/v1/model_service.grpc.pb.h"
#include "jamba/v1/session_service.grpc.pb.h"

namespace jamba::client {

// TLS settings; PEM text, not file names (ReadFile() reads one).
struct TlsOptions {
  std::string root_certificates;  // CAs to verify the server; empty: the system's roots
  std::string certificate_chain;  // mutual TLS: the client certificate chain...
  std::string private_key;        // ...and its key (both or neither)
  std::string server_name;        // verify the server as this name instead of the target's host
};

// How often a call the server refused before doing anything is sent again, by default.
inline constexpr int kDefaultMaxRetries = 3;
// The metadata key naming the session a call acts on (`sessions/{id}`), for load balancers.
inline constexpr char kSessionMetadataKey[] = "x-jamba-session";

struct ClientOptions {
  std::string target;                                 // "host:port"
  std::string api_key;                                // sent as `authorization: Bearer <key>`
  std::optional<TlsOptions> tls;                      // unset: plaintext, for loopback only
  absl::Duration timeout = absl::InfiniteDuration();  // deadline of every call, retries included
  int max_retries = kDefaultMaxRetries;  // resends of a call refused with RetryInfo; 0: none
};

// The whole content of a file (for PEM files and documents).
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Resource names: "doc" or "sessions/doc" -> "sessions/doc"; the id back; a checkpoint's name.
std::string SessionName(absl::string_view session);
std::string SessionId(absl::string_view session);
std::string CheckpointName(absl::string_view session, int64_t token_position);

// The pieces of a text of at most max_bytes bytes each (max_bytes >= 4), cut only between UTF-8
// characters.
std::vector<absl::string_view> SplitUtf8(absl::string_view text, size_t max_bytes);

struct AppendOptions {
  size_t chunk_bytes = 256 * 1024;  // the most bytes of text per message (at least 4)
  // If set, the content forms one chat message with this role.
  v1::ChatMessage::Role message_role = v1::ChatMessage::ROLE_UNSPECIFIED;
  std::string etag;                  // if set, the append fails with ABORTED unless it matches
  int progress_interval_tokens = 0;  // 0: the server's default
  // Called with every progress report, on a thread of the client, while the content streams.
  std::function<void(const v1::AppendProgress&)> on_progress;
};

// Every item of a paged listing, and how many pages (calls) it took.
template <typename Item>
struct Listing {
  std::vector<Item> items;
  int pages = 0;
};

// The outcome of a generation, accumulated from its deltas.
struct GenerateResult {
  std::string text;                      // every delta's text (a chat reply: the answer alone)
  std::string reasoning;                 // a chat reply's reasoning (its <think> block)
  std::vector<v1::ToolCall> tool_calls;  // a chat reply's tool calls, each once complete
  std::vector<int32_t> token_ids;        // every delta's token ids
  v1::FinishReason finish_reason = v1::FINISH_REASON_UNSPECIFIED;
  v1::Usage usage;
  std::optional<uint64_t> seed;
  std::optional<v1::Session> session;  // a committed session input: the session after it
  std::string matched_stop_string;
  bool malformed_tool_call = false;  // a tool-call block did not parse: it is in `text`

  // The reply as an assistant message (answer, reasoning, tool calls), to send back before the
  // tool results or the next user message.
  v1::ChatMessage AssistantMessage() const;
};

// When and how often a refused call is sent again (see the file comment).
class RetryPolicy {
 public:
  RetryPolicy(int max_retries, absl::Time deadline) : left_(max_retries), deadline_(deadline) {}
  absl::Time deadline() const { return deadline_; }
  // True, after sleeping RetryInfo.retry_delay, if a call that failed with `status` may be sent
  // again: UNAVAILABLE with a RetryInfo, a retry left, and the deadline not reached by then.
  bool Wait(const absl::Status& status);

 private:
  int left_;
  absl::Time deadline_;
};

// One Generate call. Read() the deltas until it returns false, then Finish() for the status.
class GenerateStream {
 public:
  // Starts the call (again, for a retry) with a new context.
  using Starter = std::function<std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>>(
      grpc::ClientContext*)>;
  using ContextFactory = std::function<std::unique_ptr<grpc::ClientContext>()>;
  GenerateStream(ContextFactory new_context, Starter start, RetryPolicy retry);
  ~GenerateStream();  // cancels the call if it was not finished
  GenerateStream(const GenerateStream&) = delete;
  GenerateStream& operator=(const GenerateStream&) = delete;

  // The next delta; false when the stream has ended (normally or not: see Finish()).
  bool Read(v1::GenerateResponse* response);
  // The call's status, once Read() has returned false (it reads any rest first).
  absl::Status Finish();
  // Cancels the call (a committing generation then commits nothing); Finish() says CANCELLED.
  void Cancel();
  // What has been received so far.
  const GenerateResult& result() const { return result_; }

 private:
  void Start();

  ContextFactory new_context_;
  Starter start_;
  RetryPolicy retry_;
  std::mutex mutex_;  // guards context_ and cancelled_ against Cancel() from another thread
  std::unique_ptr<grpc::ClientContext> context_;
  bool cancelled_ = false;
  std::unique_ptr<grpc::ClientReader<v1::GenerateResponse>> reader_;
  bool received_ = false;  // a response arrived: the call is no longer retried
  GenerateResult result_;
  std::optional<absl::Status> status_;
};

class Client {
 public:
  // A client over a new channel. Fails only for inconsistent options (a certificate without a
  // key); connecting happens at the first call.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  // A client over an existing channel.
  Client(std::shared_ptr<grpc::Channel> channel, std::string api_key,
         absl::Duration timeout = absl::InfiniteDuration(), int max_retries = kDefaultMaxRetries);

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Waits until the channel is connected (UNAVAILABLE if not within `timeout`).
  absl::Status WaitForConnected(absl::Duration timeout);

  // Sessions. A session is given by id ("doc") or name ("sessions/doc").
  absl::StatusOr<v1::Session> CreateSession(absl::string_view session_id = "",
                                            absl::string_view display_name = "",
                                            bool skip_bos = false);
  absl::StatusOr<v1::Session> GetSession(absl::string_view session);
  absl::Status DeleteSession(absl::string_view session, absl::string_view etag = "");
  absl::StatusOr<v1::ListSessionsResponse> ListSessionsPage(int page_size,
                                                            absl::string_view page_token = "");
  // Every session of the tenant, newest first, page by page.
  absl::StatusOr<Listing<v1::Session>> ListSessions(int page_size = 0);
  absl::StatusOr<v1::ListCheckpointsResponse> ListCheckpointsPage(
      absl::string_view session, int page_size, absl::string_view page_token = "");
  // Every checkpoint of a session, oldest first, page by page.
  absl::StatusOr<Listing<v1::Checkpoint>> ListCheckpoints(absl::string_view session,
                                                          int page_size = 0);
  // Forks at `checkpoint` (a checkpoint name; empty: the current end).
  absl::StatusOr<v1::Session> ForkSession(absl::string_view session,
                                          absl::string_view new_session_id = "",
                                          absl::string_view checkpoint = "");
  absl::StatusOr<v1::Session> RewindSession(absl::string_view session, absl::string_view checkpoint,
                                            absl::string_view etag = "");

  // Streams content into a session: `next_chunk` fills one content message (text, token_ids or
  // message) and returns true, or returns false at the end, or an error to abandon the append
  // (that error is returned). Returns the session once the append is committed; on any error
  // the session is unchanged. A refused append is retried only if no chunk had been taken.
  using ChunkSource = std::function<absl::StatusOr<bool>(v1::AppendToSessionRequest&)>;
  absl::StatusOr<v1::Session> Append(absl::string_view session, const ChunkSource& next_chunk,
                                     const AppendOptions& options = {});
  // A text in chunks of at most options.chunk_bytes bytes (sent again whole if refused).
  absl::StatusOr<v1::Session> AppendText(absl::string_view session, absl::string_view text,
                                         const AppendOptions& options = {});
  // A UTF-8 file, read and sent in chunks of at most options.chunk_bytes bytes (read again from
  // the start if refused).
  absl::StatusOr<v1::Session> AppendFile(absl::string_view session, const std::string& path,
                                         const AppendOptions& options = {});

  // Generation: a stream to read in a loop, or the whole result with an optional callback per
  // delta.
  std::unique_ptr<GenerateStream> StartGenerate(const v1::GenerateRequest& request);
  absl::StatusOr<GenerateResult> Generate(
      const v1::GenerateRequest& request,
      const std::function<void(const v1::GenerateResponse&)>& on_delta = nullptr);

  // Model.
  absl::StatusOr<v1::ModelInfo> GetModelInfo();
  absl::StatusOr<std::vector<int32_t>> Tokenize(absl::string_view text, bool skip_bos = false);
  // The tokens of a chat (with its tools and documents) as Generate renders it.
  absl::StatusOr<std::vector<int32_t>> Tokenize(const v1::ChatMessages& chat);
  absl::StatusOr<std::string> Detokenize(const std::vector<int32_t>& token_ids);

 private:
  // A context with the API key, `session`'s name as x-jamba-session (none if empty) and the
  // deadline.
  std::unique_ptr<grpc::ClientContext> NewContext(absl::string_view session,
                                                  absl::Time deadline) const;
  RetryPolicy NewRetryPolicy() const;
  // A unary call with its metadata and retries.
  template <typename Response>
  absl::StatusOr<Response> Call(
      absl::string_view session,
      const std::function<grpc::Status(grpc::ClientContext*, Response*)>& call);
  // One attempt of an append; `taken` says whether a chunk was taken from the source.
  absl::StatusOr<v1::Session> AppendOnce(absl::string_view session, const ChunkSource& next_chunk,
                                         const AppendOptions& options, absl::Time deadline,
                                         bool& taken);
  // An append retried whenever refused: `open` gives the content's source from the start.
  absl::StatusOr<v1::Session> AppendReplayable(absl::string_view session,
                                               const std::function<ChunkSource()>& open,
                                               const AppendOptions& options);

  std::shared_ptr<grpc::Channel> channel_;
  std::string api_key_;
  absl::Duration timeout_;
  int max_retries_;
  std::unique_ptr<v1::SessionService::Stub> sessions_;
  std::unique_ptr<v1::GenerationService::Stub> generation_;
  std::unique_ptr<v1::ModelService::Stub> models_;
};

}  // namespace jamba::client

#endif  // JAMBA_CLIENT_CLIENT_H_
