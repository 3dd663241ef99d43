#!/usr/bin/env bash
# The Java client's entry point for clients/conformance/run-conformance (the per-language
# convention of clients/conformance/README.md): jamba-conformance.jar of the build in
# $JAMBA_BUILD_DIR (its manifest names the library and Debian's jars).
# Arguments: --server HOST:PORT --scenario FILE --prefix NAME
set -euo pipefail
jar="${JAMBA_BUILD_DIR:?the build directory}/clients/java/jamba-conformance.jar"
if [[ ! -f $jar ]]; then
  echo "java: no $jar (build the jamba_client_java target)" >&2
  exit 2
fi
exec java -jar "$jar" "$@"
