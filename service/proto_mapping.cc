// Conversions between SDK structs and jamba.v1 messages.
#include "service/proto_mapping.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/validation.h"

namespace jamba::service {

std::string SessionName(const std::string& id) { return absl::StrCat("sessions/", id); }

std::string CheckpointName(const std::string& session_id, int64_t position) {
  return absl::StrCat("sessions/", session_id, "/checkpoints/", position);
}

void ToTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t nanos = absl::ToUnixNanos(time);
  int64_t seconds = nanos / 1000000000;
  int64_t rest = nanos % 1000000000;
  if (rest < 0) {
    rest += 1000000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest));
}

SessionView::SessionView(SessionInfo info, int32_t bos_token_id) : info_(std::move(info)) {
  auto it = info_.labels.find(kSkipBosLabel);
  // A model without BOS cannot place one: its sessions always start empty.
  skip_bos_ = bos_token_id < 0 || (it != info_.labels.end() && it->second == "true");
}

int64_t SessionView::ToSdkPosition(int64_t api_position) const {
  // With BOS, the SDK's empty session (position 0) is the API's "only BOS" (position 1); later
  // positions agree because the first content fed carries BOS.
  if (!skip_bos_ && api_position == 1) return 0;
  return api_position;
}

int64_t SessionView::ToApiPosition(int64_t sdk_position) const {
  if (!skip_bos_ && sdk_position == 0) return 1;
  return sdk_position;
}

v1::Session SessionView::ToProto(const std::string& model_id,
                                 const std::string& fingerprint) const {
  v1::Session out;
  out.set_name(SessionName(info_.id));
  out.set_display_name(info_.display_name);
  out.set_skip_bos(skip_bos_);
  out.set_model(model_id);
  out.set_model_fingerprint(fingerprint);
  out.set_token_count(static_cast<int32_t>(token_count()));
  // The SDK counts stored checkpoints; the creation checkpoint is implicit there.
  out.set_checkpoint_count(static_cast<int32_t>(info_.checkpoint_count + 1));
  out.set_size_bytes(info_.disk_bytes);
  ToTimestamp(info_.create_time, out.mutable_create_time());
  ToTimestamp(info_.update_time, out.mutable_update_time());
  out.set_etag(info_.etag);
  return out;
}

v1::Checkpoint SessionView::CheckpointToProto(const CheckpointInfo& checkpoint) const {
  v1::Checkpoint out;
  const int64_t position = ToApiPosition(checkpoint.position);
  out.set_name(CheckpointName(info_.id, position));
  out.set_token_count(static_cast<int32_t>(position));
  if (checkpoint.reason == "create") {
    out.set_trigger(v1::Checkpoint::CREATE);
  } else if (checkpoint.reason == "interval") {
    out.set_trigger(v1::Checkpoint::PERIODIC);
  } else if (checkpoint.reason == "append") {
    out.set_trigger(v1::Checkpoint::APPEND);
  } else if (checkpoint.reason == "commit") {
    out.set_trigger(v1::Checkpoint::COMMIT);
  }
  ToTimestamp(checkpoint.create_time, out.mutable_create_time());
  return out;
}

v1::FinishReason ToProtoFinishReason(FinishReason reason) {
  switch (reason) {
    case FinishReason::kEos:
      return v1::FINISH_REASON_END_OF_SEQUENCE;
    case FinishReason::kLength:
      return v1::FINISH_REASON_MAX_TOKENS;
    case FinishReason::kStopString:
      return v1::FINISH_REASON_STOP_STRING;
    case FinishReason::kStopToken:
      return v1::FINISH_REASON_STOP_TOKEN;
    case FinishReason::kContextLength:
      return v1::FINISH_REASON_CONTEXT_LENGTH;
    case FinishReason::kToolCalls:
      return v1::FINISH_REASON_TOOL_CALLS;
    case FinishReason::kCancelled:
      break;
  }
  return v1::FINISH_REASON_UNSPECIFIED;
}

