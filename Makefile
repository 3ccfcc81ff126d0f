# SPDX-License-Identifier: GPL-2.0-only
# Builds ./splicer: the tc program is compiled with clang, embedded through a
# bpftool skeleton, and linked with libbpf (static when its archive exists).

VERSION := 0.1.0

OUT := build
CC ?= cc
CLANG ?= clang
BPFTOOL ?= bpftool
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Link an archive when the toolchain finds one, else the shared library:
# libbpf, libelf and zlib have static archives on Debian, libmnl has not
# (and the build uses binary packages only, no sources to build one), so
# the binary needs libmnl.so.0, libc.so.6 and the loader. STATIC=1 makes
# the three archives a requirement instead of a preference.
has_archive = $(filter /%,$(shell $(CC) -print-file-name=lib$(1).a))
static_or_shared = $(if $(call has_archive,$(1)),-l:lib$(1).a,-l$(1))
LIBS := $(call static_or_shared,bpf) $(call static_or_shared,elf) \
	$(call static_or_shared,z) -lmnl
ifeq ($(STATIC),1)
MISSING_ARCHIVES := $(strip $(foreach l,bpf elf z,$(if $(call has_archive,$(l)),,lib$(l).a)))
endif

BPF_SRC := bpf/splicer.bpf.c
BPF_OBJ := $(OUT)/splicer.bpf.o
SKEL := $(OUT)/splicer.skel.h
SHARED_H := bpf/splicer.h

