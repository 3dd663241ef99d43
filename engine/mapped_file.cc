// mmap-backed read-only file.
#include "engine/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"

namespace jamba::engine {

absl::StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", std::strerror(err)));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  const uint8_t* data = nullptr;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ResourceExhausted(ExhaustedResource::kMemory,
                               absl::StrCat(path, ": mmap failed: ", std::strerror(err)));
    }
    data = static_cast<const uint8_t*>(map);
  }
  ::close(fd);  // the mapping stays valid
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size));
}

namespace {

// The whole pages inside [data, data + size): [*begin, *end), empty when there are none. With
// `widen`, the pages touching the range instead.
void PageRange(const void* data, size_t size, bool widen, uintptr_t* begin, uintptr_t* end) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t first = reinterpret_cast<uintptr_t>(data);
  const uintptr_t last = first + size;
  *begin = widen ? first / page * page : (first + page - 1) / page * page;
  *end = widen ? (last + page - 1) / page * page : last / page * page;
  if (*end < *begin) *end = *begin;
}

}  // namespace

bool MappedFile::Contains(const void* data, size_t size) const {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data_);
  const uintptr_t p = reinterpret_cast<uintptr_t>(data);
  return data_ != nullptr && p >= begin && size <= size_ && p - begin <= size_ - size;
}

void MappedFile::Prefault(const void* data, size_t size) const {
#ifdef MADV_POPULATE_READ
  if (size == 0 || !Contains(data, size)) return;
  uintptr_t begin = 0, end = 0;
  PageRange(data, size, /*widen=*/true, &begin, &end);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_READ);
#else
  (void)data;
  (void)size;
#endif
}

void MappedFile::ReleasePages(const void* data, size_t size) const {
  if (size == 0 || !Contains(data, size)) return;
  uintptr_t begin = 0, end = 0;
  PageRange(data, size, /*widen=*/false, &begin, &end);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

void MappedFile::Advise(Access access) const {
  if (data_ == nullptr) return;
  ::madvise(const_cast<uint8_t*>(data_), size_,
            access == Access::kRandom ? MADV_RANDOM : MADV_NORMAL);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace jamba::engine
