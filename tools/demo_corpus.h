// The text the demo model's tokenizer is trained on (tools/demo_corpus.txt, embedded at build
// time so `jamba make-demo-model` needs no data files).
#ifndef JAMBA_TOOLS_DEMO_CORPUS_H_
#define JAMBA_TOOLS_DEMO_CORPUS_H_

#include <string_view>

namespace jamba::tools {

std::string_view DemoCorpus();

}  // namespace jamba::tools

#endif  // JAMBA_TOOLS_DEMO_CORPUS_H_
