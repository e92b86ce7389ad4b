// SPDX-License-Identifier: Apache-2.0
// One fuzz target's entry point, built two ways from the same file:
//  - with -DDPFORGE_FUZZ=ON (clang, scripts/fuzz.sh): libFuzzer's LLVMFuzzerTestOneInput, one
//    instrumented executable per target;
//  - in the normal build: `<name>_fuzz_one`, one of the functions of dpforge_fuzz_seeds
//    (fuzz/seeds_main.cpp), which the test suite runs over each target's seed corpus, so a target
//    that stops compiling or linking, or crashes on a seed, fails CI.
#pragma once
#include <cstddef>
#include <cstdint>

#ifdef DPFORGE_LIBFUZZER
#define DPFORGE_FUZZ_ENTRY(name) extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
#else
#define DPFORGE_FUZZ_ENTRY(name) int name##_fuzz_one(const uint8_t* data, size_t size)
#endif
