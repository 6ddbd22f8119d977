# SPDX-License-Identifier: MIT
# tests/e2e/: namespace-lab scenarios, one per file, each printing TAP. They drive the data
# plane through build/bin/xdrop-lab (tests/tools/) until the agent exists.
E2E_SUITES := tests/e2e/test_veth.sh

$(E2E_SUITES): $(BIN)/xdrop-lab
TEST_SUITES += $(E2E_SUITES)
