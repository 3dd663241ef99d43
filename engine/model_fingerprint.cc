// SHA-256 (OpenSSL EVP) over config, tokenizer hash and sampled weight bytes.
#include "engine/model_fingerprint.h"

#include <openssl/evp.h>

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace jamba::engine {
namespace {

constexpr uint64_t kWholeTensorBytes = 64 * 1024;
constexpr int kSamples = 16;
constexpr uint64_t kSampleBytes = 4096;

}  // namespace

std::string ComputeModelFingerprint(const ModelConfig& config, const Checkpoint& checkpoint,
                                    const std::string& tokenizer_hash) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  auto update = [&](const void* data, size_t size) { EVP_DigestUpdate(ctx.get(), data, size); };
  const std::string header = absl::StrCat("jamba-model-fingerprint-v1\n", config.CanonicalString(),
                                          "\ntokenizer=", tokenizer_hash, "\n");
  update(header.data(), header.size());

  // Tensors in name order, so sharding does not change the fingerprint.
  std::map<std::string, std::pair<const SafetensorsFile*, const TensorInfo*>> tensors;
  for (const auto& file : checkpoint.files()) {
    for (const TensorInfo& t : file->tensors()) tensors[t.name] = {file.get(), &t};
  }
  for (const auto& [name, entry] : tensors) {
    const auto& [file, info] = entry;
    const std::string meta = absl::StrCat(name, ":", std::string(kernels::DTypeName(info->dtype)),
                                          ":", absl::StrJoin(info->shape, ","), "\n");
    update(meta.data(), meta.size());
    const auto* data = static_cast<const uint8_t*>(file->Data(*info));
    const uint64_t bytes = info->end - info->begin;
    if (bytes <= kWholeTensorBytes) {
      update(data, bytes);
      continue;
    }
    for (int s = 0; s < kSamples; ++s) {
      const uint64_t offset = (bytes - kSampleBytes) * s / (kSamples - 1);
      update(data + offset, kSampleBytes);
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace jamba::engine
