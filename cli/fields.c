// SPDX-License-Identifier: MIT
/*
 * fields: FIELD=VALUE words of the command line and the cells of a CSV row become JSON
 * objects, each value with the JSON type its proto field has, so that they go through the
 * same lib/json conversion and validation as a JSON file or a REST body, and an error
 * names the field the same way.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

/* Adds name=value to obj with the JSON type the proto field has. */
int ctl_field_add(cJSON *obj, const ProtobufCMessageDescriptor *d, const char *name,
		  const char *value, struct json_error *err)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(d, name);
	cJSON *v = NULL;

	if (!strcmp(name, "expires_in") || !strcmp(name, "decoder") ||
	    (!strcmp(name, "match_anomaly") && value[strspn(value, "0123456789")])) {
		/* lib/json reads these (decoder: v2.7's shorthand; match_anomaly: names) */
		v = cJSON_CreateString(value);
	} else if (!f) {
		return json_fail(err, name, "unknown field");
	} else if (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_UINT64 ||
		   f->type == PROTOBUF_C_TYPE_INT32) {
		/* decimal digits only: strtod alone would take 80.5, 1e2, 0x50 or " 80" */
		size_t sign = value[0] == '-' && f->type == PROTOBUF_C_TYPE_INT32;
		size_t digits = strspn(value + sign, "0123456789");

		if (!digits || value[sign + digits])
			return json_fail(err, name, "expected an integer (decimal digits)");
		v = cJSON_CreateNumber(strtod(value, NULL));
	} else if (f->type == PROTOBUF_C_TYPE_BOOL) {
		if (strcmp(value, "true") && strcmp(value, "false"))
			return json_fail(err, name, "expected true or false");
		v = cJSON_CreateBool(!strcmp(value, "true"));
	} else if (f->type == PROTOBUF_C_TYPE_INT64 && !*value) {
		v = cJSON_CreateNull();
	} else {
		v = cJSON_CreateString(value);
	}
	if (cJSON_HasObjectItem(obj, name)) {
		cJSON_Delete(v);
		return json_fail(err, name, "given twice");
	}
	if (!v || !cJSON_AddItemToObject(obj, name, v)) {
		cJSON_Delete(v);
		return -ENOMEM;
	}
	return 0;
}

int ctl_fields_object(char **argv, int argc, const ProtobufCMessageDescriptor *d, cJSON **out,
		      struct json_error *err)
{
	cJSON *o = cJSON_CreateObject();

	*out = NULL;
	if (!o)
		return -ENOMEM;
	for (int i = 0; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		int rc;

		if (!eq || eq == argv[i]) {
			cJSON_Delete(o);
			return json_fail(err, argv[i], "expected FIELD=VALUE");
		}
		*eq = 0;
		rc = ctl_field_add(o, d, argv[i], eq + 1, err);
		*eq = '=';
		if (rc) {
			cJSON_Delete(o);
			return rc;
		}
	}
	*out = o;
	return 0;
}
