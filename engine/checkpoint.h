// A Hugging Face checkpoint directory's weights: model.safetensors, or shards listed in
// model.safetensors.index.json. Tensors are looked up by their transformers name, falling back to
// the legacy AI21 remote-code names (spec section 3.2).
#ifndef JAMBA_ENGINE_CHECKPOINT_H_
#define JAMBA_ENGINE_CHECKPOINT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/safetensors.h"
#include "kernels/dtype.h"

namespace jamba::engine {

// A tensor inside a mapped checkpoint file.
struct TensorView {
  std::string name;  // the name found in the file (may be a legacy spelling)
  std::string file;
  kernels::DType dtype = kernels::DType::kF32;
  std::vector<int64_t> shape;
  const void* data = nullptr;

  int64_t num_elements() const;
  size_t bytes() const { return static_cast<size_t>(num_elements()) * kernels::DTypeSize(dtype); }
};

class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  // Finds `name` (or a legacy spelling of it) and checks its shape; errors name file and tensor.
  absl::StatusOr<TensorView> Get(const std::string& name, const std::vector<int64_t>& shape) const;
  bool Contains(const std::string& name) const;

  const std::vector<std::unique_ptr<SafetensorsFile>>& files() const { return files_; }
  // Reads a tensor's pages in now, in large requests (MappedFile::Prefault), or gives them back
  // once its contents have been copied (MappedFile::ReleasePages).
  void PrefaultTensor(const TensorView& view) const;
  void ReleaseTensorPages(const TensorView& view) const;
  // Total bytes of tensor data over all files.
  uint64_t total_bytes() const;

 private:
  explicit Checkpoint(std::vector<std::unique_ptr<SafetensorsFile>> files);
  const TensorInfo* FindExact(const std::string& name, const SafetensorsFile** file) const;
  // The map a view's bytes lie in (null for a view of other memory).
  const MappedFile* FileHolding(const TensorView& view) const;

  std::vector<std::unique_ptr<SafetensorsFile>> files_;
};

// Legacy (remote-code) spellings of a transformers tensor name, most likely first.
std::vector<std::string> LegacyTensorNames(const std::string& name);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_CHECKPOINT_H_
