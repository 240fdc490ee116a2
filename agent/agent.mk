# agent/agent.mk - the fleet agent library (agent/lib: poll with ETag,
# resumable download, verify, status, telemetry) that ramp-runner links, and
# the on-device ramp-agent built from it.  Included from the top-level
# Makefile before runner/runner.mk, which links AGENT_LIB_OBJS into
# ramp-runner.  The library verifies with the domain objects (sig, manifest).

AGENT_LIB_SRCS := $(wildcard agent/lib/*.c)
AGENT_LIB_OBJS := $(AGENT_LIB_SRCS:%.c=$(BUILD)/obj/%.o)
AGENT_LIBS      = $(PKG_LIBS) -lcurl -lm -pthread
AGENT_TESTS    := $(patsubst tests/agent/%.c,$(BUILD)/tests/%,$(wildcard tests/agent/test_agent_*.c))

ALL_EXTRA += $(BUILD)/ramp-agent $(AGENT_TESTS)

$(AGENT_LIB_OBJS) $(BUILD)/obj/agent/main.o $(AGENT_TESTS:$(BUILD)/tests/%=$(BUILD)/obj/tests/agent/%.o): \
	CFLAGS += -Iagent/lib

$(BUILD)/ramp-agent: $(BUILD)/obj/agent/main.o $(AGENT_LIB_OBJS) $(COMMON_OBJS) $(VERSION_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)

$(BUILD)/tests/test_agent_%: $(BUILD)/obj/tests/agent/test_agent_%.o $(AGENT_LIB_OBJS) $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LIBS)
