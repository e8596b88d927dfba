# AttnMLIR CMake package: the attn dialect and passes as libraries.
#
#   find_package(AttnMLIR REQUIRED CONFIG)
#   target_link_libraries(my-tool PRIVATE AttnMLIR::MLIRAttnTransforms)
#
# Sets ATTN_INCLUDE_DIRS, ATTN_TOOLS_DIR (attn-opt, attn-translate) and
# ATTN_PLUGIN (the mlir-opt plugin module).

include(CMakeFindDependencyMacro)
find_dependency(MLIR CONFIG HINTS "/usr/lib/llvm-22/lib/cmake/mlir")

get_filename_component(ATTN_INSTALL_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(ATTN_INCLUDE_DIRS "${ATTN_INSTALL_PREFIX}/include")
set(ATTN_TOOLS_DIR "${ATTN_INSTALL_PREFIX}/bin")
set(ATTN_PLUGIN "${ATTN_INSTALL_PREFIX}/lib/AttnPlugin.so")

if(NOT TARGET AttnMLIR::MLIRAttnDialect)
  include("${CMAKE_CURRENT_LIST_DIR}/AttnMLIRTargets.cmake")
endif()