# lib/ (the model) and netlink/ are one archive that the binary, the
# unit tests and the bench link; cmd/ is the command line over it.
LIB_SRCS := $(wildcard lib/*.c) $(wildcard netlink/*.c)
LIB_OBJS := $(patsubst %.c,$(OUT)/%.o,$(LIB_SRCS))
LIB := $(OUT)/libsplicer.a
CMD_SRCS := $(wildcard cmd/*.c)
CMD_OBJS := $(patsubst %.c,$(OUT)/%.o,$(CMD_SRCS))
SRCS := $(LIB_SRCS) $(CMD_SRCS)
HDRS := $(wildcard cmd/*.h) $(wildcard lib/*.h) $(wildcard netlink/*.h) \
	$(SHARED_H)

USER_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE \
	-DSPLICER_VERSION='"$(VERSION)"' -I$(OUT) -Ibpf -Inetlink -Ilib

# make install: PREFIX, SBINDIR, MANDIR and DESTDIR as usual. The unit
# goes where systemd looks for it under PREFIX (/usr/local/lib/systemd/
# system is on its path, /usr/lib/systemd/system for PREFIX=/usr); the
# configuration in /etc whatever PREFIX, where the unit reads it.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
CONFIG := $(SYSCONFDIR)/splicer/splicer.conf
SERVICE := $(OUT)/splicer.service
# The container image's root filesystem (see Containerfile).
ROOTFS ?= $(OUT)/rootfs
# Names under which splicer speaks the old tools' command lines.
COMPAT_NAMES := map_update map_delete map_delete_elem
MAN := $(OUT)/splicer.8

.PHONY: all clean deps bench-deps test test-kernels kernels bench bench-build demo format check-format unit fuzz man \
	install uninstall units rootfs
all: splicer unit

# Unit tests link the library. Their tables name only the fields that
# matter and override a macro's defaults.
TABLE_CFLAGS := -Wno-missing-field-initializers -Wno-override-init
UNIT_OBJS := $(LIB)
UNIT := $(OUT)/index_test $(OUT)/prog_test $(OUT)/plan_test
unit: $(UNIT)
$(OUT)/index_test: tests/unit/index_test.c tests/unit/rng.h $(UNIT_OBJS) $(HDRS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -o $@ $< $(UNIT_OBJS) $(LIBS)
$(OUT)/plan_test: tests/unit/plan_test.c tests/unit/rng.h $(UNIT_OBJS) $(HDRS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -Itests/unit -o $@ $< $(UNIT_OBJS) $(LIBS)
$(OUT)/prog_test: tests/unit/prog_test.c tests/unit/world.c \
		tests/unit/reference.c tests/unit/world.h tests/unit/rng.h \
		$(UNIT_OBJS) $(HDRS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) $(TABLE_CFLAGS) -Itests/unit -o $@ \
		$(filter %.c,$^) $(UNIT_OBJS) $(LIBS)

$(BPF_OBJ): $(BPF_SRC) $(SHARED_H) $(wildcard bpf/*.h) | $(OUT)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
		-I/usr/include/$(MULTIARCH) -Ibpf -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(SKEL): $(BPF_OBJ)
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name splicer_bpf > $@.tmp && mv $@.tmp $@

$(OUT)/%.o: %.c $(HDRS) $(SKEL)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

$(LIB): $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

splicer: $(CMD_OBJS) $(LIB)
ifneq ($(MISSING_ARCHIVES),)
	$(error STATIC=1: $(MISSING_ARCHIVES) not found (make deps installs them))
endif
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $(CMD_OBJS) $(LIB) $(LIBS)

$(OUT):
	$(Q)mkdir -p $@

man: $(MAN)
$(MAN): cmd/splicer.8.scd Makefile | $(OUT)
	$(call msg,SCDOC,$@)
	$(Q)sed 's/@VERSION@/$(VERSION)/g' $< | scdoc > $@.tmp && mv $@.tmp $@

# The unit names the paths install uses; rebuilt when they change.
units: $(SERVICE)
$(SERVICE): systemd/splicer.service.in $(OUT)/paths | $(OUT)
	$(call msg,GEN,$@)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@CONFIG@|$(CONFIG)|g' \
		$< > $@.tmp && mv $@.tmp $@
$(OUT)/paths: FORCE | $(OUT)
	$(Q)echo '$(SBINDIR) $(CONFIG)' | cmp -s - $@ || \
		echo '$(SBINDIR) $(CONFIG)' > $@
FORCE:

# The sample configuration is installed only where there is none: the
# file in /etc is the operator's policy, and reinstalling must keep it.
install: splicer $(MAN) $(SERVICE)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSCONFDIR)/splicer
	install -m 0755 splicer $(DESTDIR)$(SBINDIR)/splicer
	for n in $(COMPAT_NAMES); do \
		ln -sfn splicer $(DESTDIR)$(SBINDIR)/$$n || exit 1; \
	done
	install -m 0644 $(MAN) $(DESTDIR)$(MANDIR)/man8/splicer.8
	install -m 0644 cmd/splicer.bash-completion \
		$(DESTDIR)$(BASHCOMPDIR)/splicer
	install -m 0644 $(SERVICE) $(DESTDIR)$(UNITDIR)/splicer.service
	[ -e $(DESTDIR)$(CONFIG) ] || \
		install -m 0644 etc/splicer.conf $(DESTDIR)$(CONFIG)

# Exactly what install put, and no directory: they may hold other files.
# The configuration goes only if it is still the sample, unedited.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/splicer \
		$(addprefix $(DESTDIR)$(SBINDIR)/,$(COMPAT_NAMES)) \
		$(DESTDIR)$(MANDIR)/man8/splicer.8 \
		$(DESTDIR)$(BASHCOMPDIR)/splicer \
		$(DESTDIR)$(UNITDIR)/splicer.service
	! cmp -s etc/splicer.conf $(DESTDIR)$(CONFIG) || \
		rm -f $(DESTDIR)$(CONFIG)

# The container image's tree: the binary, stripped, and exactly the
# shared objects ldd lists for it, at the paths ldd names. No shell, no
# tools; /sys and /proc are mount points, /etc/splicer is for the file.
rootfs: splicer
	$(call msg,ROOTFS,$(ROOTFS))
	$(Q)rm -rf $(ROOTFS)
	$(Q)install -D -m 0755 -s splicer $(ROOTFS)/usr/sbin/splicer
	$(Q)libs=$$(ldd splicer | grep -o '/[^ ]*') && \
	for so in $$libs; do \
		install -D -m 0755 $$so $(ROOTFS)$$so || exit 1; \
	done
	$(Q)install -d -m 0755 $(ROOTFS)/sys $(ROOTFS)/proc \
		$(ROOTFS)/etc/splicer

# Everything the build, the demo and the tests need, from Debian 12.
DEB_PACKAGES := make gcc clang llvm bpftool libbpf-dev libmnl-dev libelf-dev \
	zlib1g-dev pkg-config iproute2 bats bats-support bats-assert jq socat \
	curl python3 iputils-ping arping nmap python3-scapy dnsutils procps util-linux \
	scdoc groff-base binutils strace systemd \
	qemu-system-x86 busybox-static cpio kmod xz-utils zstd
# What the benchmark needs on top: the TPROXY path it compares with.
BENCH_DEB_PACKAGES := nftables

# $(call apt_missing,PACKAGES): install those of PACKAGES not installed.
define apt_missing
	@missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${db:Status-Status}\n' $$p 2>/dev/null | \
		grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef
# Debian's kernels the checks of tests/kernel boot (names as
# tests/kernel/fetch takes them): make test runs them on TEST_KERNEL, the
# kernel of a fresh Debian 12, make test-kernels on each of KERNELS. They
# are downloaded and unpacked into build/kernels, never installed.
TEST_KERNEL ?= 6.1
KERNELS ?= 6.1 6.1-rt 6.12

deps:
	$(call apt_missing,$(DEB_PACKAGES))
	@tests/kernel/fetch $(TEST_KERNEL) >/dev/null
bench-deps:
	$(call apt_missing,$(DEB_PACKAGES) $(BENCH_DEB_PACKAGES))

# The checks on Debian 12's kernel first, then the suite on the running
# kernel, whose summary is the last line; either failing fails the target.
test: deps
	$(MAKE) all
	@rc=0; tests/kernel/matrix $(TEST_KERNEL) || rc=1; tests/run || rc=1; \
		exit $$rc

test-kernels: deps
	$(MAKE) all
	tests/kernel/matrix $(KERNELS)

# Fetch every kernel of KERNELS ahead, e.g. before going offline.
kernels:
	@for k in $(KERNELS); do tests/kernel/fetch $$k || exit 1; done

# The benchmark: the floor programs, the BPF_PROG_TEST_RUN driver, the
# end-to-end client and server, and the index compiler alone (linked with
# splicer's own objects), under build/bench. Not part of `make test`.
BENCH := $(OUT)/bench
BENCH_PROGS := $(BENCH)/datapath $(BENCH)/tcpbench $(BENCH)/compile
BENCH_LIBS := $(filter-out -lmnl,$(LIBS))
bench-build: splicer $(BENCH_PROGS)

$(BENCH):
	$(Q)mkdir -p $@

$(BENCH)/floor.bpf.o: bench/floor.bpf.c | $(BENCH)
	$(call msg,CLANG,$@)
	$(Q)$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) \
		-I/usr/include/$(MULTIARCH) -c $< -o $@

$(BENCH)/floor.skel.h: $(BENCH)/floor.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name splicer_bpf_floor > $@.tmp && \
		mv $@.tmp $@

$(BENCH)/datapath: bench/datapath.c $(BENCH)/floor.skel.h $(SHARED_H)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -I$(BENCH) -Ibpf -o $@ $< \
		$(BENCH_LIBS)

$(BENCH)/tcpbench: bench/tcpbench.c | $(BENCH)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(WARN) -D_GNU_SOURCE -o $@ $< -lpthread

$(BENCH)/compile: bench/compile.c $(UNIT_OBJS) $(HDRS) | $(BENCH)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(USER_CFLAGS) -o $@ $< $(UNIT_OBJS) $(LIBS)

bench: bench-deps
	$(MAKE) bench-build
	bench/run

# A longer fuzzing run than the tests' fixed 100,000 frames.
FUZZ_SEED ?= $(shell date +%s)
FUZZ_N ?= 5000000
fuzz: unit
	unshare --net sh -c 'ip link set lo up && \
		ip addr add 10.0.0.1/32 dev lo && ip addr add 10.0.0.2/32 dev lo && \
		exec $(OUT)/prog_test fuzz $(FUZZ_SEED) $(FUZZ_N)'

demo: deps
	$(MAKE) all
	tests/demo.sh

FORMATTED := $(SRCS) $(HDRS) $(BPF_SRC) bpf/lookup.bpf.h $(wildcard tests/unit/*.[ch]) \
	$(wildcard bench/*.c)
format:
	clang-format -i $(FORMATTED)

check-format:
	clang-format --dry-run -Werror $(FORMATTED)

clean:
	rm -rf $(OUT) splicer
