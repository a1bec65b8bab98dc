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

all: $(BINS) helpers

# A lesson's timing.sh needs the sampler (tools/) and its tests need the
# probes (tests/): building a lesson builds them too, so that
# `make -C partN-...` is all a reader has to type before either.
helpers: $(COMMON_LIB)
	@$(MAKE) --no-print-directory -C $(REPO)/tools
	@$(MAKE) --no-print-directory -C $(REPO)/tests

$(OUT)/%: %.c $(COMMON_LIB) | $(OUT)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(COMMON_LIB) $(LDLIBS)

$(OUT):
	mkdir -p $@

# This lesson's servers through the conformance suite, and its own checks.
test: all
	@$(REPO)/tests/run.sh --part $(PART)

clean:
	rm -f $(BINS) $(BINS:=.d)

.PHONY: all helpers test clean
-include $(BINS:=.d)
