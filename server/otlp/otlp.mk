# server/otlp/otlp.mk - the protobuf-c code of OTLP metrics.  Included from
# the top-level Makefile.
#
# protoc-c generates C at build time from the opentelemetry-proto files
# vendored verbatim in server/otlp/proto (see its README) into
# $(BUILD)/gen; nothing generated is committed.  Debian 12's protoc-c
# (1.4.1) refuses proto3 `optional`, so the build compiles a copy with that
# label dropped: the wire format is the same, only the presence of a
# histogram's sum/min/max is lost, and ramp reads none of them.  The code
# is linked into every binary that links the domain (rampd, unit tests,
# fuzz targets), with libprotobuf-c and zlib (gzip bodies).

DEB_PKGS += libprotobuf-c-dev protobuf-c-compiler zlib1g-dev
PKGS     += libprotobuf-c zlib

OTLP_PROTO_DIR := server/otlp/proto
OTLP_PROTOS    := opentelemetry/proto/common/v1/common.proto \
                  opentelemetry/proto/resource/v1/resource.proto \
                  opentelemetry/proto/metrics/v1/metrics.proto \
                  opentelemetry/proto/collector/metrics/v1/metrics_service.proto
OTLP_GEN_C     := $(OTLP_PROTOS:%.proto=$(BUILD)/gen/%.pb-c.c)
OTLP_GEN_H     := $(OTLP_PROTOS:%.proto=$(BUILD)/gen/%.pb-c.h)
OTLP_GEN_OBJS  := $(OTLP_PROTOS:%.proto=$(BUILD)/obj/gen/%.pb-c.o)

COMMON_OBJS += $(OTLP_GEN_OBJS)
CFLAGS      += -I$(BUILD)/gen
# the fuzz targets compile the domain from source: the generated code too
OTLP_FUZZ_EXTRA = -I$(BUILD)/gen $(OTLP_GEN_C)

$(OTLP_GEN_C) $(OTLP_GEN_H) &: $(addprefix $(OTLP_PROTO_DIR)/,$(OTLP_PROTOS)) server/otlp/otlp.mk \
			       | $(BUILD)/.deps
	@echo "PROTOC-C $(OTLP_PROTO_DIR)"
	@rm -rf $(BUILD)/gen/otlp-proto && mkdir -p $(BUILD)/gen/otlp-proto
	@cp -r $(OTLP_PROTO_DIR)/opentelemetry $(BUILD)/gen/otlp-proto/
	@find $(BUILD)/gen/otlp-proto -name '*.proto' -exec sed -i 's/^\([[:space:]]*\)optional /\1/' {} +
	@cd $(BUILD)/gen/otlp-proto && protoc-c -I. --c_out=$(abspath $(BUILD)/gen) $(OTLP_PROTOS)

$(BUILD)/obj/gen/opentelemetry/%.pb-c.o: $(BUILD)/gen/opentelemetry/%.pb-c.c $(OTLP_GEN_H)
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) -std=c11 -O2 -g $(filter -fsanitize% -fno-omit%,$(CFLAGS)) -I$(BUILD)/gen -c $< -o $@

$(COMMON_SRCS:%.c=$(BUILD)/obj/%.o) $(SERVER_OBJS) $(UNIT_SRCS:%.c=$(BUILD)/obj/%.o): | $(OTLP_GEN_H)
