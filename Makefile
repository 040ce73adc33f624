# wisp: `make` builds everything into out/, `make test` proves it,
# `make run` opens a shell in a VM. `make help` lists the rest.

OUT ?= out
# Every product is the same, byte for byte, wherever and whenever it is built.
export SOURCE_DATE_EPOCH ?= 1700000000
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

GUEST_CC ?= musl-gcc
HOST_CC ?= gcc
WARN := -Wall -Wextra -Werror
COMMON_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -ffile-prefix-map=$(CURDIR)/=
GUEST_CFLAGS := $(COMMON_CFLAGS) -Os -ffunction-sections -fdata-sections
GUEST_LDFLAGS := -static -Wl,--gc-sections -Wl,--build-id=none -s
HOST_CFLAGS := $(COMMON_CFLAGS) -O2
HOST_LDFLAGS := -Wl,--build-id=none
SAN_CFLAGS := $(COMMON_CFLAGS) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CC := clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all

# Each list of sources is written once. A product takes every .c file of its
# folders (in this order: it decides the bytes); the unit tests and fuzz
# targets take the parts they exercise, which the products contain too.
WIRE_CORE := common/wire.c common/base64.c common/queue.c
COMMON_SRC := $(WIRE_CORE) common/notice.c common/unix_sock.c common/mount_escape.c \
	common/pump.c common/port_list.c
