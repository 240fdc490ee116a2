# ui.mk - included by the Makefile: the dashboard's files in server/ui/ are
# compiled into rampd as a table of byte arrays (build/gen/ui.c, see
# server/ui/assets.h), so the binary serves them with no files and no
# network. Bytes go through od, so any character (quotes, "??" trigraphs,
# backslashes) survives.

UI_FILES := $(sort $(wildcard server/ui/*.html server/ui/*.js server/ui/*.css server/ui/*.svg))

$(BUILD)/gen/ui.c: $(UI_FILES) server/ui/ui.mk
	@mkdir -p $(@D)
	@{ echo '#include "ui/assets.h"'; \
	  i=0; for f in $(UI_FILES); do \
	    echo "static const unsigned char ui_$$i[] = {"; \
	    od -An -v -tx1 $$f | sed -e 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	    echo '0};'; i=$$((i+1)); \
	  done; \
	  echo 'const struct ui_asset ui_assets[] = {'; \
	  i=0; for f in $(UI_FILES); do n=$$(basename $$f); \
	    case $$n in \
	      *.html) t='text/html; charset=utf-8';; \
	      *.js) t='text/javascript; charset=utf-8';; \
	      *.css) t='text/css; charset=utf-8';; \
	      *) t='image/svg+xml';; \
	    esac; \
	    echo "{\"$$n\", \"$$t\", ui_$$i, sizeof(ui_$$i) - 1},"; i=$$((i+1)); \
	  done; \
	  echo '{0, 0, 0, 0}};'; } > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/ui.o: $(BUILD)/gen/ui.c
	@mkdir -p $(@D)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

# an extra prerequisite of the rampd link rule: $^ there picks it up
$(BUILD)/rampd: $(BUILD)/obj/gen/ui.o
