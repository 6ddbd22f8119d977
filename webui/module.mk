# SPDX-License-Identifier: MIT
# webui/: the Vue 3 + Vite web UI, built into webui/dist (never committed), which
# xdrop-gateway serves (ui.dir). node_modules is (re)installed from the committed lockfile
# only when it is missing or older than package.json / package-lock.json, so an offline
# rebuild works once it exists. tests/ui/ drives the built UI in Debian's chromium.
WEBUI_DIST  := webui/dist/index.html
WEBUI_STAMP := webui/node_modules/.package-lock.json
WEBUI_SRCS  := webui/index.html webui/vite.config.js webui/package.json \
	$(shell find webui/src webui/public -type f 2>/dev/null)

$(WEBUI_STAMP): webui/package.json webui/package-lock.json
	cd webui && npm ci --prefer-offline --no-audit --no-fund --loglevel=error
	@touch $@

$(WEBUI_DIST): $(WEBUI_STAMP) $(WEBUI_SRCS)
	cd webui && npm run --silent build -- --logLevel warn
	@touch $@

.PHONY: webui
webui: $(WEBUI_DIST)

UI_SUITES := tests/ui/test_ui.sh
$(UI_SUITES): $(WEBUI_DIST)
# the UI's plain functions in node (no browser, no lab)
UI_SUITES += tests/ui/test_webui_lib.sh
# the five languages, complete and consistent (node, no browser)
UI_SUITES += tests/ui/test_i18n.sh
# the settings page's cluster card against a 3-node dqlite cluster (chromium; no root)
UI_SUITES += tests/ui/test_cluster_ui.sh
tests/ui/test_cluster_ui.sh: $(WEBUI_DIST) $(BIN)/xdrop-dqlite-node

ALL_TARGETS += $(WEBUI_DIST)
TEST_SUITES += $(UI_SUITES)
