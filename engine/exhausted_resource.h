// Which resource a RESOURCE_EXHAUSTED status ran out of (the request queue, the session store's
// quota, the disk), carried as a status payload so the layers above can answer each differently
// (retry soon; free space; tell the operator) without parsing messages.
#ifndef JAMBA_ENGINE_EXHAUSTED_RESOURCE_H_
#define JAMBA_ENGINE_EXHAUSTED_RESOURCE_H_

#include <string_view>

#include "absl/status/status.h"

namespace jamba::engine {

enum class ExhaustedResource {
  kUnknown,       // not marked (or not RESOURCE_EXHAUSTED at all)
  kRequestQueue,  // the engine's queue is full: retrying later helps
  kSessionQuota,  // the session store's configured disk quota
  kStorage,       // the filesystem is full (ENOSPC, or its own quota: EDQUOT)
  kMemory,        // memory (an allocation or a mapping failed)
};

// RESOURCE_EXHAUSTED with `message`, marked with `resource`.
absl::Status ResourceExhausted(ExhaustedResource resource, std::string_view message);
ExhaustedResource ExhaustedResourceOf(const absl::Status& status);

}  // namespace jamba::engine

#endif  // JAMBA_ENGINE_EXHAUSTED_RESOURCE_H_
