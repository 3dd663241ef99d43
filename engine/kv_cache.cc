// KvCache: pages that grow without copying, adopted blocks used in place, and the single
// doubling block of device backends.
#include "engine/kv_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/exhausted_resource.h"
#include "engine/status_macros.h"

namespace jamba::engine {
namespace {

int64_t RoundUp(int64_t n, int64_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// The smallest block a device cache starts with (it doubles from there).
constexpr int64_t kMinDeviceRows = 64;

}  // namespace

KvCache::KvCache(kernels::Backend& backend, const Shape& shape,
                 std::shared_ptr<MemoryBudget> budget)
    : backend_(&backend),
      shape_(shape),
      row_bytes_(kernels::KvRowBytes(shape.dtype, shape.kv_heads, shape.head_dim)),
      paged_(backend.UsesHostMemory()),
      budget_(std::move(budget)),
      views_(static_cast<size_t>(shape.layers)) {}

KvCache::~KvCache() {
  for (Block& block : blocks_) Release(block);
}

KvCache::KvCache(KvCache&& other) noexcept
    : backend_(other.backend_),
      shape_(other.shape_),
      row_bytes_(other.row_bytes_),
      paged_(other.paged_),
      budget_(std::move(other.budget_)),
      blocks_(std::move(other.blocks_)),
      rows_(std::exchange(other.rows_, 0)),
      broken_(std::move(other.broken_)),
      views_(std::move(other.views_)) {
  other.blocks_.clear();
  other.views_.assign(static_cast<size_t>(shape_.layers), {});
}

KvCache& KvCache::operator=(KvCache&& other) noexcept {
  if (this == &other) return *this;
  for (Block& block : blocks_) Release(block);
  backend_ = other.backend_;
  shape_ = other.shape_;
  row_bytes_ = other.row_bytes_;
  paged_ = other.paged_;
  budget_ = std::move(other.budget_);
  blocks_ = std::move(other.blocks_);
  rows_ = std::exchange(other.rows_, 0);
  broken_ = std::move(other.broken_);
  views_ = std::move(other.views_);
  other.blocks_.clear();
  other.views_.assign(static_cast<size_t>(shape_.layers), {});
  return *this;
}

void KvCache::Release(Block& block) {
  if (block.owned() && budget_ != nullptr)
    budget_->Remove(static_cast<int64_t>(block.memory.bytes()));
  block.memory.Reset();
}

int64_t KvCache::capacity() const {
  return blocks_.empty() ? 0 : blocks_.back().first + blocks_.back().capacity;
}

bool KvCache::can_adopt() const { return paged_; }

int64_t KvCache::NextPageRows(int64_t need) const {
  const int64_t grown = std::clamp(capacity(), kMinPageRows, kMaxPageRows);
  return std::max(grown, RoundUp(need, kMinPageRows));
}

absl::StatusOr<KvCache::Block> KvCache::NewPage(int64_t rows) {
  const size_t layer_bytes = static_cast<size_t>(rows * row_bytes_);
  const size_t bytes = 2 * static_cast<size_t>(shape_.layers) * layer_bytes;
  auto memory = backend_->Allocate(bytes);
  if (!memory.ok()) {
    return ResourceExhausted(ExhaustedResource::kMemory,
                             absl::StrCat("cannot allocate ", bytes, " bytes for ", rows,
                                          " rows of KV cache: ", memory.status().message()));
  }
  Block block;
  block.capacity = rows;
  block.memory = *std::move(memory);
  auto* base = static_cast<char*>(block.memory.data());
  for (int a = 0; a < shape_.layers; ++a) {
    block.chunks.push_back({base + 2 * a * layer_bytes, base + (2 * a + 1) * layer_bytes, rows});
  }
  if (budget_ != nullptr) budget_->Add(static_cast<int64_t>(bytes));
  return block;
}

void KvCache::RebuildViews() {
  for (int a = 0; a < shape_.layers; ++a) {
    std::vector<kernels::KvChunk>& view = views_[static_cast<size_t>(a)];
    view.clear();
    for (const Block& block : blocks_) {
      kernels::KvChunk chunk = block.chunks[static_cast<size_t>(a)];
      chunk.rows = block.capacity;
      view.push_back(chunk);
    }
  }
}

size_t KvCache::BlockOf(int64_t p) const {
  auto it = std::upper_bound(blocks_.begin(), blocks_.end(), p,
                             [](int64_t value, const Block& b) { return value < b.first; });
  return static_cast<size_t>(it - blocks_.begin()) - 1;
}

int64_t KvCache::BytesToReserve(int64_t extra) const {
  if (shape_.layers == 0) return 0;
  const int64_t need = rows_ + extra;
  if (need <= capacity()) return 0;
  const int64_t per_row = 2 * shape_.layers * row_bytes_;
  if (!paged_) return std::max({need, 2 * capacity(), kMinDeviceRows}) * per_row;
  // Pages of growing size until they hold `need` rows (as Reserve allocates them).
  int64_t bytes = 0;
  int64_t have = capacity();
  while (have < need) {
    const int64_t page =
        std::max(std::clamp(have, kMinPageRows, kMaxPageRows), RoundUp(need - have, kMinPageRows));
    bytes += page * per_row;
    have += page;
  }
  return bytes;
}

absl::Status KvCache::Reserve(int64_t extra) {
  if (shape_.layers == 0) return absl::OkStatus();
  const int64_t need = rows_ + extra;
  if (need <= capacity()) return absl::OkStatus();
  if (!paged_) {
    // One contiguous block, grown by doubling: the device kernels read a single chunk.
    const int64_t rows = std::max({need, 2 * capacity(), kMinDeviceRows});
    JAMBA_ASSIGN_OR_RETURN(Block grown, NewPage(rows));
    if (!blocks_.empty()) {
      const Block& old = blocks_.front();
      const size_t used = static_cast<size_t>(rows_ * row_bytes_);
      for (int a = 0; a < shape_.layers; ++a) {
        const size_t i = static_cast<size_t>(a);
        backend_->Copy(const_cast<void*>(grown.chunks[i].keys), old.chunks[i].keys, used);
        backend_->Copy(const_cast<void*>(grown.chunks[i].values), old.chunks[i].values, used);
      }
      Release(blocks_.front());
      blocks_.clear();
    }
    blocks_.push_back(std::move(grown));
    RebuildViews();
    return absl::OkStatus();
  }
  // Allocate every page first, so a failure leaves the cache untouched.
  std::vector<Block> pages;
  int64_t have = capacity();
  while (have < need) {
    const int64_t rows =
        std::max(std::clamp(have, kMinPageRows, kMaxPageRows), RoundUp(need - have, kMinPageRows));
    absl::StatusOr<Block> page = NewPage(rows);
    if (!page.ok()) {
      for (Block& p : pages) Release(p);
      return page.status();
    }
    page->first = have;
    have += rows;
    pages.push_back(*std::move(page));
  }
  for (Block& page : pages) blocks_.push_back(std::move(page));
  RebuildViews();
  return absl::OkStatus();
}

void KvCache::ForEachRun(
    int a, int64_t begin, int64_t end,
    const std::function<void(void* keys, void* values, int64_t first, int64_t count)>& fn) const {
  if (begin >= end) return;
  const size_t i = static_cast<size_t>(a);
  for (size_t b = BlockOf(begin); b < blocks_.size() && begin < end; ++b) {
    const Block& block = blocks_[b];
    const int64_t stop = std::min(end, block.first + block.capacity);
    if (stop <= begin) continue;
    const int64_t offset = (begin - block.first) * row_bytes_;
    fn(static_cast<char*>(const_cast<void*>(block.chunks[i].keys)) + offset,
       static_cast<char*>(const_cast<void*>(block.chunks[i].values)) + offset, begin, stop - begin);
    begin = stop;
  }
}

void KvCache::Truncate(int64_t rows) {
  rows = std::clamp<int64_t>(rows, 0, rows_);
  // A device cache keeps its single block for the rows to come.
  while (paged_ && !blocks_.empty() && blocks_.back().first >= rows) {
    Release(blocks_.back());
    blocks_.pop_back();
  }
  // Rows after `rows` are rewritten by the next forward pass: never inside adopted (read-only)
  // memory, so an adopted block ends where the sequence now does.
  if (!blocks_.empty() && !blocks_.back().owned()) {
    Block& last = blocks_.back();
    last.capacity = std::min(last.capacity, rows - last.first);
    for (kernels::KvChunk& chunk : last.chunks) chunk.rows = last.capacity;
  }
  rows_ = rows;
  RebuildViews();
}

absl::Status KvCache::AppendRows(int64_t count, std::span<const void* const> keys,
                                 std::span<const void* const> values) {
  if (keys.size() != static_cast<size_t>(shape_.layers) || values.size() != keys.size())
    return absl::InvalidArgumentError("KV rows: one pointer per attention layer expected");
  JAMBA_RETURN_IF_ERROR(Reserve(count));
  for (int a = 0; a < shape_.layers; ++a) {
    const auto* k = static_cast<const char*>(keys[static_cast<size_t>(a)]);
    const auto* v = static_cast<const char*>(values[static_cast<size_t>(a)]);
    ForEachRun(a, rows_, rows_ + count, [&](void* dk, void* dv, int64_t first, int64_t n) {
      const size_t offset = static_cast<size_t>((first - rows_) * row_bytes_);
      const size_t bytes = static_cast<size_t>(n * row_bytes_);
      backend_->CopyFromHost(dk, k + offset, bytes);
      backend_->CopyFromHost(dv, v + offset, bytes);
    });
  }
  rows_ += count;
  return absl::OkStatus();
}

absl::Status KvCache::AdoptRows(int64_t count, std::span<const void* const> keys,
                                std::span<const void* const> values,
                                std::shared_ptr<const void> keep_alive,
                                std::function<absl::Status()> verify) {
  if (!paged_) {
    return absl::FailedPreconditionError(
        "KV rows can be used in place only on a backend with host memory");
  }
  if (keys.size() != static_cast<size_t>(shape_.layers) || values.size() != keys.size())
    return absl::InvalidArgumentError("KV rows: one pointer per attention layer expected");
  if (count <= 0) return absl::OkStatus();
  // The adopted rows come right after the last one in use: free room of the last page (after
  // rows_) goes unused, an empty last page is dropped.
  while (!blocks_.empty() && blocks_.back().first >= rows_) {
    Release(blocks_.back());
    blocks_.pop_back();
  }
  if (!blocks_.empty()) {
    Block& last = blocks_.back();
    last.capacity = rows_ - last.first;
    for (kernels::KvChunk& chunk : last.chunks) chunk.rows = last.capacity;
  }
  Block block;
  block.first = rows_;
  block.capacity = count;
  for (int a = 0; a < shape_.layers; ++a) {
    block.chunks.push_back({keys[static_cast<size_t>(a)], values[static_cast<size_t>(a)], count});
  }
  block.keep_alive = std::move(keep_alive);
  block.verify = std::move(verify);
  blocks_.push_back(std::move(block));
  rows_ += count;
  RebuildViews();
  return absl::OkStatus();
}

absl::Status KvCache::Verify() {
  if (!broken_.ok()) return broken_;
  for (Block& block : blocks_) {
    if (!block.verify) continue;
    absl::Status status = block.verify();
    if (!status.ok()) {
      broken_ = status;
      return status;
    }
    block.verify = nullptr;
  }
  return absl::OkStatus();
}

void KvCache::ReadRows(int a, int64_t begin, int64_t end, void* keys, void* values) const {
  auto* k = static_cast<char*>(keys);
  auto* v = static_cast<char*>(values);
  ForEachRun(a, begin, end, [&](void* sk, void* sv, int64_t first, int64_t n) {
    const size_t offset = static_cast<size_t>((first - begin) * row_bytes_);
    const size_t bytes = static_cast<size_t>(n * row_bytes_);
    backend_->CopyToHost(k + offset, sk, bytes);
    backend_->CopyToHost(v + offset, sv, bytes);
  });
}

absl::StatusOr<KvCache> KvCache::Clone() const {
  KvCache copy(*backend_, shape_, budget_);
  copy.broken_ = broken_;
  for (const Block& block : blocks_) {
    const int64_t used = std::min(block.capacity, rows_ - block.first);
    if (used <= 0) break;
    if (!block.owned()) {
      Block shared;
      shared.first = block.first;
      shared.capacity = used;
      shared.chunks = block.chunks;
      for (kernels::KvChunk& chunk : shared.chunks) chunk.rows = used;
      shared.keep_alive = block.keep_alive;
      shared.verify = block.verify;
      copy.blocks_.push_back(std::move(shared));
      continue;
    }
    // A page trimmed to its used rows (a device cache: its single block).
    JAMBA_ASSIGN_OR_RETURN(Block page, copy.NewPage(used));
    page.first = block.first;
    const size_t bytes = static_cast<size_t>(used * row_bytes_);
    for (size_t a = 0; a < block.chunks.size(); ++a) {
      backend_->Copy(const_cast<void*>(page.chunks[a].keys), block.chunks[a].keys, bytes);
      backend_->Copy(const_cast<void*>(page.chunks[a].values), block.chunks[a].values, bytes);
    }
    copy.blocks_.push_back(std::move(page));
  }
  copy.rows_ = rows_;
  copy.RebuildViews();
  return copy;
}

int64_t KvCache::OwnedBytes() const {
  int64_t bytes = 0;
  for (const Block& block : blocks_) bytes += static_cast<int64_t>(block.memory.bytes());
  return bytes;
}

int64_t KvCache::AdoptedBytes() const {
  int64_t bytes = 0;
  for (const Block& block : blocks_) {
    if (!block.owned()) bytes += 2 * shape_.layers * block.capacity * row_bytes_;
  }
  return bytes;
}

}  // namespace jamba::engine
