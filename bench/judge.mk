# bench/judge.mk - included by the Makefile: build/bench-judge, the judge
# experiment (docs/judge.md), and `make bench-judge`, which runs it.

BENCH_JUDGE := $(BUILD)/bench-judge

build-all: $(BENCH_JUDGE)

$(BENCH_JUDGE): $(BUILD)/obj/bench/bench_judge.o $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

.PHONY: bench-judge
bench-judge: $(BENCH_JUDGE)
	$(BENCH_JUDGE) 200 | tee $(BUILD)/bench-judge.md
