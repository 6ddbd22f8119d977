# SPDX-License-Identifier: MIT
# cli/: xdropctl, the command line over RPC. It shares lib/json (the one JSON <-> proto
# conversion, lib/json.mk) with the gateway.
# xdropctl.c is main and the command table (help, completion and the man page are printed
# from it); ctl.h says which file holds what.
CTL_SRCS := cli/xdropctl.c cli/options.c cli/help.c cli/man.c cli/call.c cli/output.c \
	cli/table.c cli/fields.c cli/csv.c \
	cli/transfer.c cli/stage.c cli/feeds.c cli/migrate.c cli/cmd_rules.c cli/cmd_nodes.c cli/cmd_keys.c \
	cli/cmd_stats.c cli/cmd_cluster.c
CTL_BIN := $(BIN)/xdropctl
$(CTL_SRCS:%.c=$(OBJ)/%.o): | $(PROTO_H)
$(CTL_BIN): $(CTL_SRCS:%.c=$(OBJ)/%.o) $(JSON_A) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(JSON_LDLIBS) $(RPC_LDLIBS) $(LDLIBS_BPF) -lsqlite3

ALL_TARGETS += $(CTL_BIN)
CHECK_SOURCES += $(CTL_SRCS) cli/ctl.h

# Man pages (section 1) and shell completion, made by the binaries themselves so that they
# say what the binaries accept: xdropctl's from its command and option tables (`xdropctl
# man`, `xdropctl completion bash|zsh`), the daemons' from their --help (scripts/mkman.sh).
# docs/operations.md installs them with the binaries.
MAN_DIR := $(BUILD)/man
MAN_PAGES := $(MAN_DIR)/xdropctl.1 $(MAN_DIR)/xdrop-controller.1 $(MAN_DIR)/xdrop-agent.1 \
	$(MAN_DIR)/xdrop-gateway.1
COMPLETIONS := $(BUILD)/completion/xdropctl $(BUILD)/completion/_xdropctl
$(MAN_DIR)/xdropctl.1: $(CTL_BIN)
	@mkdir -p $(dir $@)
	$(CTL_BIN) man >$@.tmp && mv $@.tmp $@
$(MAN_DIR)/xdrop-controller.1: $(BIN)/xdrop-controller scripts/mkman.sh
	@mkdir -p $(dir $@)
	scripts/mkman.sh $< "the XDrop controller: rules, nodes and keys over RPC" >$@.tmp && mv $@.tmp $@
$(MAN_DIR)/xdrop-agent.1: $(BIN)/xdrop-agent scripts/mkman.sh
	@mkdir -p $(dir $@)
	scripts/mkman.sh $< "the XDrop node agent: the XDP filter of one host" >$@.tmp && mv $@.tmp $@
$(MAN_DIR)/xdrop-gateway.1: $(BIN)/xdrop-gateway scripts/mkman.sh
	@mkdir -p $(dir $@)
	scripts/mkman.sh $< "the XDrop REST API, web UI and metrics" >$@.tmp && mv $@.tmp $@
$(BUILD)/completion/xdropctl: $(CTL_BIN)
	@mkdir -p $(dir $@)
	$(CTL_BIN) completion bash >$@.tmp && mv $@.tmp $@
$(BUILD)/completion/_xdropctl: $(CTL_BIN)
	@mkdir -p $(dir $@)
	$(CTL_BIN) completion zsh >$@.tmp && mv $@.tmp $@
.PHONY: man completion
man: $(MAN_PAGES)
completion: $(COMPLETIONS)
ALL_TARGETS += $(MAN_PAGES) $(COMPLETIONS)

# xdropctl against real controllers (ipc://, and tls+tcp:// with client certificates), and
# migrate with a v2.7-shaped database (needs the sqlite3 CLI); skipped when the controller
# is not built. Needs no root.
CLI_SUITES := tests/cli/test_cli.sh tests/cli/test_feeds.sh tests/cli/test_migrate.sh \
	tests/cli/test_anomaly.sh tests/cli/test_cluster.sh
$(CLI_SUITES): $(CTL_BIN) $(MAN_PAGES) $(COMPLETIONS)
TEST_SUITES += $(CLI_SUITES)
# test_cluster.sh: xdropctl cluster and ClusterService against xdrop-dqlite-node processes
# over mutual TLS (tests/lib/dqlite.sh, certificates from tests/lib/certs.sh).
tests/cli/test_cluster.sh: $(BIN)/xdrop-dqlite-node

# tests/tools/xdrop-fake-agent: beacons and AgentService.TopTalkers with known figures, so
# that test_cli.sh checks what xdropctl prints of them through a real controller.
FAKE_AGENT_SRCS := tests/tools/xdrop-fake-agent.c
FAKE_AGENT_BIN  := $(BIN)/xdrop-fake-agent
$(FAKE_AGENT_SRCS:%.c=$(OBJ)/%.o): | $(PROTO_H)
$(FAKE_AGENT_BIN): $(FAKE_AGENT_SRCS:%.c=$(OBJ)/%.o) $(RPC_A) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(RPC_LDLIBS) $(LDLIBS_BPF)

ALL_TARGETS += $(FAKE_AGENT_BIN)
CHECK_SOURCES += $(FAKE_AGENT_SRCS)
$(CLI_SUITES): $(FAKE_AGENT_BIN)
