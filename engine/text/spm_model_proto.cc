// Wire-level ModelProto access through protobuf's UnknownFieldSet. Field numbers are those of
// sentencepiece_model.proto: ModelProto.pieces = 1, trainer_spec = 2, normalizer_spec = 3,
// self_test_data = 4; SentencePiece.type = 3 (UNUSED = 5); NormalizerSpec.name = 1,
// precompiled_charsmap = 2, add_dummy_prefix = 3, remove_extra_whitespaces = 4,
// escape_whitespaces = 5; TrainerSpec.treat_whitespace_as_suffix = 24.
#include "engine/text/spm_model_proto.h"

#include <algorithm>

#include "absl/status/status.h"
#include "engine/status_macros.h"
#include "google/protobuf/unknown_field_set.h"

namespace jamba::engine {
namespace {

using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

constexpr int kPiecesField = 1;
constexpr int kTrainerSpecField = 2;
constexpr int kNormalizerSpecField = 3;
constexpr int kSelfTestDataField = 4;
constexpr int kPieceTypeField = 3;
constexpr uint64_t kPieceTypeUnused = 5;
constexpr int kNormalizerNameField = 1;
constexpr int kCharsmapField = 2;
constexpr int kAddDummyPrefixField = 3;
constexpr int kRemoveExtraWhitespacesField = 4;
constexpr int kEscapeWhitespacesField = 5;
constexpr int kTreatWhitespaceAsSuffixField = 24;

// UnknownFieldSet can be neither copied nor moved, hence the out-parameter.
absl::Status Parse(std::string_view bytes, const char* what, UnknownFieldSet& fields) {
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(std::string("malformed SentencePiece ") + what);
  }
  return absl::OkStatus();
}

// Copies every field of `from` into `to` except those numbered `skip`.
void CopyExcept(const UnknownFieldSet& from, int skip, UnknownFieldSet& to) {
  for (int i = 0; i < from.field_count(); ++i) {
    if (from.field(i).number() != skip) to.AddField(from.field(i));
  }
}

// The last varint field `number` of `fields` (protobuf's rule for repeated scalars), or `fallback`.
bool LastBool(const UnknownFieldSet& fields, int number, bool fallback) {
  bool value = fallback;
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& field = fields.field(i);
    if (field.number() == number && field.type() == UnknownField::TYPE_VARINT) {
      value = field.varint() != 0;
    }
  }
  return value;
}

}  // namespace

absl::StatusOr<SpmNormalizerFacts> ReadSpmNormalizer(std::string_view model) {
  UnknownFieldSet top;
  JAMBA_RETURN_IF_ERROR(Parse(model, "model", top));
  SpmNormalizerFacts facts;
  for (int i = 0; i < top.field_count(); ++i) {
    const UnknownField& field = top.field(i);
    if (field.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    if (field.number() == kNormalizerSpecField) {
      UnknownFieldSet spec;
      JAMBA_RETURN_IF_ERROR(Parse(field.length_delimited(), "normalizer spec", spec));
      for (int j = 0; j < spec.field_count(); ++j) {
        const UnknownField& f = spec.field(j);
        if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
        if (f.number() == kNormalizerNameField) facts.name = f.length_delimited();
        if (f.number() == kCharsmapField) facts.has_charsmap = !f.length_delimited().empty();
      }
      facts.add_dummy_prefix = LastBool(spec, kAddDummyPrefixField, facts.add_dummy_prefix);
      facts.remove_extra_whitespaces =
          LastBool(spec, kRemoveExtraWhitespacesField, facts.remove_extra_whitespaces);
      facts.escape_whitespaces = LastBool(spec, kEscapeWhitespacesField, facts.escape_whitespaces);
    } else if (field.number() == kTrainerSpecField) {
      UnknownFieldSet spec;
      JAMBA_RETURN_IF_ERROR(Parse(field.length_delimited(), "trainer spec", spec));
      facts.treat_whitespace_as_suffix = LastBool(spec, kTreatWhitespaceAsSuffixField, false);
    }
  }
  return facts;
}

absl::StatusOr<std::string> EditSpmModel(std::string_view model, const SpmModelEdit& edit) {
  UnknownFieldSet top;
  JAMBA_RETURN_IF_ERROR(Parse(model, "model", top));
  std::vector<int32_t> unused = edit.pieces_to_unused;
  std::sort(unused.begin(), unused.end());
  UnknownFieldSet out;
  int32_t piece_index = 0;
  bool saw_normalizer = false;
  for (int i = 0; i < top.field_count(); ++i) {
    const UnknownField& field = top.field(i);
    const bool message = field.type() == UnknownField::TYPE_LENGTH_DELIMITED;
    if (field.number() == kSelfTestDataField) continue;
    if (message && field.number() == kPiecesField) {
      const int32_t id = piece_index++;
      if (!std::binary_search(unused.begin(), unused.end(), id)) {
        out.AddField(field);
        continue;
      }
      UnknownFieldSet piece;
      JAMBA_RETURN_IF_ERROR(Parse(field.length_delimited(), "piece", piece));
      UnknownFieldSet edited;
      CopyExcept(piece, kPieceTypeField, edited);
      edited.AddVarint(kPieceTypeField, kPieceTypeUnused);
      std::string bytes;
      edited.SerializeToString(&bytes);
      out.AddLengthDelimited(kPiecesField, bytes);
    } else if (message && field.number() == kNormalizerSpecField && edit.clear_dummy_prefix) {
      saw_normalizer = true;
      UnknownFieldSet spec;
      JAMBA_RETURN_IF_ERROR(Parse(field.length_delimited(), "normalizer spec", spec));
      UnknownFieldSet edited;
      CopyExcept(spec, kAddDummyPrefixField, edited);
      edited.AddVarint(kAddDummyPrefixField, 0);
      std::string bytes;
      edited.SerializeToString(&bytes);
      out.AddLengthDelimited(kNormalizerSpecField, bytes);
    } else {
      out.AddField(field);
    }
  }
  if (edit.clear_dummy_prefix && !saw_normalizer) {
    UnknownFieldSet spec;
    spec.AddVarint(kAddDummyPrefixField, 0);
    std::string bytes;
    spec.SerializeToString(&bytes);
    out.AddLengthDelimited(kNormalizerSpecField, bytes);
  }
  std::string bytes;
  if (!out.SerializeToString(&bytes)) {
    return absl::InternalError("could not serialize the edited SentencePiece model");
  }
  return bytes;
}

}  // namespace jamba::engine
