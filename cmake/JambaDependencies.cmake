# Finds every external dependency. All come from Debian packages (scripts/install-deps), except
# sentencepiece, which install-deps rebuilds statically from Debian's own source package: Debian's
# shared library embeds protobuf-lite 3.14 and aborts next to the system protobuf used by gRPC.

find_package(Threads REQUIRED)
find_package(absl CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
find_package(Protobuf REQUIRED)
# gRPC's CMake config: gRPC::grpc++, gRPC::grpc++_reflection and the gRPC::grpc_cpp_plugin executable.
find_package(gRPC CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
# cpp-httplib (jambad's /metrics endpoint) has only pkg-config; Debian builds it as a shared
# library whose header must see the same feature macros, which the .pc file carries.
find_package(PkgConfig REQUIRED)
pkg_check_modules(JAMBA_HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
if(JAMBA_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()

find_library(JAMBA_SPM_LIB NAMES libsentencepiece.a PATHS "${JAMBA_DEPS_PREFIX}/lib" NO_DEFAULT_PATH)
find_library(JAMBA_SPM_TRAIN_LIB NAMES libsentencepiece_train.a PATHS "${JAMBA_DEPS_PREFIX}/lib"
             NO_DEFAULT_PATH)
find_path(JAMBA_SPM_INCLUDE sentencepiece_processor.h PATHS "${JAMBA_DEPS_PREFIX}/include"
          NO_DEFAULT_PATH)
if(NOT JAMBA_SPM_LIB OR NOT JAMBA_SPM_TRAIN_LIB OR NOT JAMBA_SPM_INCLUDE)
  message(FATAL_ERROR "static sentencepiece not found under ${JAMBA_DEPS_PREFIX}: run scripts/install-deps")
endif()
# Imported targets so the linker orders the archives before protobuf, which they need.
add_library(jamba_spm STATIC IMPORTED GLOBAL)
set_target_properties(jamba_spm PROPERTIES
  IMPORTED_LOCATION "${JAMBA_SPM_LIB}"
  INTERFACE_INCLUDE_DIRECTORIES "${JAMBA_SPM_INCLUDE}"
  INTERFACE_LINK_LIBRARIES "protobuf::libprotobuf;Threads::Threads")
add_library(jamba_spm_train STATIC IMPORTED GLOBAL)
set_target_properties(jamba_spm_train PROPERTIES
  IMPORTED_LOCATION "${JAMBA_SPM_TRAIN_LIB}"
  INTERFACE_LINK_LIBRARIES "jamba_spm")
