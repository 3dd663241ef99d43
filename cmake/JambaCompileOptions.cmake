# Warnings, sanitizers and hardening flags shared by every first-party target.
# Targets opt in with jamba_target_defaults(<target>) so third-party code is never affected.

set(JAMBA_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wnon-virtual-dtor
    -Wno-missing-field-initializers)
# C sources (the C ABI's tests and examples) are C11 and held to the same standard.
set(JAMBA_C_WARNING_FLAGS -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  list(APPEND JAMBA_WARNING_FLAGS -Wshadow-uncaptured-local)  # clang's name for -Wshadow=local
else()
  list(APPEND JAMBA_WARNING_FLAGS -Wshadow=local)
endif()
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # gcc 12 reports false positives in libstdc++/absl headers at -O2 (PR 105651, 105705).
  list(APPEND JAMBA_WARNING_FLAGS -Wno-restrict -Wno-stringop-overflow -Wno-array-bounds
       -Wno-maybe-uninitialized)
endif()

# Debian's hardening flags (dpkg-buildflags with hardening=+all), on by default so the binaries
# that are tested are the ones that are packaged; lintian checks the packaged ones for them.
# _FORTIFY_SOURCE needs optimisation and gets in the way of sanitizers, so it is left out of
# Debug and sanitizer builds. C and C++ only: nvcc does not take these.
option(JAMBA_HARDENING "Build with Debian's hardening flags (fortify, stack protector, relro, now)" ON)
if(JAMBA_HARDENING)
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:-fstack-protector-strong>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-Wformat>
                      $<$<COMPILE_LANGUAGE:C,CXX>:-Werror=format-security>)
  if(NOT JAMBA_SANITIZE)
    add_compile_definitions($<$<AND:$<COMPILE_LANGUAGE:C,CXX>,$<NOT:$<CONFIG:Debug>>>:_FORTIFY_SOURCE=2>)
  endif()
  add_link_options(LINKER:-z,relro LINKER:-z,now)
endif()

# How much debug information RelWithDebInfo and Debug builds carry: `full` (-g), or `lines` (-g1:
# line tables and function names, what stack traces, sanitizer reports and profiles use). The code
# generated is the same; `lines` compiles this tree's test files about a quarter faster, so CI uses
# it. A new build directory takes its default from the environment variable of the same name, as
# CMake takes CC and CXXFLAGS: .ci/run sets it once for its four build directories (build,
# build-asan, build-fuzz, build-pkg), which then also share their objects through ccache.
set(jamba_debug_info_default "full")
if(NOT "$ENV{JAMBA_DEBUG_INFO}" STREQUAL "")
  set(jamba_debug_info_default "$ENV{JAMBA_DEBUG_INFO}")
endif()
set(JAMBA_DEBUG_INFO "${jamba_debug_info_default}" CACHE STRING
    "Debug information in RelWithDebInfo/Debug builds: full or lines")
set_property(CACHE JAMBA_DEBUG_INFO PROPERTY STRINGS full lines)
if(JAMBA_DEBUG_INFO STREQUAL "lines")
  foreach(flags CMAKE_C_FLAGS_RELWITHDEBINFO CMAKE_CXX_FLAGS_RELWITHDEBINFO CMAKE_C_FLAGS_DEBUG
                CMAKE_CXX_FLAGS_DEBUG)
    string(REGEX REPLACE "(^| )-g( |$)" "\\1-g1\\2" ${flags} "${${flags}}")
  endforeach()
elseif(NOT JAMBA_DEBUG_INFO STREQUAL "full")
  message(FATAL_ERROR "JAMBA_DEBUG_INFO is \"${JAMBA_DEBUG_INFO}\": expected full or lines")
endif()

if(JAMBA_SANITIZE)
  add_compile_options(-fsanitize=${JAMBA_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${JAMBA_SANITIZE})
endif()

function(jamba_target_defaults target)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${JAMBA_WARNING_FLAGS}>
                         $<$<COMPILE_LANGUAGE:C>:${JAMBA_C_WARNING_FLAGS}>)
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
endfunction()
