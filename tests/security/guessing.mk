# SPDX-License-Identifier: MIT
# tests/security/guessing.mk: build/tests/test_limiter (cmocka, lib/limiter.c under
# ASan+UBSan), run by make test beside tests/security/test_guessing.sh.
$(TBIN)/test_limiter: $(SANOBJ)/tests/security/test_limiter.o $(RPC_TEST_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(RPC_TEST_LDLIBS)
$(SANOBJ)/tests/security/test_limiter.o: | $(PROTO_H)
tests/security/test_guessing.sh: $(BIN)/xdrop-call $(BIN)/xdrop-gateway-san $(TBIN)/test_limiter
ALL_TARGETS += $(TBIN)/test_limiter
TEST_SUITES += $(TBIN)/test_limiter
CHECK_SOURCES += tests/security/test_limiter.c
