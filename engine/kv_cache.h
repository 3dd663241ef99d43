// KvCache: the attention K and V rows of one sequence, for every attention layer, in the engine's
// KV dtype (kernels/kv_dtype.h). Rows live in blocks, in position order:
//   * pages the cache allocates as the sequence grows (growing never copies a row), and
//   * blocks it adopts without a copy: a resumed session's KV segments, mapped from disk. It keeps
//     them alive while it uses them and runs their check (a checksum over the mapped pages) once,
//     before the first forward pass reads them.
// The attention kernels read the blocks in place (chunks()). On a backend without host memory
// (CUDA), whose kernels read one contiguous buffer, the cache keeps a single block grown by
// doubling and never adopts rows.
//
// Thread-safety: none; a sequence is used by one thread at a time (the scheduler's).
#ifndef JAMBA_ENGINE_KV_CACHE_H_
#define JAMBA_ENGINE_KV_CACHE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/memory_budget.h"
#include "kernels/backend.h"

namespace jamba::engine {

class KvCache {
 public:
  struct Shape {
    kernels::KvDType dtype = kernels::KvDType::kF32;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    int layers = 0;  // attention layers
  };
  // Rows of one page: the first pages are small so short sequences stay small; later ones are
  // this large, so a long sequence has few blocks (each a chunk the kernels walk). Page sizes are
  // multiples of the attention kernel's key block (128), so an all-paged cache never splits one.
  static constexpr int64_t kMinPageRows = 128;
  static constexpr int64_t kMaxPageRows = 2048;

  // `budget` (may be null) is told about every page allocated and freed.
  KvCache(kernels::Backend& backend, const Shape& shape, std::shared_ptr<MemoryBudget> budget);
  ~KvCache();
  KvCache(KvCache&& other) noexcept;
  KvCache& operator=(KvCache&& other) noexcept;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  const Shape& shape() const { return shape_; }
  int64_t row_bytes() const { return row_bytes_; }
  // Rows in use: the sequence's position once a forward pass has committed.
  int64_t rows() const { return rows_; }
  // Rows writable without allocating.
  int64_t capacity() const;

  // Attention layer `a`'s rows for the kernels: every block in order (the last one with its
  // whole capacity). Valid until the next call that adds or drops blocks (Reserve, Truncate,
  // AppendRows, AdoptRows).
  std::span<const kernels::KvChunk> chunks(int a) const { return views_[static_cast<size_t>(a)]; }

  // Bytes Reserve(extra) would allocate.
  int64_t BytesToReserve(int64_t extra) const;
  // Makes room for rows() + extra rows. Changes nothing on failure.
  absl::Status Reserve(int64_t extra);
  // Calls fn(keys, values, first, count) for each run of layer `a`'s rows [begin, end) that lies
  // in one block (end <= capacity()): where a forward pass writes its new rows.
  void ForEachRun(
      int a, int64_t begin, int64_t end,
      const std::function<void(void* keys, void* values, int64_t first, int64_t count)>& fn) const;
  // Counts `added` rows written past rows() (after a forward pass).
  void Grow(int64_t added) { rows_ += added; }
  // Drops the rows at and past `rows` (a rewind, or an undone tentative generation).
  void Truncate(int64_t rows);

  // Copies `count` host rows per attention layer (keys[a], values[a]: rows in this cache's dtype)
  // after rows().
  absl::Status AppendRows(int64_t count, std::span<const void* const> keys,
                          std::span<const void* const> values);
  // Uses `count` rows per attention layer held elsewhere in host memory, in place: they must stay
  // valid and unchanged while `keep_alive` lives, which the cache (and its clones) hold. `verify`
  // (may be empty) runs once, from Verify(), before the rows are first read.
  // FAILED_PRECONDITION on a backend without host memory.
  absl::Status AdoptRows(int64_t count, std::span<const void* const> keys,
                         std::span<const void* const> values,
                         std::shared_ptr<const void> keep_alive,
                         std::function<absl::Status()> verify);
  bool can_adopt() const;
  // Runs the pending checks of adopted rows. An error (DATA_LOSS from a damaged segment) is
  // returned now and by every later call: the cache must not be used.
  absl::Status Verify();

  // Host copies of layer `a`'s rows [begin, end), as stored.
  void ReadRows(int a, int64_t begin, int64_t end, void* keys, void* values) const;

  // A copy for a fork: adopted blocks are shared (they are immutable), pages are copied.
  absl::StatusOr<KvCache> Clone() const;

  // Bytes of the pages this cache allocated, and of the rows it uses in place.
  int64_t OwnedBytes() const;
  int64_t AdoptedBytes() const;

 private:
  struct Block {
    int64_t first = 0;                     // position of the block's first row
    int64_t rows = 0;                      // rows in use (<= capacity)
    int64_t capacity = 0;                  // rows it can hold (== rows for adopted blocks)
    kernels::DeviceBuffer memory;          // pages: per layer, capacity K rows then V rows
    std::vector<kernels::KvChunk> chunks;  // per layer: where its rows are
    std::shared_ptr<const void> keep_alive;
    std::function<absl::Status()> verify;  // adopted rows not yet checked
    bool owned() const { return !memory.empty(); }
  };

  // A page for `rows` rows, its chunks pointing into it.
  absl::StatusOr<Block> NewPage(int64_t rows);
  // Rows of the next page when `need` more rows must fit (paged caches).
  int64_t NextPageRows(int64_t need) const;
  void RebuildViews();
  // The block holding position p (p < capacity()).
  size_t BlockOf(int64_t p) const;
  void Release(Block& block);

  kernels::Backend* backend_;
  Shape shape_;
  int64_t row_bytes_ = 0;
  bool paged_ = true;
  std::shared_ptr<MemoryBudget> budget_;
  std::vector<Block> blocks_;
  int64_t rows_ = 0;
  absl::Status broken_;
  std::vector<std::vector<kernels::KvChunk>> views_;  // [layer][block]
};

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_KV_CACHE_H_
