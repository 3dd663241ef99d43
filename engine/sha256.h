// Incremental SHA-256 through OpenSSL's EVP interface, for content fingerprints (the tokenizer's
// now; the model's and the sessions' bindings to it later).
#ifndef JAMBA_ENGINE_SHA256_H_
#define JAMBA_ENGINE_SHA256_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX, kept out of this header

namespace jamba::engine {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // Lower-case hex of the digest of everything passed to Update. Ends the hash: call it once.
  absl::StatusOr<std::string> HexDigest();

 private:
  struct ContextDeleter {
    void operator()(evp_md_ctx_st* context) const;
  };
  std::unique_ptr<evp_md_ctx_st, ContextDeleter> context_;
  bool ok_ = false;  // false once any OpenSSL call failed; reported by HexDigest
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_SHA256_H_
