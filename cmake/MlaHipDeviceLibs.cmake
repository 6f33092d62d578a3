# Debian's AMD device libraries stop at gfx940. gfx942 needs oclc_isa_version_942.bc: made here,
# at configure time, from the gfx940 one by changing its ISA constant 9400 to 9402, in a folder
# that also links every library Debian ships. Sets MLA_HIP_DEVICE_LIB_DIR.

set(MLA_HIP_BITCODE_DIR /usr/lib/x86_64-linux-gnu/amdgcn/bitcode CACHE PATH
    "Folder of Debian's AMD device-library bitcode")
find_program(MLA_LLVM_DIS NAMES llvm-dis-19 REQUIRED)
find_program(MLA_LLVM_AS NAMES llvm-as-19 REQUIRED)

set(MLA_HIP_DEVICE_LIB_DIR ${CMAKE_BINARY_DIR}/amdgcn-bitcode)
file(MAKE_DIRECTORY ${MLA_HIP_DEVICE_LIB_DIR})
file(GLOB _mla_bitcode ${MLA_HIP_BITCODE_DIR}/*.bc)
if(NOT _mla_bitcode)
  message(FATAL_ERROR "no device libraries in ${MLA_HIP_BITCODE_DIR} (apt-get install rocm-device-libs)")
endif()
foreach(_bc IN LISTS _mla_bitcode)
  get_filename_component(_name ${_bc} NAME)
  file(CREATE_LINK ${_bc} ${MLA_HIP_DEVICE_LIB_DIR}/${_name} SYMBOLIC)
endforeach()

set(_isa942 ${MLA_HIP_DEVICE_LIB_DIR}/oclc_isa_version_942.bc)
if(NOT EXISTS ${_isa942})
  execute_process(
    COMMAND ${MLA_LLVM_DIS} ${MLA_HIP_BITCODE_DIR}/oclc_isa_version_940.bc -o -
    OUTPUT_VARIABLE _ll RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0 OR NOT _ll MATCHES "9400")
    message(FATAL_ERROR "cannot disassemble oclc_isa_version_940.bc (${_rc})")
  endif()
  string(REPLACE "9400" "9402" _ll "${_ll}")
  file(WRITE ${CMAKE_BINARY_DIR}/oclc_isa_version_942.ll "${_ll}")
  execute_process(
    COMMAND ${MLA_LLVM_AS} ${CMAKE_BINARY_DIR}/oclc_isa_version_942.ll -o ${_isa942}
    RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "cannot assemble oclc_isa_version_942.bc (${_rc})")
  endif()
endif()
message(STATUS "libmla: AMD device libraries in ${MLA_HIP_DEVICE_LIB_DIR}")
