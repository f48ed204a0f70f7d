# Small helpers so each component and test suite is declared in one call,
# in the spirit of CAF 0.18's caf_add_component.

# cartd_add_component(<name> SOURCES <files...> [DEPS <targets...>])
#
# Declares the static library cartd_<name>. Its headers are included by
# their path from the repository root (e.g. "runtime/journal/journal.hpp").
# A component without sources becomes an INTERFACE library.
function(cartd_add_component name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  set(target cartd_${name})
  if(ARG_SOURCES)
    add_library(${target} STATIC ${ARG_SOURCES})
    target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} PUBLIC ${ARG_DEPS})
    target_compile_options(${target} PRIVATE ${CARTD_WARNINGS})
  else()
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${target} INTERFACE ${ARG_DEPS})
  endif()
endfunction()

# cartd_add_test_suite(<name> SOURCES <files...> [DEPS <targets...>]
#                      [LABELS <labels...>] [TIMEOUT <seconds>]
#                      [DESCRIPTOR_LIMIT_CASE <suite/case>])
# cartd_add_test_suite(<name> PREBUILT <executable> [LABELS ...] [TIMEOUT ...]
#                      [DESCRIPTOR_LIMIT_CASE ...])
#
# Builds the Boost.Test executable test_<name> (in build/bin) and registers
# it with CTest under <name>. With PREBUILT it builds nothing and registers
# <executable>, built by another tree, instead (the caller sets what it
# needs to know about this tree, e.g. in its environment).
#
# DESCRIPTOR_LIMIT_CASE names the one test case of the suite that runs a
# process out of file descriptors. In the sanitizer build it runs apart, as
# CTest's <name>_descriptor_limit, with UBSan's vptr check off
# (cartd_sanitize_descriptor_limit_test in cartd_sanitize.cmake says why);
# elsewhere it stays in <name>.
function(cartd_add_test_suite name)
  cmake_parse_arguments(ARG "" "TIMEOUT;DESCRIPTOR_LIMIT_CASE;PREBUILT"
                        "SOURCES;DEPS;LABELS" ${ARGN})
  if(ARG_PREBUILT)
    set(target ${ARG_PREBUILT})
  else()
    set(target test_${name})
    cartd_build_test_executable(${target} ${ARG_SOURCES} DEPS ${ARG_DEPS})
  endif()
  set(tests ${name})
  if(CARTD_SANITIZE AND ARG_DESCRIPTOR_LIMIT_CASE)
    add_test(NAME ${name} COMMAND ${target}
                                  --run_test=!${ARG_DESCRIPTOR_LIMIT_CASE})
    add_test(NAME ${name}_descriptor_limit
             COMMAND ${target} --run_test=${ARG_DESCRIPTOR_LIMIT_CASE})
    list(APPEND tests ${name}_descriptor_limit)
  else()
    add_test(NAME ${name} COMMAND ${target})
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${tests} PROPERTIES TIMEOUT ${ARG_TIMEOUT})
  if(ARG_LABELS)
    set_tests_properties(${tests} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  cartd_sanitize_tests(${name})
  if(CARTD_SANITIZE AND ARG_DESCRIPTOR_LIMIT_CASE)
    cartd_sanitize_descriptor_limit_test(${name}_descriptor_limit)
  endif()
endfunction()

# cartd_build_test_executable(<target> <sources...> DEPS <targets...>)
#
# The Boost.Test executable of cartd_add_test_suite.
function(cartd_build_test_executable target)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  add_executable(${target} ${ARG_UNPARSED_ARGUMENTS})
  # main.cpp defines BOOST_TEST_MODULE, which must come before the first
  # Boost.Test include of its translation unit: it stays out of the unity
  # build (see the top-level CMakeLists.txt) rather than depend on the order
  # of SOURCES.
  foreach(src IN LISTS ARG_UNPARSED_ARGUMENTS)
    get_filename_component(file ${src} NAME)
    if(file STREQUAL "main.cpp")
      set_source_files_properties(${src} PROPERTIES
                                  SKIP_UNITY_BUILD_INCLUSION ON)
    endif()
  endforeach()
  target_link_libraries(${target} PRIVATE ${ARG_DEPS}
                        Boost::unit_test_framework)
  target_compile_definitions(${target} PRIVATE BOOST_TEST_DYN_LINK)
  target_compile_options(${target} PRIVATE ${CARTD_WARNINGS})
endfunction()
