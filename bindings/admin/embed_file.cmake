# Writes OUTPUT, a C++ source defining `std::string_view NAMESPACE::FUNCTION()`
# that returns the bytes of INPUT (a raw string literal; the file is
# embedded at build time, never kept as a C++ literal by hand).
#
#   cmake -DINPUT=page.html -DOUTPUT=page.cpp -DHEADER=bindings/admin/x.hpp
#         -DNAMESPACE=cartd -DFUNCTION=page -P embed_file.cmake
foreach(var INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: ${var} is not set")
  endif()
endforeach()
file(READ "${INPUT}" content)
set(delimiter "cartd_embed")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains )${delimiter}\": cannot embed it")
endif()
set(text "// Generated from ${INPUT} by embed_file.cmake: do not edit.\n")
string(APPEND text "#include \"${HEADER}\"\n\n")
string(APPEND text "namespace ${NAMESPACE} {\n\n")
string(APPEND text "std::string_view ${FUNCTION}() {\n")
string(APPEND text "  static constexpr const char text[] = R\"${delimiter}(")
string(APPEND text "${content}")
string(APPEND text ")${delimiter}\";\n")
string(APPEND text "  return {text, sizeof(text) - 1};\n}\n\n")
string(APPEND text "} // namespace ${NAMESPACE}\n")
file(WRITE "${OUTPUT}" "${text}")
