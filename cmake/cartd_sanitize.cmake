# CARTD_SANITIZE=ON: AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer on every target of the tree, for `make
# test-sanitize` (build directory build-sanitize/, see the Makefile).
#
# - -O0 -g1 -fno-omit-frame-pointer: the cheapest build that still gives
#   usable stacks (CI builds this tree next to the Release one, so its
#   compile time counts twice): on 2 cores -O1 cost about 2.8 times the
#   Release build's compile CPU (bindings/cart_http/cart_routes.cpp 87
#   CPU-s against 31), -O0 about 1.3 times (40 CPU-s); -O0 only makes the
#   suite's own run slower. -g1 (line tables only) is all a report's
#   file:line needs; full -g made the CAF-heavy translation units much
#   slower to build. Assertions stay on (no NDEBUG: configure with
#   CMAKE_BUILD_TYPE=Debug, whose -g the -g1 after it overrides).
# - UBSan stays recoverable in the code (no -fno-sanitize-recover): UBSan
#   suppressions only work for recoverable checks. UBSAN_OPTIONS'
#   halt_on_error=1 (set below for every test) makes the first report that
#   is not suppressed end the process with a non-zero exit, so it fails the
#   test instead of scrolling by.
# - The runtime options (report files, suppressions, halt on error) are set
#   per test by cartd_sanitize_tests() below, so a plain `ctest` in the build
#   directory uses them too.
option(CARTD_SANITIZE "Build with ASan + UBSan (make test-sanitize)" OFF)

if(CARTD_SANITIZE)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    message(WARNING "CARTD_SANITIZE is set up and tested with g++ only")
  endif()
  # UBSan without its null, alignment and pointer-overflow checks: those
  # three instrument every pointer dereference and together cost more than
  # all other UBSan checks (runtime/supervision/supervisor.cpp, CPU-s:
  # ASan + all of UBSan 17.8, ASan alone 12.3, without these three 10.9;
  # any one of them dropped alone 15.4-16.6). What they find is covered or
  # rare here: a null dereference is an ASan SEGV report with its stack,
  # x86 tolerates misalignment and nothing here is packed (our
  # reinterpret_casts view a sockaddr_storage), and pointer arithmetic past
  # wrap-around is a bug ASan sees once the pointer is used. The fuzzers
  # (scripts/fuzz) keep all of UBSan on the parsers and codecs.
  # Signed overflow, shifts, bounds, vptr, enum/bool loads, missing returns,
  # unreachable, division by zero and the builtin checks stay on.
  set(CARTD_SANITIZE_FLAGS -fsanitize=address,undefined
                           -fno-sanitize=null,alignment,pointer-overflow
                           -fno-omit-frame-pointer)
  add_compile_options(${CARTD_SANITIZE_FLAGS} -O0 -g1)
  add_link_options(${CARTD_SANITIZE_FLAGS})
  message(STATUS "cartd: ASan + UBSan build (CARTD_SANITIZE)")
endif()

# Where every sanitized process of the test run (test binaries, the cartd
# children they start, the benchmark harness's servers) writes its reports:
# <dir>/report.<executable>.<pid>. A process that reports also exits
# non-zero, but a child's exit code is not always looked at (a test that
# kills its node, the benchmark harness), so the test `sanitizer_reports`
# runs after all others and fails if any report was written.
set(CARTD_SANITIZE_LOG_DIR ${PROJECT_BINARY_DIR}/sanitizer-reports)
set(CARTD_SANITIZE_SUPP_DIR ${PROJECT_SOURCE_DIR}/tests/sanitize)

# cartd_sanitize_tests(<test names...>)
#
# In a CARTD_SANITIZE build: gives the tests the sanitizers' runtime options
# (inherited by every process they start) and makes them require the report
# check. A no-op otherwise. Call it in the directory that added the tests
# (cartd_add_test_suite does).
function(cartd_sanitize_tests)
  cartd_sanitize_tests_with(${CARTD_SANITIZE_SUPP_DIR}/ubsan.supp ${ARGN})
endfunction()

# cartd_sanitize_descriptor_limit_test(<test>)
#
# Like cartd_sanitize_tests, for a test that runs a process out of file
# descriptors (cartd_add_test_suite's DESCRIPTOR_LIMIT_CASE): UBSan's vptr
# check is off for it. That check reads the object's vtable only after
# asking the kernel whether the memory is readable, and it asks through a
# pipe it opens (sanitizer_common's IsAccessibleMemoryRange); with no
# descriptor left the pipe fails and every polymorphic downcast, sound or
# not, is reported as "invalid vptr ... memory cannot be printed" (seen for
# our paced_doorman, paced_acceptor.cpp:102, and CAF's tuple_vals,
# mailbox_element and task_queue while those tests held every descriptor).
# ASan, LSan and UBSan's other checks stay on; the same code runs with the
# vptr check in every other test. The suppression file is ubsan.supp plus
# tests/sanitize/ubsan-descriptor-limit.supp (UBSan reads one file).
function(cartd_sanitize_descriptor_limit_test test)
  if(NOT CARTD_SANITIZE)
    return()
  endif()
  set(out ${PROJECT_BINARY_DIR}/ubsan-descriptor-limit.supp)
  file(READ ${CARTD_SANITIZE_SUPP_DIR}/ubsan.supp common)
  file(READ ${CARTD_SANITIZE_SUPP_DIR}/ubsan-descriptor-limit.supp extra)
  file(WRITE ${out} "${common}\n${extra}")
  set_property(DIRECTORY ${PROJECT_SOURCE_DIR} APPEND PROPERTY
               CMAKE_CONFIGURE_DEPENDS
               ${CARTD_SANITIZE_SUPP_DIR}/ubsan.supp
               ${CARTD_SANITIZE_SUPP_DIR}/ubsan-descriptor-limit.supp)
  cartd_sanitize_tests_with(${out} ${test})
endfunction()

function(cartd_sanitize_tests_with ubsan_supp)
  if(NOT CARTD_SANITIZE)
    return()
  endif()
  set(log ${CARTD_SANITIZE_LOG_DIR}/report)
  set(supp ${CARTD_SANITIZE_SUPP_DIR})
  foreach(test IN LISTS ARGN)
    set_property(TEST ${test} APPEND PROPERTY ENVIRONMENT
      "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:log_path=${log}:log_exe_name=1"
      "LSAN_OPTIONS=suppressions=${supp}/lsan.supp:print_suppressions=0"
      "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=${ubsan_supp}:log_path=${log}:log_exe_name=1")
    set_property(TEST ${test} APPEND PROPERTY FIXTURES_REQUIRED
                 sanitizer_reports)
  endforeach()
endfunction()

# The report check itself (see above): empties the directory before the
# first test and lists what is in it after the last.
function(cartd_add_sanitizer_report_check)
  if(NOT CARTD_SANITIZE)
    return()
  endif()
  set(check ${CARTD_SANITIZE_SUPP_DIR}/check-reports)
  add_test(NAME sanitizer_reports_reset
           COMMAND ${check} --reset ${CARTD_SANITIZE_LOG_DIR})
  add_test(NAME sanitizer_reports
           COMMAND ${check} ${CARTD_SANITIZE_LOG_DIR})
  set_tests_properties(sanitizer_reports_reset PROPERTIES
                       FIXTURES_SETUP sanitizer_reports LABELS sanitize)
  set_tests_properties(sanitizer_reports PROPERTIES
                       FIXTURES_CLEANUP sanitizer_reports LABELS sanitize)
endfunction()
