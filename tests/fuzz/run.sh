#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - `make fuzz`: build the parser harness with
# libFuzzer, AddressSanitizer and UBSan (clang), and fuzz for SECONDS
# (default 60), starting from the seed corpus tests/fuzz/corpus/. New
# interesting inputs go to build-fuzz/corpus/; a crash is saved in
# build-fuzz/ and fails the run. Skipped, with the reason, without clang's
# libFuzzer (Debian: apt-get install clang libclang-rt-14-dev).
set -u
case "${1:-}" in
    -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;;
esac
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-60}
out="$repo/build-fuzz"
clang=${FUZZ_CC:-clang}

mkdir -p "$out/corpus"
if ! command -v "$clang" >/dev/null 2>&1 ||
   ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n) { (void)d; (void)n; return 0; }' |
     "$clang" -x c -fsanitize=fuzzer -o "$out/probe" - 2>/dev/null; then
    echo "make fuzz: skipped: $clang with -fsanitize=fuzzer is not available"
    echo "  (Debian: apt-get install clang libclang-rt-14-dev)"
    exit 0
fi
"$clang" -std=c11 -D_GNU_SOURCE -DFUZZING_WITH_LIBFUZZER -O1 -g -Wall -Wextra \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$repo/common" "$here/fuzz_parsers.c" "$repo"/common/*.c -pthread \
    -o "$out/fuzz_parsers" || exit 1
echo "make fuzz: fuzzing the parsers for ${seconds} s"
"$out/fuzz_parsers" -max_total_time="$seconds" -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "$here/corpus" 2>"$out/fuzz.log"
rc=$?
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$out/fuzz.log"
if [[ $rc != 0 ]]; then
    tail -n 30 "$out/fuzz.log"
    echo "make fuzz: FAILED (the crashing input is in $out/)"
    exit 1
fi
echo "make fuzz: no crash, every promise kept; $(find "$out/corpus" -type f | wc -l) new inputs in build-fuzz/corpus/"
