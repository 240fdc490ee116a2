#!/bin/sh
# rollout.sh - what a CI job does to ship a model with ramp, using nothing
# but rampctl: push the signed manifest (signed here with the CI key, its
# artifacts uploaded), start a rollout, and wait on it. The job's exit
# status is the rollout's outcome: 0 succeeded, 1 rolled back or aborted.
#
#   RAMP_SERVER=... RAMP_TOKEN=<ci token> tests/ci/rollout.sh \
#       MANIFEST KEY.pem KEY_ID ARTIFACT_DIR MODEL VERSION POLICY [TIMEOUT_S]
set -eu
RAMPCTL=${RAMPCTL:-rampctl}
manifest=$1 key=$2 key_id=$3 artifacts=$4 model=$5 version=$6 policy=$7
timeout=${8:-300}

"$RAMPCTL" manifest push "$manifest" --key "$key" --key-id "$key_id" --artifacts "$artifacts"
id=$("$RAMPCTL" rollout create --model "$model" --version "$version" --policy "$policy" -o id)
echo "rollout $id started"
set +e
"$RAMPCTL" rollout watch "$id" --interval 1 --timeout "$timeout"
rc=$?
echo "rollout $id finished with exit status $rc"
exit $rc
