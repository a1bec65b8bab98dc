# The whole course. Each directory also builds and tests alone:
#   make -C part1-iterative        make -C part1-iterative test
#
#   make              build everything
#   make test         build, then run every test (ends "N passed, M failed")
#   make bench        every lesson's timing tables, reduced scale (minutes)
#   make bench-full   the published scales (hours)
#   make plots        PNG plots of results/*.csv (needs matplotlib)
#   make check-results  did results/ show what the lessons teach? (RESULTS=DIR)
#   make doctor       what this machine has and lacks for each lesson
#   make soak         every event-driven server, 60 s of churn (SOAK_SECONDS=N)
#   make fuzz         fuzz the parsers with libFuzzer for 60 s (FUZZ_SECONDS=N)
#   make asan         the whole test suite under AddressSanitizer + UBSan
#   make tsan         the whole test suite under ThreadSanitizer
#   make clean
# Variables: CC=clang, CFLAGS='-O0 -g' (warnings stay on), O=/abs/build/dir.

LESSONS := $(patsubst %/Makefile,%,$(wildcard part*/Makefile))
DIRS    := common tests tools $(LESSONS)

all:
	@set -e; for d in $(DIRS); do $(MAKE) --no-print-directory -C $$d; done

test: all
	@tests/run.sh

bench: all
	@tools/bench-all.sh default

bench-full: all
	@tools/bench-all.sh full

plots:
	@tools/plot.sh results

RESULTS ?= results
check-results:
	@tools/check-results.sh '$(RESULTS)'

doctor:
	@tools/doctor.sh

FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

SOAK_SECONDS ?= 60
soak: all
	@tests/soak.sh $(SOAK_SECONDS)

# Sanitizer builds go to their own directory and run the same suite; any
# sanitizer report makes the program exit non-zero, so a test fails.
SAN_ASAN := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SAN_TSAN := -O1 -g -fsanitize=thread
asan:
	@$(MAKE) --no-print-directory all O=$(CURDIR)/build-asan CFLAGS='$(SAN_ASAN)' LDLIBS='-fsanitize=address,undefined'
	@O=$(CURDIR)/build-asan SANITIZER=asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=66 \
	 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

tsan:
	@$(MAKE) --no-print-directory all O=$(CURDIR)/build-tsan CFLAGS='$(SAN_TSAN)' LDLIBS='-fsanitize=thread'
	@O=$(CURDIR)/build-tsan SANITIZER=tsan TSAN_OPTIONS=halt_on_error=1:exitcode=66 tests/run.sh

clean:
	@for d in $(DIRS); do $(MAKE) --no-print-directory -C $$d clean; done
	rm -rf build-asan build-tsan build-fuzz

help:
	@sed -n '1,/^$$/s/^# \{0,1\}//p' Makefile

.PHONY: all test bench bench-full plots check-results doctor soak fuzz asan tsan clean help
