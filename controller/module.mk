# SPDX-License-Identifier: MIT
# controller/: xdrop-controller (SQLite store, services, pushes, node health, stats), and
# the unit test of the shared YAML loader (lib/config.c).
CONFIG_LDLIBS := -lyaml

$(TBIN)/test_config: $(SANOBJ)/tests/unit/test_config.o $(LIB_SAN_A)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(CONFIG_LDLIBS) -lcmocka

ALL_TARGETS += $(TBIN)/test_config
TEST_SUITES += $(TBIN)/test_config
CHECK_SOURCES += tests/unit/test_config.c
