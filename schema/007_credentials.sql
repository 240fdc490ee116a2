-- 007_credentials: several tokens per device, so a device token can be
-- rotated with a grace period (POST /v1/devices/{id}/token). Device tokens
-- are named 'device:<id>:<n>', n counting up per device; the old name
-- 'device:<id>' becomes 'device:<id>:1'. Deleting a device still deletes
-- its tokens (tokens_device_fk cascades).

UPDATE tokens SET name = name || ':1'
	WHERE role = 'device' AND device_id IS NOT NULL AND name = 'device:' || device_id;

CREATE INDEX tokens_device ON tokens (device_id) WHERE device_id IS NOT NULL;
