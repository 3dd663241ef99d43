# find_package(JambaClient): the C++ client of jambad as Jamba::jamba_client (a static library
# with the generated jamba.v1 stubs). Include <jamba/client/client.h>.
include(CMakeFindDependencyMacro)
find_dependency(absl CONFIG)
find_dependency(Protobuf)
find_dependency(gRPC CONFIG)
include("${CMAKE_CURRENT_LIST_DIR}/JambaClientTargets.cmake")
