# SPDX-License-Identifier: MIT
# lib/json: the one JSON <-> protobuf conversion (lib/json.h), linked by the gateway and by
# xdropctl. It is an archive of its own because it needs the generated schema (proto/) and
# cJSON, which the rest of libxdrop does not: link $(JSON_A) before $(RPC_A) and $(LIB_A)
# (it uses the schema's descriptors and lib/clock), with -lcjson -lm.
JSON_SRCS  := lib/json.c
JSON_A     := $(BUILD)/libxdrop-json.a
JSON_SAN_A := $(BUILD)/libxdrop-json-san.a
JSON_LDLIBS := -lcjson -lm

$(JSON_SRCS:%.c=$(OBJ)/%.o) $(JSON_SRCS:%.c=$(SANOBJ)/%.o): | $(PROTO_H)
$(JSON_A): $(JSON_SRCS:%.c=$(OBJ)/%.o)
	@mkdir -p $(dir $@)
	ar rcs $@ $^
$(JSON_SAN_A): $(JSON_SRCS:%.c=$(SANOBJ)/%.o)
	@mkdir -p $(dir $@)
	ar rcs $@ $^

ALL_TARGETS += $(JSON_A) $(JSON_SAN_A)
CHECK_SOURCES += $(JSON_SRCS) $(JSON_SRCS:.c=.h)
