// The container of every session file: a fixed header (magic, format version, file kind, flags)
// and a body of sections, each with its own CRC-32C, ending in an END section so truncation is
// detected. With an encryption key the body is sealed with AES-256-GCM (the header is the
// associated data), so tampering and a wrong key are detected too. See docs/session-format.md.
#ifndef JAMBA_SDK_STORE_SEALED_FILE_H_
#define JAMBA_SDK_STORE_SEALED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::sdk {

inline constexpr char kSealedMagic[8] = {'J', 'M', 'B', 'S', 'E', 'S', 'S', '\n'};
inline constexpr uint32_t kSealedFormatVersion = 1;

enum class FileKind : uint32_t {
  kStoreMarker = 1,
  kManifest = 2,
  kSegment = 3,
  kCheckpoint = 4,
};
const char* FileKindName(FileKind kind);

// Section tags (four ASCII characters).
enum class SectionTag : uint32_t {
  kMeta = 0x4154454d,    // "META": JSON describing the file
  kTokens = 0x534b4f54,  // "TOKS": int32 token ids
  kKeys = 0x5359454b,    // "KEYS": fp32 K rows of one attention layer
  kValues = 0x534c4156,  // "VALS": fp32 V rows of one attention layer
  kConv = 0x564e4f43,    // "CONV": fp32 conv state of one Mamba layer
  kSsm = 0x204d5353,     // "SSM ": fp32 ssm state of one Mamba layer
  kLogits = 0x5354474c,  // "LGTS": fp32 logits after the last token
  kEnd = 0x20444e45,     // "END "
};
std::string SectionTagName(uint32_t tag);

struct Section {
  SectionTag tag = SectionTag::kMeta;
  uint32_t index = 0;  // layer index for per-layer sections
  std::string payload;
};

// 32-byte AES-256 key, or none.
using EncryptionKey = std::optional<std::string>;
inline constexpr size_t kEncryptionKeySize = 32;

// Reads a key file: 32 raw bytes or 64 hex characters (whitespace around is ignored).
absl::StatusOr<std::string> LoadEncryptionKey(const std::string& path);

// Both fail with INVALID_ARGUMENT for a key that is not kEncryptionKeySize bytes.
absl::StatusOr<std::string> EncodeSealedFile(FileKind kind, const std::vector<Section>& sections,
                                             const EncryptionKey& key);
// Errors: DATA_LOSS for truncation, bad magic, a checksum mismatch (naming the section) or failed
// authentication; FAILED_PRECONDITION for an unknown format version or an encrypted file without a
// key. `name` is used in messages.
absl::StatusOr<std::vector<Section>> DecodeSealedFile(std::string_view bytes, FileKind expected,
                                                      const EncryptionKey& key,
                                                      const std::string& name);

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SEALED_FILE_H_
