# SPDX-License-Identifier: MIT
# tests/security/: regression suites for the hardening issue (pre-authentication limits,
# self-lockout, truthful outcomes, TLS names, credentials at rest, guessing and forgery,
# input hygiene). Each topic is one suite: tests/security/test_<topic>.sh (TAP, run under
# prove by make test) and, when it needs C programs, tests/security/<topic>.mk that builds
# them and makes its suite depend on them.
SECURITY_SUITES := $(sort $(wildcard tests/security/test_*.sh))
$(SECURITY_SUITES): $(BIN)/xdrop-controller $(BIN)/xdrop-gateway $(BIN)/xdrop-agent \
	$(BIN)/xdropctl
TEST_SUITES += $(SECURITY_SUITES)
-include $(filter-out tests/security/module.mk,$(wildcard tests/security/*.mk))
