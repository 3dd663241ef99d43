// Sealed file encoding: header | [nonce] body [GCM tag]; body = sections with CRC-32C.
#include "sdk/store/sealed_file.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "engine/status_macros.h"
#include "sdk/store/crc32c.h"
#include "sdk/store/durable_file.h"

namespace jamba::sdk {
namespace {

constexpr size_t kHeaderSize = 24;  // magic 8 | version 4 | kind 4 | flags 4 | header crc 4
constexpr uint32_t kFlagEncrypted = 1;
constexpr size_t kNonceSize = 12;
constexpr size_t kTagSize = 16;
constexpr size_t kSectionHeader = 16;  // tag 4 | index 4 | length 8

void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

absl::StatusOr<std::string> Seal(const std::string& header, const std::string& body,
                                 const std::string& key) {
  unsigned char nonce[kNonceSize];
  if (RAND_bytes(nonce, sizeof(nonce)) != 1) return absl::InternalError("RAND_bytes failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  std::string out(kNonceSize + body.size() + kTagSize, '\0');
  std::memcpy(out.data(), nonce, kNonceSize);
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data() + kNonceSize);
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(header.data()),
                        static_cast<int>(header.size())) != 1) {
    return absl::InternalError("AES-GCM setup failed");
  }
  // EVP lengths are int: feed the body in pieces.
  size_t done = 0;
  while (done < body.size()) {
    const int piece = static_cast<int>(std::min<size_t>(body.size() - done, 1 << 30));
    if (EVP_EncryptUpdate(ctx.get(), dst + done, &len,
                          reinterpret_cast<const unsigned char*>(body.data() + done), piece) != 1) {
      return absl::InternalError("AES-GCM encryption failed");
    }
    done += static_cast<size_t>(len);
  }
  if (EVP_EncryptFinal_ex(ctx.get(), dst + done, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize, dst + body.size()) != 1) {
    return absl::InternalError("AES-GCM finalisation failed");
  }
  return out;
}

// Decrypts and authenticates `sealed` (nonce | ciphertext | tag) into `dst` (its body size).
absl::Status Decrypt(std::string_view header, std::string_view sealed, const std::string& key,
                     const std::string& name, char* dst_chars) {
  const size_t body_size = sealed.size() - kNonceSize - kTagSize;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const auto* src = nonce + kNonceSize;
  CipherCtx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr,
                         reinterpret_cast<const unsigned char*>(key.data()), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                        reinterpret_cast<const unsigned char*>(header.data()),
                        static_cast<int>(header.size())) != 1) {
    return absl::InternalError("AES-GCM setup failed");
  }
  size_t done = 0;
  auto* dst = reinterpret_cast<unsigned char*>(dst_chars);
  while (done < body_size) {
    const int piece = static_cast<int>(std::min<size_t>(body_size - done, 1 << 30));
    if (EVP_DecryptUpdate(ctx.get(), dst + done, &len, src + done, piece) != 1) {
      return absl::InternalError("AES-GCM decryption failed");
    }
    done += static_cast<size_t>(len);
  }
  std::string tag(sealed.substr(kNonceSize + body_size, kTagSize));
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), dst + done, &len) != 1) {
    return absl::DataLossError(absl::StrCat(
        name, ": authentication failed: wrong encryption key, or the file was modified"));
  }
  return absl::OkStatus();
}

absl::Status CheckSealedSize(std::string_view sealed, const std::string& name) {
  if (sealed.size() < kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat(name, ": truncated (encrypted body too short)"));
  }
  return absl::OkStatus();
}

// AES-256 reads exactly 32 key bytes: a shorter key would be read past its end.
absl::Status CheckKeySize(const EncryptionKey& key) {
  if (key.has_value() && key->size() != kEncryptionKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("an encryption key must be ", kEncryptionKeySize,
                                                   " bytes, got ", key->size()));
  }
  return absl::OkStatus();
}

struct HeaderInfo {
  uint32_t version = 0;
  bool encrypted = false;
};

// Checks the 24-byte header: magic, checksum, version, kind, and encryption against the key.
absl::StatusOr<HeaderInfo> ReadHeader(std::string_view bytes, FileKind expected,
                                      const EncryptionKey& key, const std::string& name) {
  if (absl::Status s = CheckKeySize(key); !s.ok()) return s;
  if (bytes.size() < kHeaderSize)
    return absl::DataLossError(absl::StrCat(name, ": truncated (no header)"));
  if (std::memcmp(bytes.data(), kSealedMagic, sizeof(kSealedMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(name, ": not a jamba session file (bad magic)"));
  }
  if (GetU32(bytes.data() + 20) != Crc32c(bytes.data(), 20)) {
    return absl::DataLossError(absl::StrCat(name, ": header checksum mismatch"));
  }
  HeaderInfo info;
  info.version = GetU32(bytes.data() + 8);
  if (info.version < kOldestSealedFormatVersion || info.version > kSealedFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, ": format version ", info.version, " is not supported (this build reads versions ",
        kOldestSealedFormatVersion, " to ", kSealedFormatVersion, ")"));
  }
  const auto kind = static_cast<FileKind>(GetU32(bytes.data() + 12));
  if (kind != expected) {
    return absl::DataLossError(absl::StrCat(name, ": is a ", FileKindName(kind),
                                            " file, expected a ", FileKindName(expected)));
  }
  info.encrypted = (GetU32(bytes.data() + 16) & kFlagEncrypted) != 0;
  if (info.encrypted && !key.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": is encrypted and no encryption key is configured"));
  }
  if (!info.encrypted && key.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": is not encrypted but the store requires encryption"));
  }
  return info;
}

