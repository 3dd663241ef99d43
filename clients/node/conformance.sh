#!/usr/bin/env bash
# The Node client's entry point for clients/conformance/run-conformance (the per-language
# convention of clients/conformance/README.md): the compiled conformance program in this
# folder's dist/ (built in place by `npm ci && npm run build`, the jamba_client_node target).
# Arguments: --server HOST:PORT --scenario FILE --prefix NAME
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
program="$here/dist/conformance/conformance.js"
if [[ ! -f $program ]]; then
  echo "node: no $program (build the jamba_client_node target)" >&2
  exit 2
fi
exec node "$program" "$@"
