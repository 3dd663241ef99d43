// POSIX implementation of the durable file primitives.
#include "sdk/store/durable_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"

namespace jamba::sdk {
namespace {

absl::Status ErrnoError(const std::string& what, const std::string& path, int err) {
  const std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == ENOSPC || err == EDQUOT) {
    return engine::ResourceExhausted(engine::ExhaustedResource::kStorage, message);
  }
  if (err == EACCES || err == EPERM || err == EROFS) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

absl::Status WriteAll(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("cannot write", path, errno);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::string TempName(const std::string& name) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(kTempPrefix, name, "-", rng() % 1000000000);
}

}  // namespace

absl::Status SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", dir, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoError("cannot fsync directory", dir, err);
  return absl::OkStatus();
}

absl::Status WriteFileDurably(const std::string& dir, const std::string& name,
                              const std::string& contents,
                              const std::function<absl::Status()>& before_rename) {
  const std::string temp = absl::StrCat(dir, "/", TempName(name));
  const std::string final_path = absl::StrCat(dir, "/", name);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  absl::Status status = WriteAll(fd, contents.data(), contents.size(), temp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", temp, errno);
  ::close(fd);
  if (status.ok() && before_rename) status = before_rename();
  if (status.ok() && ::rename(temp.c_str(), final_path.c_str()) != 0) {
    status = ErrnoError("cannot rename to", final_path, errno);
  }
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return SyncDirectory(dir);
}

absl::StatusOr<std::string> WriteTempFile(const std::string& dir, const std::string& name,
                                          const std::string& contents) {
  const std::string temp = absl::StrCat(dir, "/", TempName(name));
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", temp, errno);
  absl::Status status = WriteAll(fd, contents.data(), contents.size(), temp);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoError("cannot fsync", temp, errno);
  ::close(fd);
  if (!status.ok()) {
    ::unlink(temp.c_str());
    return status;
  }
  return temp;
}

absl::Status LinkNew(const std::string& temp, const std::string& path) {
  if (::link(temp.c_str(), path.c_str()) == 0) return absl::OkStatus();
  if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path, " already exists"));
  return ErrnoError("cannot link", path, errno);
}

absl::Status CreateFileDurably(const std::string& dir, const std::string& name,
                               const std::string& contents) {
  absl::StatusOr<std::string> temp = WriteTempFile(dir, name, contents);
  if (!temp.ok()) return temp.status();
  const absl::Status linked = LinkNew(*temp, absl::StrCat(dir, "/", name));
  ::unlink(temp->c_str());
  if (!linked.ok()) return linked;
  return SyncDirectory(dir);
}

absl::Status CheckHardLinks(const std::string& dir) {
  absl::StatusOr<std::string> temp = WriteTempFile(dir, "link-probe", "");
  if (!temp.ok()) return temp.status();
  const std::string second = *temp + "-2";
  const int rc = ::link(temp->c_str(), second.c_str());
  const int err = errno;
  ::unlink(temp->c_str());
  if (rc == 0) {
    ::unlink(second.c_str());
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(
      absl::StrCat("session store ", dir, ": its filesystem cannot make hard links (",
                   std::strerror(err), "); a session store needs link(2)"));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open", path, errno);
  // Sized from fstat and read in place: session segments are hundreds of MiB, and growing a
  // string chunk by chunk copied them again and faulted in fresh pages at every doubling.
  struct stat st;
  size_t expected = 0;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) expected = static_cast<size_t>(st.st_size);
  std::string contents(expected + 1, '\0');  // one spare byte detects a file that grew
  size_t size = 0;
  for (;;) {
    if (size == contents.size()) contents.resize(contents.size() * 2 + (1 << 16));
    const ssize_t n = ::read(fd, contents.data() + size, contents.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      return ErrnoError("cannot read", path, err);
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  ::close(fd);
  contents.resize(size);
  return contents;
}

absl::Status MakeDirectories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create directory ", dir, ": ", ec.message()));
  ::chmod(dir.c_str(), 0700);
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ListDirectory(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot list", dir, errno);
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

absl::Status LinkOrCopy(const std::string& from, const std::string& to_dir,
                        const std::string& to_name) {
  const std::string to = absl::StrCat(to_dir, "/", to_name);
  if (::link(from.c_str(), to.c_str()) == 0) return absl::OkStatus();
  // An existing file may hold other contents: never take it for the one asked for.
  if (errno == EEXIST) return absl::AlreadyExistsError(absl::StrCat(to, " already exists"));
  auto contents = ReadWholeFile(from);
  if (!contents.ok()) return contents.status();
  return WriteFileDurably(to_dir, to_name, *contents);
}

uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += entry.file_size(ec);
  }
  return total;
}

}  // namespace jamba::sdk
