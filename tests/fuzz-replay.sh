#!/usr/bin/env bash
# fuzz-replay.sh - the fuzz harness's corpus replayed through the parsers
# with the harness's checks (any compiler; `make fuzz` does the fuzzing).
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"
if out=$("$BUILD/tests/bin/fuzz_parsers" "$TESTS_DIR/fuzz/corpus" 2>&1); then
    report pass fuzz "parsers keep their promises on the seed corpus ($out)"
else
    report fail fuzz "parsers on the seed corpus" "$out"
fi
