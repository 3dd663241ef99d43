// The one translation unit that includes sentencepiece_processor.h. It must not include any Abseil
// header (directly or through other engine headers): see spm_processor.h.
#include "engine/text/spm_processor.h"

#include <utility>

#include "sentencepiece_processor.h"

// Declared in sentencepiece's internal common.h, which is not installed; the symbol is exported
// by the library we link.
namespace sentencepiece::logging {
void SetMinLogLevel(int level);
}  // namespace sentencepiece::logging

namespace jamba::engine {

std::unique_ptr<SpmProcessor> SpmProcessor::Load(const std::string& serialized_model,
                                                 std::string& error) {
  // Loading logs "precompiled_charsmap is empty" at INFO to stderr, which would interleave with
  // streamed output; keep the library to warnings and errors.
  sentencepiece::logging::SetMinLogLevel(1);
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const sentencepiece::util::Status status = processor->LoadFromSerializedProto(serialized_model);
  if (!status.ok()) {
    error = status.ToString();
    return nullptr;
  }
  return std::make_unique<SpmProcessor>(PrivateTag(), std::move(processor));
}

SpmProcessor::SpmProcessor(PrivateTag,
                           std::unique_ptr<sentencepiece::SentencePieceProcessor> processor)
    : processor_(std::move(processor)) {}

SpmProcessor::~SpmProcessor() = default;

bool SpmProcessor::Encode(std::string_view text, std::vector<int32_t>& ids,
                          std::string& error) const {
  std::vector<int> raw;
  const sentencepiece::util::Status status =
      processor_->Encode(absl::string_view(text.data(), text.size()), &raw);
  if (!status.ok()) {
    error = status.ToString();
    return false;
  }
  ids.assign(raw.begin(), raw.end());
  return true;
}

std::string SpmProcessor::Decode(std::span<const int32_t> ids) const {
  return processor_->DecodeIds(std::vector<int>(ids.begin(), ids.end()));
}

int32_t SpmProcessor::num_pieces() const { return processor_->GetPieceSize(); }

const std::string& SpmProcessor::IdToPiece(int32_t id) const { return processor_->IdToPiece(id); }

int32_t SpmProcessor::PieceToId(std::string_view piece) const {
  return processor_->PieceToId(absl::string_view(piece.data(), piece.size()));
}

SpmPieceKind SpmProcessor::Kind(int32_t id) const {
  if (processor_->IsControl(id)) return SpmPieceKind::kControl;
  if (processor_->IsUnknown(id)) return SpmPieceKind::kUnknown;
  if (processor_->IsByte(id)) return SpmPieceKind::kByte;
  if (processor_->IsUnused(id)) return SpmPieceKind::kUnused;
  return SpmPieceKind::kNormal;
}

int32_t SpmProcessor::unk_id() const { return processor_->unk_id(); }
int32_t SpmProcessor::bos_id() const { return processor_->bos_id(); }
int32_t SpmProcessor::eos_id() const { return processor_->eos_id(); }
int32_t SpmProcessor::pad_id() const { return processor_->pad_id(); }

}  // namespace jamba::engine