// The sections of `body` in order, END excluded, after checking the structure (lengths, an END
// section exactly at the end) and the checksum of every section `check_now` accepts.
absl::StatusOr<std::vector<SectionRef>> WalkSections(
    std::string_view body, const std::string& name,
    const std::function<bool(const SectionRef&)>& check_now) {
  std::vector<SectionRef> sections;
  size_t pos = 0;
  for (;;) {
    if (body.size() - pos < kSectionHeader + 4) {
      return absl::DataLossError(
          absl::StrCat(name, ": truncated after ", sections.size(), " sections"));
    }
    const uint32_t tag = GetU32(body.data() + pos);
    const uint32_t index = GetU32(body.data() + pos + 4);
    const uint64_t length = GetU64(body.data() + pos + 8);
    if (length > body.size() - pos - kSectionHeader - 4) {
      return absl::DataLossError(
          absl::StrCat(name, ": truncated inside section ", SectionTagName(tag), " #", index));
    }
    const SectionRef ref{static_cast<SectionTag>(tag), index, pos, pos + kSectionHeader, length};
    const size_t crc_at = ref.payload + length;
    const bool end = tag == static_cast<uint32_t>(SectionTag::kEnd);
    if ((end || check_now(ref)) &&
        GetU32(body.data() + crc_at) != Crc32c(body.data() + pos, kSectionHeader + length)) {
      return absl::DataLossError(
          absl::StrCat(name, ": checksum mismatch in section ", SectionTagName(tag), " #", index));
    }
    if (end) {
      if (crc_at + 4 != body.size()) {
        return absl::DataLossError(absl::StrCat(name, ": unexpected bytes after the END section"));
      }
      return sections;
    }
    sections.push_back(ref);
    pos = crc_at + 4;
  }
}

// A buffer for a decrypted body whose bytes sit where they would in the plaintext file relative
// to an aligned start, so aligned sections stay page-aligned.
std::shared_ptr<char> AlignedBodyBuffer(size_t body_size) {
  const size_t bytes =
      (kHeaderSize + body_size + kSectionAlignment - 1) / kSectionAlignment * kSectionAlignment;
  return std::shared_ptr<char>(static_cast<char*>(std::aligned_alloc(kSectionAlignment, bytes)),
                               [](char* p) { std::free(p); });
}

}  // namespace

const char* FileKindName(FileKind kind) {
  switch (kind) {
    case FileKind::kStoreMarker:
      return "store marker";
    case FileKind::kManifest:
      return "manifest";
    case FileKind::kSegment:
      return "KV segment";
    case FileKind::kCheckpoint:
      return "checkpoint";
    case FileKind::kLease:
      return "lease";
  }
  return "unknown";
}