v1::ModelInfo ToProtoModelInfo(const ModelInfo& info, const std::string& model_id,
                               const ServerLimitsInfo& limits, const std::string& version) {
  v1::ModelInfo out;
  out.set_model_id(model_id);
  out.set_fingerprint(info.fingerprint);
  out.set_server_version(version);

  v1::Architecture* a = out.mutable_architecture();
  a->set_model_type(info.model_type);
  a->set_num_layers(info.num_layers);
  a->set_num_attention_layers(info.num_attention_layers);
  a->set_num_mamba_layers(info.num_mamba_layers);
  int moe_layers = 0;
  for (size_t i = 0; i < info.layers.size(); ++i) {
    const LayerInfo& layer = info.layers[i];
    v1::LayerInfo* l = a->add_layers();
    l->set_index(static_cast<int32_t>(i));
    l->set_mixer(layer.mixer == "attention" ? v1::LayerInfo::ATTENTION : v1::LayerInfo::MAMBA);
    const bool moe = layer.ffn == "moe";
    moe_layers += moe;
    l->set_feed_forward(moe ? v1::LayerInfo::MOE : v1::LayerInfo::DENSE);
    l->set_num_experts(moe ? info.num_experts : 1);
  }
  a->set_num_moe_layers(moe_layers);
  a->set_hidden_size(static_cast<int32_t>(info.hidden_size));
  a->set_intermediate_size(static_cast<int32_t>(info.intermediate_size));
  a->set_vocab_size(static_cast<int32_t>(info.vocab_size));
  a->set_num_attention_heads(info.num_attention_heads);
  a->set_num_key_value_heads(info.num_key_value_heads);
  a->set_head_dim(static_cast<int32_t>(info.head_dim));
  a->set_num_experts(info.num_experts);
  a->set_num_experts_per_token(info.experts_per_token);
  a->set_mamba_d_state(info.mamba_d_state);
  a->set_mamba_d_conv(info.mamba_d_conv);
  a->set_mamba_inner_size(static_cast<int32_t>(info.mamba_inner_size));
  a->set_mamba_dt_rank(static_cast<int32_t>(info.mamba_dt_rank));
  a->set_max_position_embeddings(static_cast<int32_t>(info.max_position_embeddings));
  a->set_parameters_total(info.total_parameters);
  a->set_parameters_active(info.active_parameters);
  a->set_kv_bytes_per_token(info.kv_bytes_per_token);
  a->set_mamba_state_bytes(info.mamba_state_bytes);
  a->set_weights_dtype(info.weights_dtype);

  v1::TokenizerInfo* t = out.mutable_tokenizer();
  t->set_vocab_size(static_cast<int32_t>(info.vocab_size));
  t->set_bos_token_id(info.bos_token_id);
  for (int32_t id : info.eos_token_ids) t->add_eos_token_ids(id);
  t->set_pad_token_id(info.pad_token_id);
  t->set_has_chat_template(info.has_chat_template);
  t->set_kind(info.tokenizer_kind);
  t->set_chat_template_origin(info.chat_template_origin);
  t->set_chat_template_family(info.chat_template_family);
  t->set_tool_call_format(info.tool_call_format);
  t->set_reasoning(info.reasoning);

  v1::Backend* b = out.mutable_backend();
  const bool cuda = absl::StartsWithIgnoreCase(info.backend, "cuda");
  b->set_kind(cuda ? v1::Backend::CUDA : v1::Backend::CPU);
  b->set_device(info.backend);
  b->set_device_count(1);
  b->set_compute_dtype("float32");

  v1::ServerLimits* l = out.mutable_limits();
  l->set_max_context_tokens(static_cast<int32_t>(limits.max_context_tokens));
  l->set_max_prompt_tokens(static_cast<int32_t>(limits.max_prompt_tokens));
  l->set_max_completion_tokens(static_cast<int32_t>(limits.max_completion_tokens));
  l->set_default_max_tokens(static_cast<int32_t>(limits.default_max_tokens));
  l->set_max_stop_strings(kMaxStopStrings);
  l->set_max_stop_string_bytes(kMaxStopStringBytes);
  l->set_max_stop_token_ids(kMaxStopTokenIds);
  l->set_max_top_logprobs(kMaxTopLogprobs);
  l->set_checkpoint_interval_tokens(static_cast<int32_t>(limits.checkpoint_interval_tokens));
  l->set_max_page_size(kMaxPageSize);
  l->set_max_request_bytes(static_cast<int32_t>(limits.max_request_bytes));
  return out;
}

}  // namespace jamba::service
