# cli.mk - included by the Makefile: build/rampctl, the operators' and CI's
# command line over the HTTP API (libcurl + jansson). It links the pure
# domain modules (YAML to JSON for policy files, signatures) and nothing
# from the server.

RAMPCTL_SRCS := $(wildcard cli/*.c)
RAMPCTL_OBJS := $(RAMPCTL_SRCS:%.c=$(BUILD)/obj/%.o)

build-all: $(BUILD)/rampctl

$(BUILD)/rampctl: $(RAMPCTL_OBJS) $(COMMON_OBJS) $(VERSION_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
