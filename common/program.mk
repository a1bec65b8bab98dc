# program.mk - the Makefile of a lesson directory is its list of programs:
#
#   PROGS := server client
#   include ../common/program.mk
#
# Each program is one .c file linked with the shared library.

include $(dir $(lastword $(MAKEFILE_LIST)))rules.mk

PART := $(notdir $(CURDIR))
OUT  := $(BUILD)/$(PART)
BINS := $(PROGS:%=$(OUT)/%)

all: $(BINS)

$(OUT)/%: %.c $(COMMON_LIB) | $(OUT)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_LIB) $(LDLIBS)

$(OUT):
	mkdir -p $@

# This lesson's servers through the conformance suite, and its own checks.
test: all
	@$(REPO)/tests/run.sh --part $(PART)

clean:
	rm -f $(BINS) $(BINS:=.d)

.PHONY: all test clean
-include $(BINS:=.d)
