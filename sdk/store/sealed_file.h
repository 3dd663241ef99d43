// The container of every session file: a fixed header (magic, format version, file kind, flags)
// and a body of sections, each with its own CRC-32C, ending in an END section so truncation is
// detected. With an encryption key the body is sealed with AES-256-GCM (the header is the
// associated data), so tampering and a wrong key are detected too. See docs/session-format.md.
#ifndef JAMBA_SDK_STORE_SEALED_FILE_H_
#define JAMBA_SDK_STORE_SEALED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::sdk {

inline constexpr char kSealedMagic[8] = {'J', 'M', 'B', 'S', 'E', 'S', 'S', '\n'};
// Version 2 added the PAD section that puts aligned sections (KV rows) on page boundaries, and KV
// in other dtypes than fp32. Version 3 added what lets several processes share a store: lease
// files, generation-numbered manifests (segments and checkpoints are laid out as in version 2).
// Versions 1 and 2 are still read. See docs/session-format.md.
inline constexpr uint32_t kSealedFormatVersion = 3;
inline constexpr uint32_t kOldestSealedFormatVersion = 1;
// Where an aligned section's payload starts: a multiple of this many bytes from the start of the
// file (of the plaintext file, for an encrypted one), so a mapping holds it on page boundaries.
inline constexpr size_t kSectionAlignment = 4096;

enum class FileKind : uint32_t {
  kStoreMarker = 1,
  kManifest = 2,
  kSegment = 3,
  kCheckpoint = 4,
  kLease = 5,  // version 3
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
  kPad = 0x20444150,     // "PAD ": zeros before an aligned section (readers skip it)
  kEnd = 0x20444e45,     // "END "
};
std::string SectionTagName(uint32_t tag);

struct Section {
  SectionTag tag = SectionTag::kMeta;
  uint32_t index = 0;  // layer index for per-layer sections
  std::string payload;
  bool aligned = false;  // the payload starts at a multiple of kSectionAlignment in the file
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

// Where one section of a file opened by SealedReader lies: offsets into its body.
struct SectionRef {
  SectionTag tag = SectionTag::kMeta;
  uint32_t index = 0;
  size_t header = 0;   // the section's 16-byte header
  size_t payload = 0;  // its payload (followed by its CRC-32C)
  uint64_t length = 0;
};

// A sealed file read in place, without copying sections out: a plaintext file straight from its
// bytes (a mapping), an encrypted one decrypted once into a buffer aligned as the plaintext file
// would be (so aligned sections stay page-aligned). Every section's checksum is checked when the
// file is opened, except those `check_later` names in a plaintext file: their structure is
// checked, their bytes are not read, and Verify() checks them when the caller is about to use
// them (the KV rows of a mapped segment, checked before their first use).
class SealedReader {
 public:
  // `bytes` must stay valid while `owner` lives; the reader (and its copies) hold `owner`.
  // Errors as DecodeSealedFile's.
  static absl::StatusOr<SealedReader> Open(
      std::string_view bytes, std::shared_ptr<const void> owner, FileKind expected,
      const EncryptionKey& key, const std::string& name,
      const std::function<bool(SectionTag)>& check_later = nullptr);

  uint32_t version() const { return version_; }
  bool encrypted() const { return encrypted_; }
  const std::vector<SectionRef>& sections() const { return sections_; }
  // The section with `tag` and `index`, or null.
  const SectionRef* Find(SectionTag tag, uint32_t index) const;
  std::string_view Payload(const SectionRef& section) const {
    return body_.substr(section.payload, section.length);
  }
  // DATA_LOSS naming the file and section when its checksum does not match.
  absl::Status Verify(const SectionRef& section) const;
  // Keeps the bytes Payload() points into alive.
  const std::shared_ptr<const void>& owner() const { return owner_; }

 private:
  SealedReader() = default;

  std::shared_ptr<const void> owner_;
  std::string_view body_;
  std::string name_;
  uint32_t version_ = 0;
  bool encrypted_ = false;
  std::vector<SectionRef> sections_;
};

}  // namespace jamba::sdk

#endif  // JAMBA_SDK_STORE_SEALED_FILE_H_
