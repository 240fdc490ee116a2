# server/http/tls.mk - included by the Makefile: what TLS and device certificates in
# rampd need (GnuTLS, which libmicrohttpd serves TLS with), and the
# yaml-json tool the deploy/ tests parse Kubernetes manifests with.

PKGS     += gnutls
DEB_PKGS += libgnutls28-dev

YAML_JSON := $(BUILD)/tools/yaml-json

build-all: $(YAML_JSON)

$(YAML_JSON): $(BUILD)/obj/tests/tools/yaml_json_tool.o $(COMMON_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# the unit test of the rate limiter and the production settings links them
$(BUILD)/tests/test_prod: $(BUILD)/obj/server/http/ratelimit.o $(BUILD)/obj/server/config_prod.o
