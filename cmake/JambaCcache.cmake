# Compiles C and C++ through ccache when it is installed (JAMBA_CCACHE, on by default), so that
# the build directories of one checkout share their objects: CI builds build/ and then the package
# build build-pkg/ from the same sources with the same flags, and the second one is mostly cache
# hits. CCACHE_BASEDIR makes the paths in a command line relative to the build directory (the same
# in every build directory of this tree); CCACHE_NOHASHDIR lets objects with debug info be shared
# between build directories (their paths stay right: both are directly under the source root);
# CCACHE_DEPEND takes the headers from the compiler's depfile instead of running the preprocessor
# a second time, so that a miss costs what compiling costs (+12% without it, on a test file).
option(JAMBA_CCACHE "Compile through ccache when it is installed" ON)
if(JAMBA_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER AND NOT CMAKE_C_COMPILER_LAUNCHER)
  find_program(JAMBA_CCACHE_PROGRAM ccache)
  if(JAMBA_CCACHE_PROGRAM)
    set(jamba_launcher "${CMAKE_COMMAND}" -E env "CCACHE_BASEDIR=${PROJECT_SOURCE_DIR}"
                       CCACHE_NOHASHDIR=1 CCACHE_DEPEND=1 "${JAMBA_CCACHE_PROGRAM}")
    set(CMAKE_C_COMPILER_LAUNCHER ${jamba_launcher})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${jamba_launcher})
    message(STATUS "Compiling through ${JAMBA_CCACHE_PROGRAM} (-DJAMBA_CCACHE=OFF to stop)")
  endif()
endif()
