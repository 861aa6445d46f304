# Aegis - GNU Makefile. Out-of-tree build under build/ (build/asan/ with SANITIZE=1).
#
#   make              build every binary into $(BUILD)/bin
#   make test         install missing packages, build, run every test
#   make run          install missing packages, build, run the whole stack natively
#   make SANITIZE=1 … the same under ASan + UBSan
#   make bench        benchmark programs that print figures
#   make compose-test build the images, docker compose up, one job end to end, down (Docker)
#   make chaos        kill -9 services while 1,000 uploads flow; prints lost=0 duplicated=0
#   make clean

SERVICES := gateway auth orchestrator validate extract-metadata extract-content ai-worker

ifeq ($(SANITIZE),1)
BUILD ?= build/asan
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD ?= build
SAN_FLAGS :=
endif

CC ?= cc
PKGS := libnats libprotobuf-c libuv libpq libcurl jansson libsodium libmagic poppler-glib libzip libxml-2.0 libexif libcrypto tesseract lept
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && test -f /usr/include/http_parser.h && command -v protoc-c >/dev/null && echo yes)

CFLAGS ?= -O2 -g
CFLAGS += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter \
          -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(SAN_FLAGS)
ifeq ($(SANITIZE),1)
CFLAGS := $(filter-out -D_FORTIFY_SOURCE=2 -O2,$(CFLAGS)) -O1
endif
CPPFLAGS += -Ilibcommon/include -I$(BUILD)/gen $(if $(DEPS_OK),$(shell pkg-config --cflags $(PKGS)))
LDFLAGS += $(SAN_FLAGS) -Wl,--as-needed -pthread
LDLIBS += $(if $(DEPS_OK),$(shell pkg-config --libs $(PKGS))) -lhttp_parser -lm

