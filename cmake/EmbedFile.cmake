# Turns a file into a C++ source defining `std::string_view <FUNCTION>()` (cmake -P script).
# Usage: cmake -DINPUT=file -DOUTPUT=out.cc -DNAMESPACE=ns -DFUNCTION=Name -P EmbedFile.cmake
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR byte_count "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x[0-9a-f][0-9a-f],){16}" "\\0\n" bytes "${bytes}")
file(WRITE "${OUTPUT}" "// Generated from ${INPUT} by cmake/EmbedFile.cmake; do not edit.
#include <string_view>

namespace ${NAMESPACE} {
namespace {
constexpr unsigned char kData[] = {
${bytes}
};
}  // namespace

std::string_view ${FUNCTION}() {
  return std::string_view(reinterpret_cast<const char*>(kData), ${byte_count});
}

}  // namespace ${NAMESPACE}
")