INIT_SRC := $(wildcard init/*.c) $(COMMON_SRC)
WISP_SRC := $(wildcard boot/*.c) $(COMMON_SRC)
VSOCKD_SRC := $(wildcard boot/vsockd/*.c) common/queue.c common/unix_sock.c
CONFIG_CORE := init/config.c common/base64.c
CLOCK_CORE := init/clock_math.c
OPTIONS_CORE := boot/options.c boot/vmm.c boot/vmm_qemu.c boot/rootfs.c boot/net_args.c
KCMDLINE_CORE := $(OPTIONS_CORE) boot/kcmdline.c common/base64.c
# What the host parses of the guest's text: the ready notice, the trace,
# console lines.
GUEST_TEXT_CORE := $(WIRE_CORE) common/notice.c boot/trace.c boot/console.c
VSOCKD_PARSERS := boot/vsockd/vsock_proto.c boot/vsockd/vhost_user.c
VSOCKD_CORE := $(VSOCKD_PARSERS) boot/vsockd/vu_dev.c boot/vsockd/vsock_dev.c common/queue.c
FAKE_GUEST := tests/unit/fake_guest.c
# What `wisp image` parses: specs and locks, apt's and the host's text.
IMAGE_TEXT_CORE := boot/image_spec.c boot/apt_text.c

PYTHON := /usr/bin/python3
PYTEST := $(PYTHON) -m pytest

DEB_PACKAGES := gcc make libc6-dev musl-tools linux-source-6.1 bc bison flex \
	libelf-dev libssl-dev xz-utils lz4 cpio qemu-system-x86 busybox-static \
	python3 python3-pytest clang libclang-rt-14-dev procps clang-format cppcheck \
	e2fsprogs erofs-utils squashfs-tools mmdebstrap dpkg-dev uidmap \
	slirp4netns
# The last line builds the test roots of --rootfs (tests/helpers/mkroot.sh)
# and `wisp image`'s images (dpkg-dev for dpkg-scanpackages, its local
# repository's index; uidmap for mmdebstrap's unshare mode without root).
# slirp4netns joins --net user's namespace to the host (boot/net_stack.h).
# make bench needs nothing more: it fetches Debian's cloud kernel for its
# baselines itself, with apt-get download, into the cache.

.PHONY: all deps kernel run test unit fuzz lint format bench soak check-config clean help FORCE

all: $(OUT)/vmlinux $(OUT)/wisp-init $(OUT)/initramfs.cpio.lz4 $(OUT)/wisp $(OUT)/wisp-vsockd

help:
	@echo "make            build out/: vmlinux, bzImage, wisp-init, initramfs.cpio.lz4, wisp"
	@echo "make deps       install the Debian packages the build and the tests need"
	@echo "make run        boot a VM with a shell (after deps and build)"
	@echo "make test       lint, unit tests (ASan/UBSan), fuzz smoke, VM tests"
	@echo "make unit       C unit tests only;  make fuzz  the fuzz targets (FUZZ_SECONDS=)"
	@echo "make lint       clang-format (.clang-format) and cppcheck;  make format  reformat"
	@echo "make bench      wisp against baselines in one run: out/bench/results.json, boot.svg"
	@echo "                (BENCH_RUNS=10 boots each; SOAK_BOOTS=500 at the end, 0 skips the soak)"
	@echo "make soak       SOAK_BOOTS=500 boots of true with two CPU hogs: no failure, no hang"
	@echo "make V=1        show the commands"

deps:
	$(Q)missing=$$(dpkg-query -W -f '$${db:Status-Abbrev} $${Package}\n' $(DEB_PACKAGES) 2>/dev/null \
		| awk '$$1 == "ii" { ok[$$2] = 1 } END { n = split("$(DEB_PACKAGES)", p, " "); \
		for (i = 1; i <= n; i++) if (!ok[p[i]]) printf "%s ", p[i] }'); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

# The kernel script is cheap when its cache is warm; it decides what to do.
$(OUT)/vmlinux $(OUT)/bzImage $(OUT)/gen_init_cpio: kernel
kernel:
	$(Q)kernel-config/build.sh $(OUT)

# Every source is compiled once per flavour, to $(OUT)/obj/FLAVOUR/PATH.o,
# and -MD -MP writes beside it a .d file naming the headers it included, so
# touching a header rebuilds exactly what includes it. The flavours: guest
# (musl, the guest's programs), host (the host's), san (unit tests under
# ASan and UBSan), fuzz (libFuzzer, with clang).
objs = $(patsubst %.c,$(OUT)/obj/$(1)/%.o,$(2))
DEPFLAGS := -MD -MP
$(OUT)/obj/guest/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(OUT)/obj/host/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(Q)$(HOST_CC) $(HOST_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(OUT)/obj/san/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(Q)$(HOST_CC) $(SAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<
$(OUT)/obj/fuzz/%.o: %.c Makefile
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<
# A test's own object is reached only through a pattern: keep it.
.SECONDARY:

$(OUT)/wisp-init: $(call objs,guest,$(INIT_SRC)) Makefile
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

$(OUT)/initramfs.cpio.lz4: $(OUT)/wisp-init $(OUT)/gen_init_cpio initramfs/mkinitramfs.sh \
		initramfs/base.list initramfs/passwd initramfs/group
	$(Q)initramfs/mkinitramfs.sh $(OUT)/gen_init_cpio $(OUT)/wisp-init $@

$(OUT)/wisp: $(call objs,host,$(WISP_SRC)) Makefile
	$(Q)$(HOST_CC) $(HOST_LDFLAGS) -o $@ $(filter %.o,$^)

$(OUT)/wisp-vsockd: $(call objs,host,$(VSOCKD_SRC)) Makefile
	$(Q)$(HOST_CC) $(HOST_LDFLAGS) -o $@ $(filter %.o,$^)

# The guest side of the vsock tests, run from a share.
$(OUT)/%_probe: $(OUT)/obj/guest/tests/helpers/%_probe.o Makefile
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

# A hostile guest's /init (tests/test_hostile.py), in an initramfs of its own.
$(OUT)/hostile_init: $(call objs,guest,tests/helpers/hostile_init.c common/wire.c) Makefile
	$(Q)$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)
$(OUT)/hostile.cpio.lz4: $(OUT)/hostile_init $(OUT)/gen_init_cpio initramfs/mkinitramfs.sh \
		initramfs/base.list
	$(Q)initramfs/mkinitramfs.sh $(OUT)/gen_init_cpio $(OUT)/hostile_init $@

run: all
	$(Q)$(OUT)/wisp run -it

# Unit tests of the parsers and protocol code, under ASan and UBSan. A test
# links its own object and the objects its line below adds: a new test is
# one line, or none when its own file is all it needs. Fuzz targets too.
UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUT)/unit/%,$(wildcard tests/unit/test_*.c))
$(OUT)/unit/test_config: $(call objs,san,$(CONFIG_CORE))
$(OUT)/unit/test_wire: $(call objs,san,$(WIRE_CORE))
$(OUT)/unit/test_options: $(call objs,san,$(OPTIONS_CORE))
$(OUT)/unit/test_kcmdline: $(call objs,san,$(KCMDLINE_CORE))
$(OUT)/unit/test_vsock: $(call objs,san,$(VSOCKD_CORE) $(FAKE_GUEST))
$(OUT)/unit/test_clock: $(call objs,san,$(CLOCK_CORE))
$(OUT)/unit/test_outcome: $(call objs,san,boot/outcome.c)
$(OUT)/unit/test_mounts: $(call objs,san,common/mount_escape.c)
$(OUT)/unit/test_runtime: $(call objs,san,boot/runtime.c)
$(OUT)/unit/test_rootfs: $(call objs,san,boot/rootfs.c boot/root_stage.c boot/userns.c common/mount_escape.c)
$(OUT)/unit/test_guest_text: $(call objs,san,$(GUEST_TEXT_CORE))
$(OUT)/unit/test_image_spec: $(call objs,san,boot/image_spec.c)
$(OUT)/unit/test_apt_text: $(call objs,san,$(IMAGE_TEXT_CORE))
$(OUT)/unit/test_net_args: $(call objs,san,boot/net_args.c)
$(OUT)/unit/test_port_list: $(call objs,san,common/port_list.c common/wire.c)
$(OUT)/unit/test_listen_table: $(call objs,san,init/listen_table.c)
$(OUT)/unit/test_pump: $(call objs,san,common/pump.c)
$(OUT)/unit/%: $(OUT)/obj/san/tests/unit/%.o Makefile
	@mkdir -p $(@D)
	$(Q)$(HOST_CC) $(SAN_CFLAGS) -o $@ $(filter %.o,$^)

unit: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do $$t || exit 1; done

# libFuzzer targets, run for a bounded time each (FUZZ_SECONDS).
FUZZ_SECONDS ?= 20
FUZZERS := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
$(OUT)/fuzz/fuzz_config: $(call objs,fuzz,$(CONFIG_CORE))
$(OUT)/fuzz/fuzz_wire: $(call objs,fuzz,$(WIRE_CORE))
$(OUT)/fuzz/fuzz_vsock: $(call objs,fuzz,$(VSOCKD_PARSERS))
$(OUT)/fuzz/fuzz_vsock_dev: $(call objs,fuzz,$(VSOCKD_CORE) $(FAKE_GUEST))
$(OUT)/fuzz/fuzz_time: $(call objs,fuzz,$(CLOCK_CORE))
$(OUT)/fuzz/fuzz_guest_text: $(call objs,fuzz,$(GUEST_TEXT_CORE))
$(OUT)/fuzz/fuzz_apt_text: $(call objs,fuzz,$(IMAGE_TEXT_CORE))
$(OUT)/fuzz/fuzz_port_list: $(call objs,fuzz,common/port_list.c common/wire.c init/listen_table.c)
$(OUT)/fuzz/fuzz_relay: $(call objs,fuzz,boot/relay.c boot/sink.c boot/loop.c boot/trace.c boot/msg.c \
	$(WIRE_CORE))
$(OUT)/fuzz/fuzz_time_service: $(call objs,fuzz,boot/vsockd/time_service.c boot/vsockd/log.c common/queue.c)
$(OUT)/fuzz/%: $(OUT)/obj/fuzz/tests/fuzz/%.o Makefile
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.o,$^)

fuzz: $(FUZZERS)
	$(Q)for seeds in tests/fuzz/*_seeds.sh; do sh $$seeds; done
	$(Q)for f in $(FUZZERS); do \
		echo "fuzz: $$f for $(FUZZ_SECONDS)s"; \
		mkdir -p $(OUT)/fuzz/corpus-$${f##*/}; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 $(OUT)/fuzz/corpus-$${f##*/} \
			>$(OUT)/fuzz/$${f##*/}.log 2>&1 || { tail -n 30 $(OUT)/fuzz/$${f##*/}.log; exit 1; }; \
	done

# The C files make lint checks and make format rewrites.
LINT_SRC := $(wildcard init/*.[ch] common/*.[ch] boot/*.[ch] boot/vsockd/*.[ch] tests/unit/*.[ch] \
	tests/fuzz/*.[ch] tests/helpers/*.[ch])
# One configuration, the one the build compiles. Suppressed, and why:
#   unusedStructMember in init/timesync.c: its rtc and ptp structs copy the
#   kernel's layouts (musl has no <linux/rtc.h>), unused members included.
CPPCHECK_FLAGS := --quiet --error-exitcode=1 --enable=warning,style,performance,portability \
	--std=c11 --language=c -D_GNU_SOURCE --inline-suppr \
	--suppress=unusedStructMember:init/timesync.c

lint:
	$(Q)clang-format --dry-run -Werror $(LINT_SRC)
	$(Q)cppcheck $(CPPCHECK_FLAGS) $(filter %.c,$(LINT_SRC))

format:
	$(Q)clang-format -i $(LINT_SRC)

test: lint all unit fuzz $(OUT)/vsock_probe $(OUT)/hold_probe $(OUT)/echo_probe $(OUT)/clock_probe \
		$(OUT)/udp_probe $(OUT)/hostile.cpio.lz4
	$(Q)$(PYTEST) -q tests

# A benchmark, not a test: medians and ratios against baselines built in
# the same run. It ends with the soak unless SOAK_BOOTS=0.
BENCH_RUNS ?= 10
SOAK_BOOTS ?= 500
bench: all $(OUT)/echo_probe
	$(Q)BENCH_RUNS=$(BENCH_RUNS) SOAK_BOOTS=$(SOAK_BOOTS) $(PYTHON) bench/bench.py --out $(OUT)

soak: all
	$(Q)SOAK_BOOTS=$(SOAK_BOOTS) $(PYTHON) bench/soak.py --out $(OUT)

clean:
	rm -rf $(OUT)

# What each object included, as its last compile found it.
-include $(wildcard $(OUT)/obj/*/*/*.d $(OUT)/obj/*/*/*/*.d)
