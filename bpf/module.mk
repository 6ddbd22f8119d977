# SPDX-License-Identifier: MIT
# bpf/: the XDP program, compiled with clang and wrapped in a libbpf skeleton.
BPF_CFLAGS := -O2 -g -target bpf -Wall -Wextra -Werror -Wno-unused-parameter \
	-I$(ARCH_INC) -Ibpf
BPF_OBJ  := $(BUILD)/bpf/xdrop.bpf.o
BPF_SKEL := $(GEN)/xdrop.skel.h

$(BPF_OBJ): bpf/xdrop.bpf.c bpf/xdrop.h bpf/parse.h bpf/prefix.h bpf/config.h
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BPF_SKEL): $(BPF_OBJ)
	@mkdir -p $(dir $@)
	$(BPFTOOL) gen skeleton $< name xdrop > $@.tmp && mv $@.tmp $@

ALL_TARGETS += $(BPF_SKEL)
CHECK_SOURCES += bpf/xdrop.bpf.c bpf/xdrop.h bpf/parse.h bpf/prefix.h bpf/config.h