# --- generated code: protobuf-c and the embedded migrations ---
PROTOS := $(wildcard proto/aegis/v1/*.proto)
PROTO_C := $(patsubst proto/%.proto,$(BUILD)/gen/%.pb-c.c,$(PROTOS))
PROTO_H := $(PROTO_C:.c=.h)
MIGRATIONS := $(sort $(wildcard migrations/*.sql))

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -Iproto $<

$(BUILD)/gen/migrations.c: $(MIGRATIONS) scripts/embed-migrations.sh
	@mkdir -p $(BUILD)/gen
	scripts/embed-migrations.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

# --- libcommon ---
LIB_SRC := $(wildcard libcommon/src/*.c)
LIB_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(LIB_SRC)) \
           $(patsubst $(BUILD)/gen/%.c,$(BUILD)/obj/gen/%.o,$(PROTO_C) $(BUILD)/gen/migrations.c)
LIB := $(BUILD)/lib/libaegis.a

$(LIB): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(filter-out -Wshadow -Wformat=2,$(CFLAGS)) -MMD -MP -c -o $@ $<

# --- services: every .c in services/<name>/ ---
define service_rule
$(1)_OBJ := $$(patsubst %.c,$(BUILD)/obj/%.o,$$(wildcard services/$(1)/*.c))
$(BUILD)/bin/$(1): $$($(1)_OBJ) $(LIB)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call service_rule,$(s))))
# files compiled into a service: EMBED_<service> lists them; each becomes embedded_<path, non-alphanumerics as _>[]
# and _len (scripts/embed-file.sh), linked into that service
EMBED_gateway := services/gateway/openapi.json
EMBED_gateway += services/gateway/webpage.html
$(BUILD)/gen/embed/%.c: % scripts/embed-file.sh
	@mkdir -p $(@D)
	scripts/embed-file.sh $< > $@.tmp && mv $@.tmp $@
$(foreach s,$(SERVICES),$(eval $(BUILD)/bin/$(s): $(patsubst %,$(BUILD)/obj/gen/embed/%.o,$(EMBED_$(s)))))
BINS := $(addprefix $(BUILD)/bin/,$(SERVICES))

# --- unit tests: one program per file under tests/unit/ ---
UNIT_SRC := $(shell find tests/unit -name '*.c' 2>/dev/null | grep -v '/support/')
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
UNIT_SUPPORT_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(UNIT_SUPPORT))

$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(UNIT_SUPPORT_OBJ) $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/obj/tests/%.o: CPPFLAGS += -Itests/unit/support -Iservices

# --- benchmarks ---
BENCH_SRC := $(wildcard tests/bench/*.c)
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- fuzzing: libFuzzer targets (tests/fuzz/<target>.c), built with clang under ASan + UBSan; each lists
#     the sources it tests, compiled into it so they are instrumented too ---
FUZZ_CC ?= clang
FUZZ_FLAGS := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
              -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter
FUZZ_BASE := libcommon/src/status.c libcommon/src/str.c libcommon/src/cfg.c libcommon/src/log.c libcommon/src/trace.c
FUZZ_SRC_http_request := $(wildcard libcommon/src/http*.c) libcommon/src/metrics.c $(FUZZ_BASE)
FUZZ_SRC_multipart := services/gateway/multipart.c services/gateway/disposition.c services/gateway/hparams.c $(FUZZ_BASE)
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/*.c))
FUZZ_BINS := $(addprefix $(BUILD)/fuzz/,$(FUZZ_TARGETS))
.SECONDEXPANSION:
$(BUILD)/fuzz/%: tests/fuzz/%.c $$(FUZZ_SRC_$$*) $(wildcard libcommon/include/aegis/*.h libcommon/src/*.h services/gateway/*.h) | $(PROTO_H)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -Iservices $(FUZZ_FLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

.PHONY: fuzz fuzz-build bench-gateway
.PHONY: all deps test unit run bench chaos clean format check-banned check-format compose-test
.DEFAULT_GOAL := all

all: deps-ok $(BINS)

deps-ok:
ifneq ($(DEPS_OK),yes)
	@echo "missing build dependencies: run 'scripts/deps.sh' (make test and make run do it for you)" >&2; exit 1
endif

deps:
	scripts/deps.sh

unit: $(UNIT_BINS)

test:
	scripts/deps.sh --if-missing
	$(MAKE) --no-print-directory all unit
	BUILD=$(BUILD) scripts/test-all

run:
	scripts/deps.sh --if-missing
	$(MAKE) --no-print-directory all
	BUILD=$(BUILD) scripts/run-stack

bench: all $(BENCH_BINS)
	BUILD=$(BUILD) scripts/bench

# libFuzzer targets under ASan + UBSan, FUZZ_SECONDS (default 30) each; fails on a crash (scripts/fuzz)
fuzz-build: deps-ok $(FUZZ_BINS)
fuzz: fuzz-build
	BUILD=$(BUILD) scripts/fuzz

# wrk against the gateway and nginx on loopback: /healthz req/s, 1 MiB uploads MiB/s, RSS during a 1 GiB upload
bench-gateway: all
	BUILD=$(BUILD) scripts/bench-gateway

# Docker images, docker compose up offline, one job end to end, teardown (needs a Docker engine).
compose-test:
	scripts/compose-e2e

# The long chaos runs, single nats-server and 3-node cluster (make test runs both with fewer uploads).
chaos:
	scripts/deps.sh --if-missing
	$(MAKE) --no-print-directory all
	BUILD=$(BUILD) CHAOS_UPLOADS=$${CHAOS_UPLOADS:-1000} bash tests/integration/chaos.sh; single=$$?; \
	BUILD=$(BUILD) CHAOS_UPLOADS=$${CHAOS_UPLOADS:-1000} bash tests/integration/chaos_cluster.sh; cluster=$$?; \
	test $$single = 0 && test $$cluster = 0

check-banned:
	@! grep -rnE '\b(sprintf|strcpy|strcat|atoi|atol|strtok|gets)\s*\(' libcommon services tests --include='*.c' --include='*.h' \
	  || { echo "banned functions above (use bounded alternatives)" >&2; exit 1; }

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	@bad=$$(for f in $$(git ls-files '*.c' '*.h'); do clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || echo "$$f"; done); \
	 [ -z "$$bad" ] || { echo "not clang-formatted (run make format):" $$bad >&2; exit 1; }

clean:
	rm -rf build

.SECONDARY:
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
