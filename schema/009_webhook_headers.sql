-- 009_webhook_headers: write-only request headers per webhook (credentials
-- for the receiver, e.g. Authorization), so that URLs need not carry a
-- user and password that viewers and the audit log would see. A webhook
-- stored before with "user:password@" in its URL has that moved here as an
-- Authorization: Basic header (the userinfo as written, not percent-decoded).

ALTER TABLE webhooks ADD COLUMN headers jsonb NOT NULL DEFAULT '{}'::jsonb;

UPDATE webhooks
SET headers = headers || jsonb_build_object('Authorization', 'Basic ' ||
		translate(encode(convert_to(substring(url FROM '^https?://([^/?#@]*)@'), 'UTF8'),
			'base64'), E'\n', '')),
	url = regexp_replace(url, '^(https?://)[^/?#@]*@', '\1')
WHERE url ~ '^https?://[^/?#@]*@';
