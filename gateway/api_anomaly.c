// SPDX-License-Identifier: MIT
/*
 * api_anomaly: v2.7's anomaly merge on POST /api/v1/rules. A rule created through REST asks
 * the upstream to merge (CreateRuleRequest.merge_anomaly): an anomaly rule whose match and
 * action equal an existing anomaly rule's ORs its match_anomaly into that rule, in the
 * controller's one store change (controller/store/store_merge.c), and the answer is the
 * existing rule, with 200 and "merged": true instead of 201. Batches never merge, as in
 * v2.7. A standalone agent (node mode) merges the same way (agent/ruleset/local.c).
 */
#include <string.h>

#include "api.h"
#include "pbfield.h"

void api_anomaly_request(const struct api_op *op, ProtobufCMessage *req)
{
	if (op->kind == API_RULE && op->in == API_IN_CREATE)
		pbf_set_int(req, "merge_anomaly", 1);
}

unsigned api_anomaly_answer(const struct api_op *op, const ProtobufCMessage *resp, cJSON *o)
{
	if (op->kind != API_RULE || op->in != API_IN_CREATE || !resp ||
	    !((const Xdrop__V1__RuleWriteReply *)resp)->merged)
		return op->status;
	if (o)
		cJSON_AddBoolToObject(o, "merged", true);
	return 200;
}
