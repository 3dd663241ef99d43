// Sealed file encoding: header | [nonce] body [GCM tag]; body = sections with CRC-32C.
#include "sdk/store/sealed_file.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
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

absl::StatusOr<std::string> Open(std::string_view header, std::string_view sealed,
                                 const std::string& key, const std::string& name) {
  if (sealed.size() < kNonceSize + kTagSize) {
    return absl::DataLossError(absl::StrCat(name, ": truncated (encrypted body too short)"));
  }
  const size_t body_size = sealed.size() - kNonceSize - kTagSize;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  const auto* src = nonce + kNonceSize;
  std::string body(body_size, '\0');
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
  auto* dst = reinterpret_cast<unsigned char*>(body.data());
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
  return body;
}

// AES-256 reads exactly 32 key bytes: a shorter key would be read past its end.
absl::Status CheckKeySize(const EncryptionKey& key) {
  if (key.has_value() && key->size() != kEncryptionKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("an encryption key must be ", kEncryptionKeySize,
                                                   " bytes, got ", key->size()));
  }
  return absl::OkStatus();
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
  for (const Section& s : sections) total += kSectionHeader + s.payload.size() + 4;
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
  for (const Section& s : sections) append(static_cast<uint32_t>(s.tag), s.index, s.payload);
  append(static_cast<uint32_t>(SectionTag::kEnd), 0, {});
  if (!key.has_value()) return header + body;
  auto sealed = Seal(header, body, *key);
  if (!sealed.ok()) return sealed.status();
  return header + *sealed;
}

absl::StatusOr<std::vector<Section>> DecodeSealedFile(std::string_view bytes, FileKind expected,
                                                      const EncryptionKey& key,
                                                      const std::string& name) {
  if (absl::Status s = CheckKeySize(key); !s.ok()) return s;
  if (bytes.size() < kHeaderSize)
    return absl::DataLossError(absl::StrCat(name, ": truncated (no header)"));
  if (std::memcmp(bytes.data(), kSealedMagic, sizeof(kSealedMagic)) != 0) {
    return absl::DataLossError(absl::StrCat(name, ": not a jamba session file (bad magic)"));
  }
  if (GetU32(bytes.data() + 20) != Crc32c(bytes.data(), 20)) {
    return absl::DataLossError(absl::StrCat(name, ": header checksum mismatch"));
  }
  const uint32_t version = GetU32(bytes.data() + 8);
  if (version != kSealedFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": format version ", version,
                     " is not supported (this build reads version ", kSealedFormatVersion, ")"));
  }
  const auto kind = static_cast<FileKind>(GetU32(bytes.data() + 12));
  if (kind != expected) {
    return absl::DataLossError(absl::StrCat(name, ": is a ", FileKindName(kind),
                                            " file, expected a ", FileKindName(expected)));
  }
  const bool encrypted = (GetU32(bytes.data() + 16) & kFlagEncrypted) != 0;
  std::string opened;
  std::string_view body = bytes.substr(kHeaderSize);
  if (encrypted) {
    if (!key.has_value()) {
      return absl::FailedPreconditionError(
          absl::StrCat(name, ": is encrypted and no encryption key is configured"));
    }
    auto plain = Open(bytes.substr(0, kHeaderSize), body, *key, name);
    if (!plain.ok()) return plain.status();
    opened = *std::move(plain);
    body = opened;
  } else if (key.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat(name, ": is not encrypted but the store requires encryption"));
  }

  std::vector<Section> sections;
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
    const size_t crc_at = pos + kSectionHeader + length;
    if (GetU32(body.data() + crc_at) != Crc32c(body.data() + pos, kSectionHeader + length)) {
      return absl::DataLossError(
          absl::StrCat(name, ": checksum mismatch in section ", SectionTagName(tag), " #", index));
    }
    if (tag == static_cast<uint32_t>(SectionTag::kEnd)) {
      if (crc_at + 4 != body.size()) {
        return absl::DataLossError(absl::StrCat(name, ": unexpected bytes after the END section"));
      }
      return sections;
    }
    sections.push_back({static_cast<SectionTag>(tag), index,
                        std::string(body.substr(pos + kSectionHeader, length))});
    pos = crc_at + 4;
  }
}

}  // namespace jamba::sdk
