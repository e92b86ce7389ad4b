# `cmake --install build --prefix P` installs dpforge as a library other projects link with
# find_package(dpforge) (docs/library.md): the public headers, the module libraries, and one
# target, dpforge::dpforge, that brings them all with their include folder.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(dpforge_library INTERFACE)
set_target_properties(dpforge_library PROPERTIES EXPORT_NAME dpforge)
target_link_libraries(dpforge_library INTERFACE dpforge_run)
target_include_directories(dpforge_library INTERFACE
                           $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
                           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
add_library(dpforge::dpforge ALIAS dpforge_library)

set(_dpforge_installed dpforge_library)
foreach(module core privacy data dp nn audit train config report run)
  list(APPEND _dpforge_installed dpforge_${module})
endforeach()
if(TARGET dpforge_kernels)
  list(APPEND _dpforge_installed dpforge_kernels)
endif()
install(TARGETS ${_dpforge_installed} EXPORT dpforgeTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/dpforge DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT dpforgeTargets NAMESPACE dpforge::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dpforge)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/dpforgeConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/dpforgeConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dpforge)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/dpforgeConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/dpforgeConfig.cmake
              ${PROJECT_BINARY_DIR}/dpforgeConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/dpforge)
