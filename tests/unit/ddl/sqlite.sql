CREATE TABLE accounts (
	id INTEGER NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	created_at DATETIME NOT NULL, 
	api_version VARCHAR(10) DEFAULT '2017-09-18' NOT NULL, 
	callback_secret VARCHAR(200), 
	CONSTRAINT pk_accounts PRIMARY KEY (id), 
	CONSTRAINT uq_accounts_name UNIQUE (name)
);

CREATE TABLE cdr_imports (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, 
	cdr_table VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	renewed_at DATETIME NOT NULL, 
	first_row_id INTEGER NOT NULL
);

CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	account_id INTEGER, 
	prefix VARCHAR(16) NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	CONSTRAINT pk_api_keys PRIMARY KEY (id), 
	CONSTRAINT fk_api_keys_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id), 
	CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
);

CREATE INDEX ix_api_keys_account_id ON api_keys (account_id);

CREATE INDEX ix_api_keys_prefix ON api_keys (prefix);

CREATE TABLE assignments (
	id INTEGER NOT NULL, 
	resource VARCHAR(16) NOT NULL, 
	identifier VARCHAR(36) NOT NULL, 
	account_id INTEGER NOT NULL, 
	name VARCHAR(200), 
	since DATETIME, 
	until DATETIME, 
	CONSTRAINT pk_assignments PRIMARY KEY (id), 
	CONSTRAINT fk_assignments_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE INDEX ix_assignments_account_id ON assignments (account_id);

CREATE INDEX ix_assignments_resource_identifier_since ON assignments (resource, identifier, since);

CREATE TABLE cdrs_in (
	id INTEGER NOT NULL, 
	account_id INTEGER NOT NULL, 
	time_start DATETIME NOT NULL, 
	time_connect DATETIME, 
	time_end DATETIME, 
	did_number TEXT NOT NULL, 
	source TEXT, 
	source_number_out TEXT, 
	source_name TEXT, 
	source_country TEXT, 
	source_network TEXT, 
	destination TEXT, 
	status TEXT, 
	duration INTEGER NOT NULL, 
	attempt INTEGER, 
	disconnect_code INTEGER, 
	response TEXT, 
	disconnect_initiator TEXT, 
	voice_in_trunk TEXT, 
	trunk_group TEXT, 
	capacity_group TEXT, 
	tollfree_amount BIGINT, 
	pstn_amount BIGINT, 
	metered_amount BIGINT, 
	cnam_amount BIGINT, 
	total_amount BIGINT, 
	sell_amount BIGINT, 
	customer_id TEXT, 
	call_id TEXT, 
	import_id INTEGER, 
	call_key VARCHAR(100), 
	CONSTRAINT pk_cdrs_in PRIMARY KEY (id), 
	CONSTRAINT fk_cdrs_in_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE UNIQUE INDEX ix_cdrs_in_account_id_call_key_time_start ON cdrs_in (account_id, call_key, time_start);

CREATE INDEX ix_cdrs_in_account_id_time_start_id ON cdrs_in (account_id, time_start, id);

CREATE TABLE cdrs_out (
	id INTEGER NOT NULL, 
	account_id INTEGER NOT NULL, 
	time_start DATETIME NOT NULL, 
	time_connect DATETIME, 
	time_end DATETIME, 
	voice_out_trunk_id TEXT NOT NULL, 
	voice_out_trunk TEXT, 
	source TEXT, 
	cli TEXT, 
	destination_number TEXT NOT NULL, 
	status TEXT, 
	duration INTEGER NOT NULL, 
	billing_duration INTEGER, 
	disconnect_code INTEGER, 
	disconnect_reason TEXT, 
	destination_country TEXT, 
	network TEXT, 
	call_type TEXT, 
	rate BIGINT, 
	charged BIGINT, 
	p_charge_info TEXT, 
	call_id TEXT, 
	import_id INTEGER, 
	call_key VARCHAR(100), 
	CONSTRAINT pk_cdrs_out PRIMARY KEY (id), 
	CONSTRAINT fk_cdrs_out_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id)
);

CREATE UNIQUE INDEX ix_cdrs_out_account_id_call_key_time_start ON cdrs_out (account_id, call_key, time_start);

CREATE INDEX ix_cdrs_out_account_id_time_start_id ON cdrs_out (account_id, time_start, id);

CREATE TABLE exports (
	id VARCHAR(36) NOT NULL, 
	account_id INTEGER NOT NULL, 
	api_version VARCHAR(10) NOT NULL, 
	export_type VARCHAR(16) NOT NULL, 
	filters JSON NOT NULL, 
	period_start DATETIME NOT NULL, 
	period_end DATETIME NOT NULL, 
	did_number VARCHAR(15), 
	voice_out_trunk_id VARCHAR(36), 
	callback_url TEXT, 
	callback_method VARCHAR(4), 
	external_reference_id VARCHAR(100), 
	base_url VARCHAR(200), 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	file_name VARCHAR(36) NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	lease_owner VARCHAR(100), 
	lease_expires_at DATETIME, 
	started_at DATETIME, 
	completed_at DATETIME, 
	row_count BIGINT, 
	byte_size BIGINT, 
	sha256 VARCHAR(64), 
	failure_reason TEXT, 
	CONSTRAINT pk_exports PRIMARY KEY (id), 
	CONSTRAINT fk_exports_account_id_accounts FOREIGN KEY(account_id) REFERENCES accounts (id), 
	CONSTRAINT uq_exports_file_name UNIQUE (file_name)
);

CREATE INDEX ix_exports_account_id_created_at ON exports (account_id, created_at);

CREATE INDEX ix_exports_status_lease_expires_at ON exports (status, lease_expires_at);

CREATE TABLE callback_deliveries (
	id INTEGER NOT NULL, 
	export_id VARCHAR(36) NOT NULL, 
	event VARCHAR(16) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	attempts INTEGER DEFAULT '0' NOT NULL, 
	due_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	last_error TEXT, 
	CONSTRAINT pk_callback_deliveries PRIMARY KEY (id), 
	CONSTRAINT fk_callback_deliveries_export_id_exports FOREIGN KEY(export_id) REFERENCES exports (id) ON DELETE CASCADE
);

CREATE INDEX ix_callback_deliveries_export_id ON callback_deliveries (export_id);

CREATE INDEX ix_callback_deliveries_status_due_at ON callback_deliveries (status, due_at);

CREATE TABLE callback_attempts (
	id INTEGER NOT NULL, 
	delivery_id INTEGER NOT NULL, 
	attempted_at DATETIME NOT NULL, 
	status_code INTEGER, 
	error TEXT, 
	elapsed_ms INTEGER NOT NULL, 
	CONSTRAINT pk_callback_attempts PRIMARY KEY (id), 
	CONSTRAINT fk_callback_attempts_delivery_id_callback_deliveries FOREIGN KEY(delivery_id) REFERENCES callback_deliveries (id) ON DELETE CASCADE
);

CREATE INDEX ix_callback_attempts_delivery_id ON callback_attempts (delivery_id);

