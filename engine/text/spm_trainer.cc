// The one translation unit that includes sentencepiece_trainer.h. It must not include any Abseil
// header (directly or through other engine headers): see spm_trainer.h.
#include "engine/text/spm_trainer.h"

#include <unordered_map>

#include "sentencepiece_trainer.h"

namespace jamba::engine {
namespace {

// Feeds in-memory sentences to the trainer, so training needs no input file.
class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(const std::vector<std::string>& sentences)
      : sentences_(sentences) {}

  bool done() const override { return index_ >= sentences_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return sentences_[index_]; }
  sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

 private:
  const std::vector<std::string>& sentences_;
  size_t index_ = 0;
};

}  // namespace

bool TrainSentencePieceModel(const std::vector<std::string>& sentences,
                             const std::vector<std::pair<std::string, std::string>>& options,
                             std::string& serialized_model, std::string& error) {
  std::unordered_map<std::string, std::string> kwargs;
  for (const auto& [name, value] : options) {
    if (name == "input" || name == "model_prefix") {
      error = "option '" + name + "' is not allowed: training reads and writes memory only";
      return false;
    }
    kwargs[name] = value;
  }
  VectorSentenceIterator iterator(sentences);
  std::string model;
  const sentencepiece::util::Status status =
      sentencepiece::SentencePieceTrainer::Train(kwargs, &iterator, &model);
  if (!status.ok()) {
    error = status.ToString();
    return false;
  }
  serialized_model = std::move(model);
  return true;
}

}  // namespace jamba::engine
