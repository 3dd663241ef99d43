// SpmProcessor: the engine's only view of sentencepiece::SentencePieceProcessor. sentencepiece's
// header defines its own absl::string_view, which clashes with Debian's Abseil, so it is included
// by spm_processor.cc alone and this header exposes standard types only (TOOLCHAIN.md, trap 2).
#ifndef JAMBA_ENGINE_TEXT_SPM_PROCESSOR_H_
#define JAMBA_ENGINE_TEXT_SPM_PROCESSOR_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}  // namespace sentencepiece

namespace jamba::engine {

// How SentencePiece treats a piece when decoding.
enum class SpmPieceKind : uint8_t {
  kNormal,   // learned or user-defined: its text, with U+2581 read as a space
  kControl,  // <s>, </s>, <pad>: decodes to nothing
  kUnknown,  // decodes to the unknown surface (" \u2047 " by default)
  kByte,     // <0xHH>: one raw byte
  kUnused,
};

// Immutable after Load; const methods are safe to call from any thread, as SentencePiece's are.
class SpmProcessor {
  // Lets Load construct through std::make_unique while the constructor stays unusable outside.
  struct PrivateTag {
    explicit PrivateTag() = default;
  };

 public:
  // Parses a serialized ModelProto (the bytes of tokenizer.model). On failure returns null and
  // sets `error`.
  static std::unique_ptr<SpmProcessor> Load(const std::string& serialized_model,
                                            std::string& error);
  SpmProcessor(PrivateTag, std::unique_ptr<sentencepiece::SentencePieceProcessor> processor);
  ~SpmProcessor();
  SpmProcessor(const SpmProcessor&) = delete;
  SpmProcessor& operator=(const SpmProcessor&) = delete;

  // SentencePiece's encoding of `text`, which must be valid UTF-8 (SentencePiece itself would
  // silently replace invalid bytes). Returns false and sets `error` on failure.
  bool Encode(std::string_view text, std::vector<int32_t>& ids, std::string& error) const;
  // SentencePiece's own decoding; ids must be in [0, num_pieces()).
  std::string Decode(std::span<const int32_t> ids) const;

  int32_t num_pieces() const;
  const std::string& IdToPiece(int32_t id) const;
  // SentencePiece semantics: unk_id() when `piece` is not in the vocabulary.
  int32_t PieceToId(std::string_view piece) const;
  SpmPieceKind Kind(int32_t id) const;
  // -1 when the model has none.
  int32_t unk_id() const;
  int32_t bos_id() const;
  int32_t eos_id() const;
  int32_t pad_id() const;

 private:
  std::unique_ptr<sentencepiece::SentencePieceProcessor> processor_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_TEXT_SPM_PROCESSOR_H_
