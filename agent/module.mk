# SPDX-License-Identifier: MIT
# agent/: the node agent; for now its data-plane library (dataplane.c, attach.c).
DP_SRCS  := agent/dataplane.c agent/attach.c
DP_A     := $(BUILD)/libxdrop-dp.a
DP_SAN_A := $(BUILD)/libxdrop-dp-san.a
DP_LIBS  := $(DP_A) $(LIB_A) $(LDLIBS_BPF)
DP_SAN_LIBS := $(DP_SAN_A) $(LIB_SAN_A) $(LDLIBS_BPF)

$(DP_SRCS:%.c=$(OBJ)/%.o) $(DP_SRCS:%.c=$(SANOBJ)/%.o): $(BPF_SKEL)
$(DP_A): $(DP_SRCS:%.c=$(OBJ)/%.o)
	ar rcs $@ $^
$(DP_SAN_A): $(DP_SRCS:%.c=$(SANOBJ)/%.o)
	ar rcs $@ $^

ALL_TARGETS += $(DP_A) $(DP_SAN_A)
CHECK_SOURCES += $(DP_SRCS) $(DP_SRCS:.c=.h)
