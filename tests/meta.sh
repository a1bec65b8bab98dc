#!/usr/bin/env bash
# meta.sh - the conformance suite must fail a broken server. Each line runs
# one scenario against tests/bin/broken_server with one classic bug, and
# passes only if that scenario FAILS (and passes without the bug).
set -u
. "$(dirname "$0")/lib.sh"
help_if_asked "$@"

# expect_caught FAULT SCENARIO
expect_caught() {
    local fault=$1 sc=$2 out
    out=$(BROKEN_FAULT=$fault SCENARIOS=$sc "$TESTS_DIR/conformance.sh" broken - tests/bin/broken_server)
    if grep -q "^FAIL broken: $sc " <<<"$out"; then
        report pass meta "the '$sc' scenario catches a server with bug '$fault'"
    else
        report fail meta "'$sc' vs bug '$fault'" "the suite did not notice: $out"
    fi
}

# Without a bug, the same naive server passes those scenarios: the failures
# above come from the bugs, not from the test harness.
out=$(BROKEN_FAULT=none SCENARIOS="integrity halfclose reset-mid vanish idle-timeout sigterm" \
      "$TESTS_DIR/conformance.sh" broken - tests/bin/broken_server)
if grep -q '^FAIL' <<<"$out"; then
    report fail meta "control: the bug-free naive server passes" "$out"
else
    report pass meta "control: the bug-free naive server passes"
fi
expect_caught drop-byte integrity
expect_caught ignore-eof halfclose
expect_caught leak-fd reset-mid
expect_caught sigpipe vanish
expect_caught no-idle-timeout idle-timeout
expect_caught ignore-sigterm sigterm
expect_caught per-read-timeout trickle
