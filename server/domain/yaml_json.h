/*
 * yaml_json.h - loads one YAML document into a jansson tree, so YAML and
 * JSON inputs share one validator. Plain scalars are resolved with the
 * YAML 1.2 core schema (null, true/false, decimal integers and floats);
 * quoted and block scalars stay strings. Aliases share the anchored subtree
 * (no copying, so alias bombs cost no memory); mapping keys must be unique
 * scalars; nesting is limited to YAML_JSON_MAX_DEPTH.
 */
#ifndef RAMP_YAML_JSON_H
#define RAMP_YAML_JSON_H

#include "common/err.h"

#include <jansson.h>
#include <stddef.h>

#define YAML_JSON_MAX_DEPTH 64

/*
 * Parses data[0..len) into *out (the caller json_decref()s it). Returns 0,
 * RAMP_EMALFORMED for unparseable YAML, an empty stream or more than one
 * document (err names line and column), or RAMP_ENOMEM.
 */
int yaml_json_load(const char *data, size_t len, json_t **out,
		   struct ramp_err *err);

#endif
