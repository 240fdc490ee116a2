# sim/sim.mk - included by the Makefile: build/ramp-sim, the fleet simulator
# (docs/sim.md), and `make demo`, which runs it against a fresh rampd.

RAMP_SIM  := $(BUILD)/ramp-sim
SIM_SRCS  := $(wildcard sim/*.c)
# the objects of server/common the simulator uses (no libraries behind them)
SIM_OBJS  := $(SIM_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/server/common/buf.o \
             $(BUILD)/obj/server/common/clock.o $(BUILD)/obj/server/common/hex.o

build-all: $(RAMP_SIM)

$(RAMP_SIM): $(SIM_OBJS) $(VERSION_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# the spec parsers and report generator are unit-tested on their own
$(BUILD)/tests/test_sim: $(BUILD)/obj/sim/spec.o $(BUILD)/obj/sim/gen.o \
	$(BUILD)/obj/sim/buf.o $(BUILD)/obj/sim/sched.o

.PHONY: demo
demo: all
	python3 tests/demo.py --build $(BUILD)
