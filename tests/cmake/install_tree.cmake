# cmake -DBUILD_DIR=... -DPREFIX=... [-DCONFIG=...] -DINCLUDEDIR=... -DCMAKEDIR=... -DPCDIR=...
#       -P install_tree.cmake
# Fixture setup of the consumer tests: a fresh `cmake --install` of the current
# build into PREFIX, then a check of the installed layout.
file(REMOVE_RECURSE "${PREFIX}")
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
foreach(f
    "${INCLUDEDIR}/netaio.hpp"
    "${INCLUDEDIR}/netaio/version.hpp"
    "${CMAKEDIR}/netaioConfig.cmake"
    "${CMAKEDIR}/netaioConfigVersion.cmake"
    "${CMAKEDIR}/netaioTargets.cmake"
    "${CMAKEDIR}/FindAsio.cmake"
    "${CMAKEDIR}/Findsodium.cmake"
    "${PCDIR}/netaio.pc")
  if(NOT EXISTS "${PREFIX}/${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
message(STATUS "netaio installed into ${PREFIX}")