std::string SectionTagName(uint32_t tag) {
  std::string name(4, ' ');
  for (int i = 0; i < 4; ++i) {
    const char c = static_cast<char>((tag >> (8 * i)) & 0xff);
    name[i] = absl::ascii_isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  return std::string(absl::StripTrailingAsciiWhitespace(name));
}

absl::StatusOr<std::string> LoadEncryptionKey(const std::string& path) {
  auto contents = ReadWholeFile(path);
  if (!contents.ok()) return contents.status();
  if (contents->size() == 32) return *contents;
  const std::string text(absl::StripAsciiWhitespace(*contents));
  if (text.size() == 64) {
    std::string raw;
    bool hex = true;
    for (char c : text) hex = hex && absl::ascii_isxdigit(static_cast<unsigned char>(c));
    if (hex) {
      raw = absl::HexStringToBytes(text);
      return raw;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": an encryption key must be 32 raw bytes or 64 hex characters"));
}

absl::StatusOr<std::string> EncodeSealedFile(FileKind kind, const std::vector<Section>& sections,
                                             const EncryptionKey& key) {
  if (absl::Status s = CheckKeySize(key); !s.ok()) return s;
  std::string header(kSealedMagic, sizeof(kSealedMagic));
  PutU32(header, kSealedFormatVersion);
  PutU32(header, static_cast<uint32_t>(kind));
  PutU32(header, key.has_value() ? kFlagEncrypted : 0);
  PutU32(header, Crc32c(header.data(), header.size()));

  size_t total = kSectionHeader + 4;
  for (const Section& s : sections) {
    total += kSectionHeader + s.payload.size() + 4;
    if (s.aligned) total += kSectionHeader + 4 + kSectionAlignment;
  }
  std::string body;
  body.reserve(total);
  auto append = [&](uint32_t tag, uint32_t index, std::string_view payload) {
    const size_t start = body.size();
    PutU32(body, tag);
    PutU32(body, index);
    PutU64(body, payload.size());
    body.append(payload);
    PutU32(body, Crc32c(body.data() + start, body.size() - start));
  };
  for (const Section& s : sections) {
    if (s.aligned) {
      // Zeros so that this section's payload, after a PAD section and its own header, starts at
      // a multiple of kSectionAlignment in the (plaintext) file.
      const size_t at = kHeaderSize + body.size() + 2 * kSectionHeader + 4;
      const size_t pad = (kSectionAlignment - at % kSectionAlignment) % kSectionAlignment;
      append(static_cast<uint32_t>(SectionTag::kPad), 0, std::string(pad, '\0'));
    }
    append(static_cast<uint32_t>(s.tag), s.index, s.payload);
  }
  append(static_cast<uint32_t>(SectionTag::kEnd), 0, {});
  if (!key.has_value()) return header + body;
  auto sealed = Seal(header, body, *key);
  if (!sealed.ok()) return sealed.status();
  return header + *sealed;
}

absl::StatusOr<std::vector<Section>> DecodeSealedFile(std::string_view bytes, FileKind expected,
                                                      const EncryptionKey& key,
                                                      const std::string& name) {
  JAMBA_ASSIGN_OR_RETURN(const HeaderInfo header, ReadHeader(bytes, expected, key, name));
  std::string opened;
  std::string_view body = bytes.substr(kHeaderSize);
  if (header.encrypted) {
    JAMBA_RETURN_IF_ERROR(CheckSealedSize(body, name));
    opened.resize(body.size() - kNonceSize - kTagSize);
    JAMBA_RETURN_IF_ERROR(Decrypt(bytes.substr(0, kHeaderSize), body, *key, name, opened.data()));
    body = opened;
  }
  JAMBA_ASSIGN_OR_RETURN(std::vector<SectionRef> refs,
                         WalkSections(body, name, [](const SectionRef&) { return true; }));
  std::vector<Section> sections;
  for (const SectionRef& ref : refs) {
    if (ref.tag == SectionTag::kPad) continue;
    sections.push_back({ref.tag, ref.index, std::string(body.substr(ref.payload, ref.length))});
  }
  return sections;
}

absl::StatusOr<SealedReader> SealedReader::Open(
    std::string_view bytes, std::shared_ptr<const void> owner, FileKind expected,
    const EncryptionKey& key, const std::string& name,
    const std::function<bool(SectionTag)>& check_later) {
  JAMBA_ASSIGN_OR_RETURN(const HeaderInfo header, ReadHeader(bytes, expected, key, name));
  SealedReader reader;
  reader.name_ = name;
  reader.version_ = header.version;
  reader.encrypted_ = header.encrypted;
  std::string_view body = bytes.substr(kHeaderSize);
  if (header.encrypted) {
    // Authenticated as a whole when decrypted: every section is checked now.
    JAMBA_RETURN_IF_ERROR(CheckSealedSize(body, name));
    const size_t body_size = body.size() - kNonceSize - kTagSize;
    std::shared_ptr<char> buffer = AlignedBodyBuffer(body_size);
    if (buffer == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat(name, ": cannot allocate ", body_size, " bytes to decrypt it"));
    }
    JAMBA_RETURN_IF_ERROR(
        Decrypt(bytes.substr(0, kHeaderSize), body, *key, name, buffer.get() + kHeaderSize));
    body = std::string_view(buffer.get() + kHeaderSize, body_size);
    owner = std::move(buffer);
  }
  const bool defer = !header.encrypted && check_later != nullptr;
  JAMBA_ASSIGN_OR_RETURN(reader.sections_, WalkSections(body, name, [&](const SectionRef& ref) {
                           return !defer || !check_later(ref.tag);
                         }));
  reader.body_ = body;
  reader.owner_ = std::move(owner);
  return reader;
}

const SectionRef* SealedReader::Find(SectionTag tag, uint32_t index) const {
  for (const SectionRef& s : sections_) {
    if (s.tag == tag && s.index == index) return &s;
  }
  return nullptr;
}

absl::Status SealedReader::Verify(const SectionRef& s) const {
  if (GetU32(body_.data() + s.payload + s.length) !=
      Crc32c(body_.data() + s.header, kSectionHeader + s.length)) {
    return absl::DataLossError(absl::StrCat(name_, ": checksum mismatch in section ",
                                            SectionTagName(static_cast<uint32_t>(s.tag)), " #",
                                            s.index));
  }
  return absl::OkStatus();
}

}  // namespace jamba::sdk
