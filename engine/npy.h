// NumPy .npy files (format 1.0/2.0, little-endian, C order): token ids in and logits out for the
// CLI, and reference data for the golden tests.
#ifndef JAMBA_ENGINE_NPY_H_
#define JAMBA_ENGINE_NPY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace jamba::engine {

struct NpyArray {
  std::string dtype;  // numpy descr, e.g. "<f4", "<i8", "<i4"
  std::vector<int64_t> shape;
  std::string data;  // raw little-endian bytes, C order

  int64_t num_elements() const;
  // Element values converted to the requested type; fails if the dtype does not fit.
  absl::StatusOr<std::vector<float>> AsFloats() const;
  absl::StatusOr<std::vector<int64_t>> AsInts() const;
};

absl::StatusOr<NpyArray> ParseNpy(const std::string& bytes, const std::string& name);
absl::StatusOr<NpyArray> ReadNpy(const std::string& path);
absl::Status WriteNpyFloat32(const std::string& path, const std::vector<int64_t>& shape,
                             const float* values);
absl::Status WriteNpyInt64(const std::string& path, const std::vector<int64_t>& shape,
                           const int64_t* values);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_NPY_H_
