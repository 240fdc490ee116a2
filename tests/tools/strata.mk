# tests/tools/strata.mk - included by the Makefile: strata-bench, the cost of
# a stage's choice with and without stratify_by (docs/strata.md).

STRATA_BENCH := $(BUILD)/tools/strata-bench

build-all: $(STRATA_BENCH)

$(STRATA_BENCH): $(BUILD)/obj/tests/tools/strata_bench.o $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

.PHONY: bench-strata
bench-strata: $(STRATA_BENCH)
	$(STRATA_BENCH) 10000 100000
	python3 tests/bench_strata.py --build $(BUILD) --devices 10000 --rounds 5
