# SPDX-License-Identifier: MIT
# proto/: the wire schema. protoc-c generates build/gen/xdrop.pb-c.{c,h} (never committed);
# code that includes "xdrop.pb-c.h" lists $(PROTO_H) as an order-only prerequisite.
PROTO_SRC := proto/xdrop.proto
PROTO_C   := $(GEN)/xdrop.pb-c.c
PROTO_H   := $(GEN)/xdrop.pb-c.h

$(PROTO_H): $(PROTO_SRC)
	@mkdir -p $(GEN)
	protoc-c --proto_path=proto --c_out=$(GEN) $(PROTO_SRC)
$(PROTO_C): $(PROTO_H)
	@touch $@
