# Writes OUTPUT, a header defining CARTD_VERSION: VERSION (the project's),
# plus `git describe` of SOURCE_DIR when it is a git checkout and git is
# installed ("0.1.0 (git 9122234-dirty)"). Run at every build (cmake -P), it
# rewrites OUTPUT only when the text changes, so an unchanged tree rebuilds
# nothing.
set(text "${VERSION}")
find_program(CARTD_GIT git)
if(CARTD_GIT)
  execute_process(COMMAND ${CARTD_GIT} describe --always --dirty --tags
                  WORKING_DIRECTORY ${SOURCE_DIR}
                  OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE failed ERROR_QUIET)
  if(NOT failed AND described)
    set(text "${VERSION} (git ${described})")
  endif()
endif()
set(content "#pragma once\n#define CARTD_VERSION \"${text}\"\n")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUTPUT} "${content}")
endif()
