# runner/runner.mk - builds ramp-runner, the reference ONNX inference runner,
# and its tests.  Included from the top-level Makefile.
#
# The protobuf-c code for ONNX is generated at build time from Debian's
# /usr/include/onnx/onnx.proto (libonnx-dev) into $(BUILD)/gen; nothing
# generated or third-party is committed.  Runner objects build with -O3 so GCC
# vectorizes the kernels' inner loops (`make runner-vec-report` lists them).

DEB_PKGS += libprotobuf-c-dev protobuf-c-compiler libonnx-dev libonnx-testdata \
            python3-onnx python3-numpy

ONNX_PROTO   ?= /usr/include/onnx/onnx.proto
RUNNER_GEN   := $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
RUNNER_SRCS  := $(filter-out runner/main.c,$(wildcard runner/*.c))
RUNNER_OBJS  := $(RUNNER_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/onnx.pb-c.o
RUNNER_TESTS := $(patsubst tests/runner/%.c,$(BUILD)/tests/%,$(wildcard tests/runner/test_runner_*.c))
# fleet mode (runner/fleet.c) links the agent library, see agent/agent.mk
RUNNER_LINK  := $(AGENT_LIB_OBJS) $(COMMON_OBJS)
RUNNER_LIBS   = -lprotobuf-c -lmicrohttpd $(AGENT_LIBS)
RUNNER_CFLAGS := -O3 -I$(BUILD)/gen -Irunner -Iagent/lib

ALL_EXTRA += $(BUILD)/ramp-runner $(RUNNER_TESTS)
.DEFAULT_GOAL := all

$(RUNNER_GEN) &: $(ONNX_PROTO) | $(BUILD)/.deps
	@mkdir -p $(BUILD)/gen
	@echo "PROTOC-C $<"
	@protoc-c -I$(dir $(ONNX_PROTO)) --c_out=$(BUILD)/gen $(ONNX_PROTO)

$(BUILD)/obj/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) -std=c11 -O2 -g $(filter -fsanitize% -fno-omit%,$(CFLAGS)) -I$(BUILD)/gen -c $< -o $@

$(RUNNER_OBJS) $(BUILD)/obj/runner/main.o $(RUNNER_TESTS:$(BUILD)/tests/%=$(BUILD)/obj/tests/runner/%.o): \
	CFLAGS += $(RUNNER_CFLAGS)
$(RUNNER_OBJS) $(BUILD)/obj/runner/main.o $(RUNNER_TESTS:$(BUILD)/tests/%=$(BUILD)/obj/tests/runner/%.o): \
	| $(BUILD)/gen/onnx.pb-c.h

$(BUILD)/ramp-runner: $(BUILD)/obj/runner/main.o $(RUNNER_OBJS) $(RUNNER_LINK) $(VERSION_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(RUNNER_LIBS)

$(BUILD)/tests/test_runner_%: $(BUILD)/obj/tests/runner/test_runner_%.o $(RUNNER_OBJS) $(RUNNER_LINK)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(RUNNER_LIBS)

.PHONY: runner-vec-report
runner-vec-report: | $(BUILD)/gen/onnx.pb-c.h
	@for f in runner/ops_*.c; do \
	  $(CC) $(CFLAGS) $(RUNNER_CFLAGS) -fopt-info-vec-optimized -c $$f -o /dev/null 2>&1 | \
	    sed -n 's/^\(runner[^:]*:[0-9]*\):.*loop vectorized.*/\1/p'; \
	done | sort -u
