// A read-only memory map of a whole file (RAII). A backend that keeps host weights uses them in
// place from the map, so a 100 GB checkpoint costs page cache, not private memory; one that copies
// them reads the map once at load.
#ifndef JAMBA_ENGINE_MAPPED_FILE_H_
#define JAMBA_ENGINE_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace jamba::engine {

class MappedFile {
 public:
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps every page now (the kernel reads it ahead in large requests), so that the first uses of
  // the weights do not pay a page fault per 4 KiB: without it the first requests after loading
  // run at a fraction of their speed. Best effort: kernels older than 5.14 fault pages in lazily.
  void Prefault() const { Prefault(data_, size_); }
  // The same for bytes [data, data + size) of the map.
  void Prefault(const void* data, size_t size) const;
  // Unmaps the pages from this process (MADV_DONTNEED) without touching the file: its page cache
  // stays, and a later read of the map faults a page back in. For when the contents were copied
  // elsewhere and the map is no longer read in bulk.
  void ReleasePages() const { ReleasePages(data_, size_); }
  // The same for the whole pages inside bytes [data, data + size) of the map (pages shared with
  // neighbouring bytes stay).
  void ReleasePages(const void* data, size_t size) const;
  // How a page fault on the map reads the file: kNormal, the kernel's default, also reads the
  // pages around the faulting one (up to the device's read_ahead_kb, which can be megabytes);
  // kRandom (MADV_RANDOM) reads that page only. For reading a few headers spread over a file that
  // is otherwise read later, if at all. Best effort, like Prefault.
  enum class Access { kNormal, kRandom };
  void Advise(Access access) const;
  // True when [data, data + size) lies inside the map.
  bool Contains(const void* data, size_t size) const;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  std::string path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_MAPPED_FILE_H_
