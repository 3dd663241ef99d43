// Early-return helpers for absl::Status, used across the engine, sdk and service.
#ifndef JAMBA_ENGINE_STATUS_MACROS_H_
#define JAMBA_ENGINE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the current function if it is not OK.
#define JAMBA_RETURN_IF_ERROR(expr)                                   \
  do {                                                                \
    if (::absl::Status jamba_status_ = (expr); !jamba_status_.ok()) { \
      return jamba_status_;                                           \
    }                                                                 \
  } while (0)

#define JAMBA_STATUS_CONCAT_INNER(a, b) a##b
#define JAMBA_STATUS_CONCAT(a, b) JAMBA_STATUS_CONCAT_INNER(a, b)

// Declares `lhs` from a StatusOr expression, or returns its error.
#define JAMBA_ASSIGN_OR_RETURN(lhs, expr) \
  JAMBA_ASSIGN_OR_RETURN_IMPL(JAMBA_STATUS_CONCAT(jamba_statusor_, __LINE__), lhs, expr)

#define JAMBA_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) return statusor.status();          \
  lhs = *std::move(statusor)

#endif  // JAMBA_ENGINE_STATUS_MACROS_H_
