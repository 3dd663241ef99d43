// BpeModel: building the tables, cutting words at exact places, and the merge queue.
#include "engine/text/bpe_model.h"

#include <algorithm>
#include <cstdio>
#include <functional>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "engine/text/unicode_classes.h"

namespace jamba::engine {
namespace {

// Min-heap order: lowest rank first, then leftmost.
struct LaterCandidate {
  bool operator()(const BpeModel::Scratch::Candidate& a,
                  const BpeModel::Scratch::Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

// Debian's Abseil has its own string_view: heterogeneous lookups need it.
absl::string_view Key(std::string_view text) { return absl::string_view(text.data(), text.size()); }

std::string BytePiece(int byte) {
  char text[8];
  std::snprintf(text, sizeof(text), "<0x%02X>", byte);
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::Create(const BpeModelSpec& spec,
                                                           const std::string& path) {
  auto model = std::make_unique<BpeModel>(PrivateTag());
  model->byte_fallback_ = spec.byte_fallback;
  model->fuse_unk_ = spec.fuse_unk;
  model->ignore_merges_ = spec.ignore_merges;
  model->vocab_.reserve(spec.vocab.size());
  for (const auto& [piece, id] : spec.vocab) {
    model->vocab_.emplace(piece, id);
    const CodePoint first = CodePointAt(piece, 0);
    if (first.length == piece.size()) model->char_ids_.emplace(first.value, id);
    // Which characters the piece holds side by side.
    uint32_t previous = first.value;
    for (size_t pos = first.length; pos < piece.size();) {
      const CodePoint c = CodePointAt(piece, pos);
      model->joined_pairs_.insert(PairKey(previous, c.value));
      previous = c.value;
      pos += c.length;
    }
  }
  for (int byte = 0; byte < 256; ++byte) {
    auto it = model->vocab_.find(BytePiece(byte));
    model->byte_ids_[byte] = it == model->vocab_.end() ? -1 : it->second;
  }
  if (spec.unk_token.has_value()) {
    auto it = model->vocab_.find(*spec.unk_token);
    if (it == model->vocab_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": model.unk_token \"", *spec.unk_token, "\" is not in model.vocab"));
    }
    model->unk_id_ = it->second;
  }
  model->merges_.reserve(spec.merges.size());
  for (size_t rank = 0; rank < spec.merges.size(); ++rank) {
    const auto& [left, right] = spec.merges[rank];
    auto l = model->vocab_.find(left);
    auto r = model->vocab_.find(right);
    auto result = model->vocab_.find(absl::StrCat(left, right));
    if (l == model->vocab_.end() || r == model->vocab_.end() || result == model->vocab_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": model.merges[", rank, "] \"", left, " ", right, "\" uses ",
                       l == model->vocab_.end()   ? left
                       : r == model->vocab_.end() ? right
                                                  : absl::StrCat(left, right),
                       ", which is not in model.vocab"));
    }
    // A pair listed twice keeps its last rank, as tokenizers' map does.
    model->merges_[PairKey(l->second, r->second)] =
        Merge{static_cast<uint32_t>(rank), result->second};
  }
  return model;
}

std::optional<int32_t> BpeModel::PieceToId(std::string_view piece) const {
  auto it = vocab_.find(Key(piece));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

int32_t BpeModel::CharId(uint32_t code_point) const {
  auto it = char_ids_.find(code_point);
  return it == char_ids_.end() ? -1 : it->second;
}

const BpeModel::Merge* BpeModel::FindMerge(int32_t left, int32_t right) const {
  auto it = merges_.find(PairKey(static_cast<uint32_t>(left), static_cast<uint32_t>(right)));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::Tokenize(std::string_view word, size_t limit, Scratch& scratch,
                        std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(Key(word)); it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  size_t part_begin = 0;
  CodePoint previous = CodePointAt(word, 0);
  bool previous_known = char_ids_.contains(previous.value);
  for (size_t pos = previous.length; pos < word.size();) {
    const CodePoint c = CodePointAt(word, pos);
    const bool known = char_ids_.contains(c.value);
    const bool exact = exact_cuts_ && previous_known && known &&
                       !joined_pairs_.contains(PairKey(previous.value, c.value));
    if (exact || pos - part_begin >= max_uncut_bytes_) {
      TokenizePart(word.substr(part_begin, pos - part_begin), scratch, ids);
      part_begin = pos;
      if (ids.size() > limit) return;
    }
    previous = c;
    previous_known = known;
    pos += c.length;
  }
  TokenizePart(word.substr(part_begin), scratch, ids);
}

void BpeModel::TokenizePart(std::string_view part, Scratch& scratch,
                            std::vector<int32_t>& ids) const {
  if (part.size() > kMaxCachedBytes) {
    MergePart(part, scratch, ids);
    return;
  }
  CacheShard& shard = cache_[absl::HashOf(part) % cache_.size()];
  {
    absl::MutexLock lock(&shard.mutex);
    if (auto it = shard.entries.find(Key(part)); it != shard.entries.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  MergePart(part, scratch, ids);
  absl::MutexLock lock(&shard.mutex);
  if (shard.entries.size() >= kMaxEntriesPerShard) shard.entries.clear();
  shard.entries.emplace(std::string(part), std::vector<int32_t>(ids.begin() + first, ids.end()));
}

void BpeModel::MergePart(std::string_view part, Scratch& scratch, std::vector<int32_t>& ids) const {
  // The initial symbols: one per character, or its byte pieces, or the unknown token (pending
  // until a character with a piece of its own or the end, so fuse_unk can join a run of them).
  auto& symbols = scratch.symbols;
  symbols.clear();
  auto add = [&symbols](int32_t id) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, index - 1, index + 1, true});
  };
  bool unk_pending = false;
  for (size_t pos = 0; pos < part.size();) {
    const CodePoint c = CodePointAt(part, pos);
    const int32_t id = CharId(c.value);
    if (id >= 0) {
      if (unk_pending) add(unk_id_);
      unk_pending = false;
      add(id);
    } else {
      bool all_bytes = byte_fallback_;
      for (size_t i = 0; all_bytes && i < c.length; ++i) {
        all_bytes = byte_ids_[static_cast<uint8_t>(part[pos + i])] >= 0;
      }
      if (all_bytes) {
        for (size_t i = 0; i < c.length; ++i) add(byte_ids_[static_cast<uint8_t>(part[pos + i])]);
      } else if (unk_id_ >= 0) {
        if (unk_pending && !fuse_unk_) add(unk_id_);
        unk_pending = true;
      }
      // Without an unknown token, tokenizers drops the character.
    }
    pos += c.length;
  }
  if (unk_pending) add(unk_id_);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  auto& queue = scratch.queue;
  queue.clear();
  const LaterCandidate later;
  auto push = [&](int32_t pos) {
    const int32_t next = symbols[pos].next;
    if (next < 0) return;
    if (const Merge* merge = FindMerge(symbols[pos].id, symbols[next].id)) {
      queue.push_back({merge->rank, pos, merge->result});
      std::push_heap(queue.begin(), queue.end(), later);
    }
  };
  for (int32_t pos = 0; pos + 1 < static_cast<int32_t>(symbols.size()); ++pos) push(pos);
  while (!queue.empty()) {
    std::pop_heap(queue.begin(), queue.end(), later);
    const Scratch::Candidate top = queue.back();
    queue.pop_back();
    Scratch::Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    // Stale: the pair at this position changed since the candidate was queued.
    const Merge* merge = FindMerge(left.id, symbols[left.next].id);
    if (merge == nullptr || merge->result != top.result) continue;
    Scratch::Symbol& right = symbols[left.next];
    left.id = top.result;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    if (left.prev >= 0) push(left.prev);
    push(top.pos);
  }
  for (int32_t pos = 0; pos >= 0; pos = symbols[pos].next) ids.push_back(symbols[pos].id);
}

}  // namespace jamba::engine
