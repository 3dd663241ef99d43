// ModelService handlers.
#include "service/model_service.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "service/session_support.h"
#include "service/status_mapping.h"
#include "service/validation.h"

namespace jamba::service {
namespace {

constexpr char kService[] = "jamba.v1.ModelService/";

}  // namespace

grpc::ServerUnaryReactor* ModelService::GetModelInfo(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return ServeUnary<v1::GetModelInfoRequest, v1::ModelInfo>(
      ctx_, context, absl::StrCat(kService, "GetModelInfo"), request, response, nullptr,
      [this](const v1::GetModelInfoRequest&, CallRecord&) -> absl::StatusOr<v1::ModelInfo> {
        return info_;
      });
}

grpc::ServerUnaryReactor* ModelService::Tokenize(grpc::CallbackServerContext* context,
                                                 const grpc::ByteBuffer* request,
                                                 grpc::ByteBuffer* response) {
  return ServeUnary<v1::TokenizeRequest, v1::TokenizeResponse>(
      ctx_, context, absl::StrCat(kService, "Tokenize"), request, response, ctx_.stream_pool,
      [this](const v1::TokenizeRequest& req,
             CallRecord& call) -> absl::StatusOr<v1::TokenizeResponse> {
        absl::StatusOr<std::vector<int32_t>> tokens;
        std::string field;
        switch (req.input_case()) {
          case v1::TokenizeRequest::kText:
            field = "text";
            tokens = TextTokens(ctx_, req.text(),
                                {.add_bos = !req.skip_bos(),
                                 .parse_special_tokens = req.parse_special_tokens(),
                                 .max_tokens = ctx_.limits.max_context_tokens,
                                 .limit_name = "max_context_tokens"},
                                field);
            break;
          case v1::TokenizeRequest::kMessages: {
            field = "messages";
            FieldErrors errors;
            ValidateChatMessages(req.messages(), field, errors);
            if (!errors.empty()) return errors.ToStatus();
            tokens = ChatTokens(ctx_,
                                ToSdkChat(req.messages(), /*add_generation_prompt=*/true,
                                          /*continuation=*/false),
                                /*with_bos=*/true, field);
            break;
          }
          case v1::TokenizeRequest::INPUT_NOT_SET:
            return InvalidField("input", "one of text or messages is required");
        }
        if (!tokens.ok()) return tokens.status();
        if (static_cast<int64_t>(tokens->size()) > ctx_.limits.max_context_tokens) {
          FieldErrors errors;
          errors.AddContextLength(
              field, absl::StrCat(tokens->size(), " tokens exceed max_context_tokens (",
                                  ctx_.limits.max_context_tokens, ")"));
          return errors.ToStatus();
        }
        call.SetTokens(static_cast<int64_t>(tokens->size()), 0);
        v1::TokenizeResponse out;
        out.mutable_token_ids()->Assign(tokens->begin(), tokens->end());
        if (req.include_pieces()) {
          for (std::string& piece : ctx_.engine->TokenPieces(*tokens)) {
            out.add_pieces(std::move(piece));
          }
        }
        return out;
      });
}

grpc::ServerUnaryReactor* ModelService::Detokenize(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* request,
                                                   grpc::ByteBuffer* response) {
  return ServeUnary<v1::DetokenizeRequest, v1::DetokenizeResponse>(
      ctx_, context, absl::StrCat(kService, "Detokenize"), request, response, nullptr,
      [this](const v1::DetokenizeRequest& req,
             CallRecord& call) -> absl::StatusOr<v1::DetokenizeResponse> {
        FieldErrors errors;
        if (req.token_ids_size() == 0) errors.Add("token_ids", "at least one token id is required");
        if (req.token_ids_size() > ctx_.limits.max_context_tokens) {
          errors.AddContextLength(
              "token_ids", absl::StrCat(req.token_ids_size(), " ids exceed max_context_tokens (",
                                        ctx_.limits.max_context_tokens, ")"));
        }
        for (int i = 0; i < req.token_ids_size(); ++i) {
          const int32_t id = req.token_ids(i);
          if (id < 0 || id >= ctx_.limits.vocab_size) {
            errors.Add(absl::StrCat("token_ids[", i, "]"),
                       absl::StrCat("must be in [0, ", ctx_.limits.vocab_size, "), got ", id));
          }
        }
        if (!errors.empty()) return errors.ToStatus();
        absl::Status ready = RequireTokenizer(ctx_, "token_ids");
        if (!ready.ok()) return ready;
        const std::vector<int32_t> ids(req.token_ids().begin(), req.token_ids().end());
        absl::StatusOr<std::string> text = ctx_.engine->Detokenize(ids, req.skip_special_tokens());
        if (!text.ok()) {
          EngineErrorContext error;
          error.field = "token_ids";
          return AnnotateEngineError(text.status(), error);
        }
        call.SetTokens(0, static_cast<int64_t>(ids.size()));
        v1::DetokenizeResponse out;
        out.set_text(*std::move(text));
        return out;
      });
}

}  // namespace jamba::service
