# ramp - top-level build.  `make` builds every binary into build/;
# `make run` starts rampd on the embedded PostgreSQL; `make test` runs every
# test against a private PostgreSQL; `make check-asan` does the same under
# -fsanitize=address,undefined; `make fuzz` builds the libFuzzer targets.

BUILD    ?= build
CC       ?= gcc
PKGS     := libmicrohttpd libpq jansson yaml-0.1 libcrypto libuv libzstd libmosquitto
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libpq-dev libjansson-dev \
            libyaml-dev libssl-dev libuv1-dev libcurl4-openssl-dev postgresql \
            python3 openssl clang libzstd-dev libgit2-dev \
            libmosquitto-dev tzdata
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wimplicit-fallthrough \
            -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Iserver -MMD -MP
ifeq ($(SAN),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -O1
LDFLAGS  += -fsanitize=address,undefined
endif
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LIBS       = $(PKG_LIBS) -lcurl -lm -pthread

COMMON_SRCS := $(wildcard server/common/*.c) $(wildcard server/domain/*.c)
SERVER_SRCS := $(wildcard server/http/*.c server/api/*.c server/auth/*.c \
                 server/snapshot/*.c server/store/*.c \
                 server/engine/*.c server/*.c)
UNIT_SRCS   := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)

COMMON_OBJS := $(COMMON_SRCS:%.c=$(BUILD)/obj/%.o)
# the version strings: linked by the five binaries only, so a new commit
# relinks those and nothing else
VERSION_OBJ := $(BUILD)/obj/gen/version.o
SERVER_OBJS := $(SERVER_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

include server/otlp/otlp.mk
-include agent/agent.mk
-include runner/runner.mk

.PHONY: all build-all deps run test test-ha check-asan fuzz bench clean unit FORCE

# What `--version` and ramp_build_info say: the version is `git describe
# --tags` when a tag is there, else BASE_VERSION (so an untagged checkout or
# an unpacked tarball still says which release it is near); the commit is
# `git rev-parse --short HEAD`, "unknown" outside a git checkout. version.c
# is rewritten only when they change: a new commit costs one tiny compile
# and the links.
BASE_VERSION := 0.3.0
GIT_COMMIT   := $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
GIT_VERSION  := $(or $(patsubst v%,%,$(shell git describe --tags 2>/dev/null)),$(BASE_VERSION))

# Packages first, in a make of their own: the build's pkg-config flags and
# generated sources (onnx.proto) must be looked at after they exist.
all:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build-all

build-all: $(BUILD)/rampd $(UNIT_BINS) $(ALL_EXTRA)

# Missing Debian packages are installed when root; otherwise we stop and
# print the one command that installs them.
$(BUILD)/.deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get install -y --no-install-recommends $$missing || \
	     (apt-get update && apt-get install -y --no-install-recommends $$missing)) >&2 || exit 1; \
	  else \
	    echo "missing Debian packages; run:"; \
	    echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
	@mkdir -p $(@D) && touch $@

deps: $(BUILD)/.deps

# What the tests drive for real: curl (deploy/ci-publish.sh and the README
# walkthrough), jq (the walkthrough), a browser and what drives it (chromium,
# nodejs, npm for playwright-core), SWUpdate, promtool (prometheus), nginx,
# systemd-analyze (systemd). Installed in one go before the suite when root
# (one by one when that fails: a package apt cannot take, such as npm beside
# a nodejs that bundles it, does not keep the others out),
# so parallel tests never race for the dpkg lock; on a fresh Debian 12 this
# is everything (tests/ci/chroot-check.sh checks it). A test whose tool is
# still missing skips.
TEST_DEB_PKGS := curl jq chromium nodejs npm swupdate prometheus nginx-light systemd \
                 python3-cryptography zstd python3-numpy python3-onnx \
                 mosquitto mosquitto-clients
$(BUILD)/.test-deps: | $(BUILD)/.deps
	@missing=""; for p in $(TEST_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	  echo "installing for tests:$$missing"; \
	  (export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends $$missing || \
	   (apt-get update && apt-get install -y --no-install-recommends $$missing)) >&2 || \
	  for p in $$missing; do \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$p >/dev/null 2>&1 || \
	    echo "could not install $$p; the tests that need it will skip"; \
	  done; \
	  for s in prometheus nginx mosquitto; do (systemctl disable --now $$s || service $$s stop) >/dev/null 2>&1; done; \
	fi; true
	@touch $@

$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# schema/*.sql is compiled into rampd, so the binary migrates wherever it runs
SCHEMA_SQL := $(sort $(wildcard schema/*.sql))
$(BUILD)/gen/schema.c: $(SCHEMA_SQL) Makefile
	@mkdir -p $(@D)
	@{ echo '#include "store/migrate.h"'; echo 'const struct migration migrations[] = {'; \
	  for f in $(SCHEMA_SQL); do printf '{"%s",\n' $$(basename $$f .sql); \
	    sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $$f; echo '},'; done; \
	  echo '{0, 0}};'; } > $@

$(BUILD)/obj/gen/schema.o: $(BUILD)/gen/schema.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

$(BUILD)/gen/version.c: FORCE
	@mkdir -p $(@D)
	@printf '#include "common/version.h"\nconst char ramp_version[] = "%s";\nconst char ramp_commit[] = "%s";\n' \
	  '$(GIT_VERSION)' '$(GIT_COMMIT)' > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

$(BUILD)/obj/gen/version.o: $(BUILD)/gen/version.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/rampd: $(SERVER_OBJS) $(COMMON_OBJS) $(VERSION_OBJ) $(BUILD)/obj/gen/schema.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) $(GIT2_LIBS)

# libgit2 (GitOps, server/engine/gitops_git.c) is rampd's alone: the agent,
# runner, simulator and rampctl do not link it
GIT2_CFLAGS = $(shell pkg-config --cflags libgit2 2>/dev/null)
GIT2_LIBS   = $(shell pkg-config --libs libgit2 2>/dev/null)
$(BUILD)/obj/server/engine/gitops_git.o: CFLAGS += $(GIT2_CFLAGS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# the request gate is pure too, though it lives with the HTTP code
$(BUILD)/tests/test_fleet: $(BUILD)/obj/tests/unit/test_fleet.o $(COMMON_OBJS) \
			   $(BUILD)/obj/server/snapshot/fleet.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_gate: $(BUILD)/obj/tests/unit/test_gate.o $(COMMON_OBJS) \
			  $(BUILD)/obj/server/http/gate.o $(BUILD)/obj/server/http/route.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# replies too: problem+json without a daemon
$(BUILD)/tests/test_reply: $(BUILD)/obj/tests/unit/test_reply.o $(COMMON_OBJS) \
			   $(BUILD)/obj/server/http/reply.o $(BUILD)/obj/server/http/gate.o \
			   $(BUILD)/obj/server/http/route.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# out-of-memory injection: every allocation of ramp's objects, jansson and
# libyaml (linked from their archives, so the wrapping reaches them) goes
# through the test's allocator, which fails the Nth; -fno-builtin keeps the
# test's own malloc and free real calls; the agent's desired-answer reader
# rides along
$(BUILD)/obj/tests/unit/test_alloc_fail.o: CFLAGS += -Iagent/lib -fno-builtin
ALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=strndup,--wrap=json_loadb
$(BUILD)/tests/test_alloc_fail: $(BUILD)/obj/tests/unit/test_alloc_fail.o $(COMMON_OBJS) \
				$(BUILD)/obj/agent/lib/desired.o
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $(ALLOC_WRAP) -o $@ $^ -l:libjansson.a -l:libyaml.a \
	  $(filter-out -ljansson -lyaml,$(LIBS))

unit: $(UNIT_BINS)

# what the README walkthrough uses beside rampctl, for `make run`'s users
RUN_DEB_PKGS := curl jq openssl
$(BUILD)/.run-deps: | $(BUILD)/.deps
	@missing=""; for p in $(RUN_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing for the README walkthrough:$$missing"; \
	    (export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends $$missing || \
	     (apt-get update && apt-get install -y --no-install-recommends $$missing)) >&2 || exit 1; \
	  else \
	    echo "the README walkthrough also needs:$$missing; run:"; \
	    echo "  sudo apt-get install -y$$missing"; exit 0; \
	  fi; \
	fi; touch $@

run: all $(BUILD)/.run-deps
	@d=$${RAMP_DATA_DIR:-$$(deploy/local-data-dir.sh "$(CURDIR)")} && \
	  echo "RAMP_DATA_DIR=$$d $(BUILD)/rampd" && RAMP_DATA_DIR=$$d exec $(BUILD)/rampd

test: all $(BUILD)/.test-deps
	python3 tests/run.py --build $(BUILD)

# HA PostgreSQL (deploy/ha/): etcd, two Patroni-managed PostgreSQL nodes in
# synchronous mode and two rampd replicas on loopback; the primary's node and
# then the evaluating rampd are killed. Outside `make test`: it needs the
# Patroni and etcd packages and takes minutes.
HA_DEB_PKGS := patroni etcd-server
test-ha: all
	@missing=""; for p in $(HA_DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing for test-ha:$$missing"; \
	    (export DEBIAN_FRONTEND=noninteractive; apt-get install -y --no-install-recommends $$missing || \
	     (apt-get update && apt-get install -y --no-install-recommends $$missing)) >&2 || exit 1; \
	    for s in patroni etcd; do (systemctl disable --now $$s || service $$s stop) >/dev/null 2>&1; done; \
	  else \
	    echo "test-ha needs:$$missing; run:"; echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
	python3 tests/run.py --build $(BUILD) --suite ha -j 1

check-asan:
	$(MAKE) BUILD=build-asan SAN=1 all build-asan/.test-deps
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  python3 tests/run.py --build build-asan

FUZZ_FLAGS := -g -O1 -std=c11 -D_GNU_SOURCE -Iserver -fsanitize=fuzzer,address,undefined
# fuzz_request runs the real route table; it stops before any handler, so
# the handlers it names stay unresolved at link time
FUZZ_REQUEST_EXTRA := server/http/gate.c server/http/route.c server/api/routes.c \
		      -Wl,--unresolved-symbols=ignore-all
# fuzz_route matches patterns and paths alone
FUZZ_ROUTE_EXTRA := server/http/route.c
fuzz: $(BUILD)/.deps $(OTLP_GEN_H)
	@mkdir -p $(BUILD)/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  extra=""; [ $$n = fuzz_request ] && extra="$(FUZZ_REQUEST_EXTRA)"; \
	  [ $$n = fuzz_route ] && extra="$(FUZZ_ROUTE_EXTRA)"; \
	  echo "clang $$n"; \
	  clang $(FUZZ_FLAGS) $(PKG_CFLAGS) -o $(BUILD)/fuzz/$$n $$f $(COMMON_SRCS) $(OTLP_FUZZ_EXTRA) $$extra $(PKG_LIBS) -lm || exit 1; \
	done

bench: all
	python3 tests/bench.py --build $(BUILD) $(BENCH_ARGS)
	python3 tests/bench_runner.py --build $(BUILD)
	python3 tests/bench_rollback.py --build $(BUILD)
	python3 tests/bench_agent.py --build $(BUILD)
	python3 tests/bench_otlp.py --build $(BUILD)
	python3 tests/bench_deltas.py --build $(BUILD)
	python3 tests/bench_gitops.py --build $(BUILD)
	python3 tests/bench_mqtt.py --build $(BUILD)

clean:
	rm -rf build build-asan

include tests/tools/telemetry.mk
include tests/tools/strata.mk
include server/ui/ui.mk
include cli/cli.mk
include server/http/tls.mk
include sim/sim.mk
include bench/judge.mk

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
.SECONDARY:
