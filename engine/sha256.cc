// SHA-256 over OpenSSL 3's EVP digest API (the low-level SHA256_* functions are deprecated).
#include "engine/sha256.h"

#include <openssl/evp.h>

#include "absl/status/status.h"

namespace jamba::engine {

void Sha256::ContextDeleter::operator()(evp_md_ctx_st* context) const { EVP_MD_CTX_free(context); }

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  ok_ = context_ != nullptr && EVP_DigestInit_ex(context_.get(), EVP_sha256(), nullptr) == 1;
}

Sha256::~Sha256() = default;

void Sha256::Update(std::string_view bytes) {
  if (!ok_ || bytes.empty()) return;
  ok_ = EVP_DigestUpdate(context_.get(), bytes.data(), bytes.size()) == 1;
}

absl::StatusOr<std::string> Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (!ok_ || EVP_DigestFinal_ex(context_.get(), digest, &length) != 1) {
    ok_ = false;
    return absl::InternalError("SHA-256 failed in OpenSSL");
  }
  ok_ = false;  // the context is finished
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xF]);
  }
  return hex;
}

}  // namespace jamba::engine
