# tests/tools/telemetry.mk - included by the Makefile: the telemetry-scan tool that the
# integration tests and tests/bench_ingest.py run store_telemetry_scan() with.

TELEMETRY_SCAN := $(BUILD)/tools/telemetry-scan

build-all: $(TELEMETRY_SCAN)

$(TELEMETRY_SCAN): $(BUILD)/obj/tests/tools/telemetry_scan.o \
		$(BUILD)/obj/server/store/store_telemetry.o $(BUILD)/obj/server/store/db.o \
		$(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# the COPY row format is pure and unit-tested on its own
$(BUILD)/tests/test_ingest_rows: $(BUILD)/obj/server/store/ingest_rows.o

# zpatch-tool: rampd's delta builder and ramp-agent's applier from the command line
ZPATCH_TOOL := $(BUILD)/tools/zpatch-tool

build-all: $(ZPATCH_TOOL)

$(ZPATCH_TOOL): $(BUILD)/obj/tests/tools/zpatch_tool.o $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
