-- The tables that metadata.create_all made on postgresql at commit 33ac01f.
-- Frozen: what databases made by that release hold. Made by tests/data/dump_schema.py;
-- never edit it by hand.

CREATE TABLE api_keys (
	id VARCHAR(32) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	key_sha256 VARCHAR(64) NOT NULL, 
	created_at TIMESTAMP WITH TIME ZONE NOT NULL, 
	revoked_at TIMESTAMP WITH TIME ZONE, 
	PRIMARY KEY (id)
);

CREATE TABLE query_log (
	id BIGSERIAL NOT NULL, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	request_id VARCHAR(128) NOT NULL, 
	route VARCHAR(64) NOT NULL, 
	model VARCHAR(64), 
	model_version VARCHAR(128), 
	status INTEGER NOT NULL, 
	row_count INTEGER NOT NULL, 
	rows_failed INTEGER NOT NULL, 
	approved INTEGER NOT NULL, 
	declined INTEGER NOT NULL, 
	latency_ms FLOAT NOT NULL, 
	key_id VARCHAR(64), 
	inputs TEXT, 
	outputs TEXT, 
	summary TEXT, 
	body_sha256 VARCHAR(64), 
	detail_key VARCHAR(32), 
	PRIMARY KEY (id)
);

CREATE INDEX ix_query_log_window ON query_log (created_at, model, status, latency_ms, row_count, rows_failed, approved, declined, model_version, summary);

CREATE TABLE query_log_detail (
	detail_key VARCHAR(32) NOT NULL, 
	created_at TIMESTAMP WITHOUT TIME ZONE NOT NULL, 
	encoding VARCHAR(32) NOT NULL, 
	data BYTEA NOT NULL, 
	PRIMARY KEY (detail_key)
);

CREATE INDEX ix_query_log_detail_created_at ON query_log_detail (created_at);

