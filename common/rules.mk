# rules.mk - build settings shared by every Makefile in the repository.
#
#   make CC=clang            another compiler
#   make CFLAGS='-O0 -g'     your optimisation/debug flags (warnings stay on)
#   make O=/tmp/build        build outside the source tree (sanitizer builds)

.DEFAULT_GOAL := all
CFLAGS ?= -O2 -g
REPO   := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BUILD  := $(if $(O),$(abspath $(O)),$(REPO))

# Kept apart from CFLAGS so that overriding CFLAGS never drops them.
BASE_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -pthread -I$(REPO)/common -MMD -MP
ALL_CFLAGS   = $(BASE_CFLAGS) $(CFLAGS)
LDLIBS      += -pthread

COMMON_LIB := $(BUILD)/common/libcommon.a

# Programs elsewhere build the shared library through its own Makefile;
# make re-checks the archive's time afterwards, so they relink only when
# it changed.
ifneq ($(notdir $(CURDIR)),common)
$(COMMON_LIB): FORCE
	@$(MAKE) --no-print-directory -C $(REPO)/common
endif

.PHONY: FORCE
FORCE:
