# SPDX-License-Identifier: MIT
# lib/: code shared by every daemon (log, clock and ticker, addresses, rule model and
# validation, config).
LIB_SRCS := lib/log.c lib/clock.c lib/ticker.c lib/addr.c lib/rule.c lib/config.c lib/ptab.c
LIB_A    := $(BUILD)/libxdrop.a
LIB_SAN_A := $(BUILD)/libxdrop-san.a

$(LIB_A): $(LIB_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIB_SAN_A): $(LIB_SRCS:%.c=$(SANOBJ)/%.o)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

ALL_TARGETS += $(LIB_A) $(LIB_SAN_A)
CHECK_SOURCES += $(LIB_SRCS) $(LIB_SRCS:.c=.h) lib/xdrop_limits.h

$(TBIN)/test_ticker: $(SANOBJ)/tests/unit/test_ticker.o $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcmocka -lpthread

ALL_TARGETS += $(TBIN)/test_ticker
TEST_SUITES += $(TBIN)/test_ticker
CHECK_SOURCES += tests/unit/test_ticker.c

# Table-driven cmocka suites for lib/addr and lib/rule (lib/rulepb's is in lib/rpc.mk).
LIB_UNIT_TESTS := test_addr test_rule test_ptab
$(LIB_UNIT_TESTS:%=$(TBIN)/%): $(TBIN)/%: $(SANOBJ)/tests/unit/%.o $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcmocka

ALL_TARGETS += $(LIB_UNIT_TESTS:%=$(TBIN)/%)
TEST_SUITES += $(LIB_UNIT_TESTS:%=$(TBIN)/%)
CHECK_SOURCES += $(LIB_UNIT_TESTS:%=tests/unit/%.c)
