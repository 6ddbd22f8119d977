# SPDX-License-Identifier: MIT
# tests/tools/: command-line helpers for the namespace lab tests and the demo.
# xdrop-lab drives the data-plane library (attach, fast-forward, rules, counters) on a pin
# directory; built without sanitizers so it runs anywhere the lab scripts run it.
LAB_SRCS := tests/tools/xdrop-lab.c
LAB_BIN  := $(BIN)/xdrop-lab

$(LAB_SRCS:%.c=$(OBJ)/%.o): XCFLAGS += -Iagent
$(LAB_SRCS:%.c=$(OBJ)/%.o): $(BPF_SKEL)
$(LAB_BIN): $(LAB_SRCS:%.c=$(OBJ)/%.o) $(DP_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_BPF)

ALL_TARGETS += $(LAB_BIN)
CHECK_SOURCES += $(LAB_SRCS)
