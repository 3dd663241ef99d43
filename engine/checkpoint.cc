// Opens single-file and sharded safetensors checkpoints and resolves tensor names.
#include "engine/checkpoint.h"

#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "engine/file_util.h"
#include "engine/status_macros.h"
#include "nlohmann/json.hpp"

namespace jamba::engine {
namespace {

using Json = nlohmann::json;

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

// Shard file names must be plain names inside the model directory.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

}  // namespace

int64_t TensorView::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<std::string> LegacyTensorNames(const std::string& name) {
  std::vector<std::string> out;
  auto add = [&](std::string candidate) {
    if (candidate != name) out.push_back(std::move(candidate));
  };
  add(absl::StrReplaceAll(name, {{".mamba.b_layernorm.", ".mamba.B_layernorm."},
                                 {".mamba.c_layernorm.", ".mamba.C_layernorm."},
                                 {".pre_ff_layernorm.", ".pre_moe_layernorm."},
                                 {".feed_forward.router.", ".moe.router."},
                                 {".feed_forward.experts.", ".moe.experts."}}));
  // Dense layers were stored as a one-expert MoE.
  for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
    const std::string dense = absl::StrCat(".feed_forward.", proj, ".");
    if (name.find(dense) != std::string::npos) {
      add(absl::StrReplaceAll(name, {{dense, absl::StrCat(".moe.experts.0.", proj, ".")}}));
    }
  }
  return out;
}

Checkpoint::Checkpoint(std::vector<std::unique_ptr<SafetensorsFile>> files)
    : files_(std::move(files)) {}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  const std::string index_path = JoinPath(model_dir, "model.safetensors.index.json");
  const std::string single_path = JoinPath(model_dir, "model.safetensors");
  if (FileExists(index_path)) {
    JAMBA_ASSIGN_OR_RETURN(std::string text, ReadFileToString(index_path));
    Json index = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (index.is_discarded() || !index.is_object()) {
      return absl::DataLossError(absl::StrCat(index_path, ": not a valid JSON object"));
    }
    auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) {
      return absl::DataLossError(absl::StrCat(index_path, ": missing \"weight_map\" object"));
    }
    std::set<std::string> shard_names;
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      if (!it.value().is_string() || !IsPlainFileName(it.value().get<std::string>())) {
        return absl::DataLossError(absl::StrCat(index_path, ": weight_map entry for '", it.key(),
                                                "' must be a file name in the model directory"));
      }
      shard_names.insert(it.value().get<std::string>());
    }
    if (shard_names.empty())
      return absl::DataLossError(absl::StrCat(index_path, ": weight_map is empty"));
    std::map<std::string, const SafetensorsFile*> by_shard;
    for (const std::string& shard : shard_names) {
      const std::string path = JoinPath(model_dir, shard);
      auto file = SafetensorsFile::Open(path);
      if (!file.ok()) {
        if (absl::IsNotFound(file.status())) {
          return absl::NotFoundError(
              absl::StrCat("missing shard ", path, " (listed in ", index_path, ")"));
        }
        return file.status();
      }
      by_shard[shard] = file->get();
      files.push_back(*std::move(file));
    }
    for (auto it = map_it->begin(); it != map_it->end(); ++it) {
      const SafetensorsFile* shard = by_shard[it.value().get<std::string>()];
      if (shard->Find(it.key()) == nullptr) {
        return absl::DataLossError(absl::StrCat(shard->path(), ": tensor '", it.key(),
                                                "' is listed in ", index_path,
                                                " but not in the shard"));
      }
    }
  } else if (FileExists(single_path)) {
    JAMBA_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single_path));
    files.push_back(std::move(file));
  } else {
    return absl::NotFoundError(
        absl::StrCat(model_dir, ": no model.safetensors or model.safetensors.index.json"));
  }
  return std::unique_ptr<Checkpoint>(new Checkpoint(std::move(files)));
}

const TensorInfo* Checkpoint::FindExact(const std::string& name,
                                        const SafetensorsFile** file) const {
  for (const auto& f : files_) {
    if (const TensorInfo* info = f->Find(name)) {
      *file = f.get();
      return info;
    }
  }
  return nullptr;
}

bool Checkpoint::Contains(const std::string& name) const {
  const SafetensorsFile* file = nullptr;
  if (FindExact(name, &file) != nullptr) return true;
  for (const std::string& legacy : LegacyTensorNames(name)) {
    if (FindExact(legacy, &file) != nullptr) return true;
  }
  return false;
}

absl::StatusOr<TensorView> Checkpoint::Get(const std::string& name,
                                           const std::vector<int64_t>& shape) const {
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = FindExact(name, &file);
  for (const std::string& legacy : LegacyTensorNames(name)) {
    if (info != nullptr) break;
    info = FindExact(legacy, &file);
  }
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "checkpoint has no tensor '", name, "' (files: ",
        absl::StrJoin(files_, ", ",
                      [](std::string* out, const auto& f) { absl::StrAppend(out, f->path()); }),
        ")"));
  }
  // conv1d weights are [I, 1, K] in transformers; accept [I, K] as written by other converters.
  std::vector<int64_t> got = info->shape;
  if (got != shape) {
    std::vector<int64_t> squeezed;
    for (int64_t d : got) {
      if (d != 1) squeezed.push_back(d);
    }
    std::vector<int64_t> want_squeezed;
    for (int64_t d : shape) {
      if (d != 1) want_squeezed.push_back(d);
    }
    if (squeezed != want_squeezed || got.size() > shape.size() + 1) {
      return absl::FailedPreconditionError(
          absl::StrCat(file->path(), ": tensor '", info->name, "' has shape ", ShapeString(got),
                       ", expected ", ShapeString(shape), " from config.json"));
    }
  }
  TensorView view;
  view.name = info->name;
  view.file = file->path();
  view.dtype = info->dtype;
  view.shape = shape;
  view.data = file->Data(*info);
  return view;
}

const MappedFile* Checkpoint::FileHolding(const TensorView& view) const {
  for (const auto& f : files_) {
    if (f->mapped().Contains(view.data, view.bytes())) return &f->mapped();
  }
  return nullptr;
}

void Checkpoint::PrefaultTensor(const TensorView& view) const {
  if (const MappedFile* file = FileHolding(view)) file->Prefault(view.data, view.bytes());
}

void Checkpoint::ReleaseTensorPages(const TensorView& view) const {
  if (const MappedFile* file = FileHolding(view)) file->ReleasePages(view.data, view.bytes());
}

uint64_t Checkpoint::total_bytes() const {
  uint64_t total = 0;
  for (const auto& f : files_) {
    for (const TensorInfo& t : f->tensors()) total += t.end - t.begin;
  }
  return total;
}

}  // namespace jamba::engine
