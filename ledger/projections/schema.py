"""Projection tables. Each generation lives in its own schema, so `ledger replay` can build a
fresh one beside the live one and switch over in one transaction."""

TABLES = """
CREATE TABLE IF NOT EXISTS {s}.tracking (
    projection text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,
    PRIMARY KEY (projection, partition));
CREATE TABLE IF NOT EXISTS {s}.territory_positions (
    territory text PRIMARY KEY, position bigint NOT NULL, partition int NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.dead_letters (
    partition int NOT NULL, kafka_offset bigint NOT NULL, error text NOT NULL,
    record text NOT NULL, parked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (partition, kafka_offset));
CREATE TABLE IF NOT EXISTS {s}.partition_positions (
    partition int PRIMARY KEY, position bigint NOT NULL);

CREATE TABLE IF NOT EXISTS {s}.territories (
    code text PRIMARY KEY, id uuid NOT NULL, name text NOT NULL,
    registered_at timestamptz NOT NULL, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.themes (
    territory text NOT NULL, code text NOT NULL, label text NOT NULL,
    PRIMARY KEY (territory, code));
CREATE TABLE IF NOT EXISTS {s}.actors (
    id uuid PRIMARY KEY, territory text NOT NULL, kind text NOT NULL,
    display_name text, display_name_sealed text, personal_sealed text,
    runts_id text, employer_id uuid, erased boolean NOT NULL DEFAULT false,
    registered_at timestamptz NOT NULL, position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.contributions (
    id uuid PRIMARY KEY, territory text NOT NULL, contributor_id uuid NOT NULL,
    employer_id uuid, resource_kind text NOT NULL, unit text NOT NULL,
    quantity bigint NOT NULL, reserved bigint NOT NULL DEFAULT 0,
    delivered bigint NOT NULL DEFAULT 0, taken_back bigint NOT NULL DEFAULT 0,
    status text NOT NULL, theme text NOT NULL, description_sealed text, motivation text,
    paid_time boolean, valid_until text, project_ref text, operator_id text,
    end_reason_sealed text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, position bigint NOT NULL,
    created_position bigint NOT NULL);
CREATE INDEX IF NOT EXISTS contributions_contributor ON {s}.contributions (contributor_id);
CREATE INDEX IF NOT EXISTS contributions_listing ON {s}.contributions (territory, created_position);
CREATE INDEX IF NOT EXISTS contributions_employer ON {s}.contributions (employer_id);
CREATE TABLE IF NOT EXISTS {s}.requests (
    id uuid PRIMARY KEY, territory text NOT NULL, beneficiary_id uuid NOT NULL,
    resource_kind text NOT NULL, unit text NOT NULL, quantity bigint NOT NULL,
    reserved bigint NOT NULL DEFAULT 0, received bigint NOT NULL DEFAULT 0,
    taken_back bigint NOT NULL DEFAULT 0, status text NOT NULL, theme text NOT NULL,
    urgency text, description_sealed text, needed_by text, operator_id text,
    end_reason_sealed text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, position bigint NOT NULL,
    created_position bigint NOT NULL);
CREATE INDEX IF NOT EXISTS requests_beneficiary ON {s}.requests (beneficiary_id);
CREATE INDEX IF NOT EXISTS requests_listing ON {s}.requests (territory, created_position);
CREATE TABLE IF NOT EXISTS {s}.matches (
    id uuid PRIMARY KEY, territory text NOT NULL, contribution_id uuid NOT NULL,
    request_id uuid NOT NULL, contributor_id uuid NOT NULL, beneficiary_id uuid NOT NULL,
    resource_kind text NOT NULL, unit text NOT NULL, theme text, quantity bigint NOT NULL,
    fulfilled bigint NOT NULL DEFAULT 0, status text NOT NULL, operator_id text,
    cancel_reason_sealed text,
    created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL, position bigint NOT NULL,
    created_position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.fulfilments (
    id uuid PRIMARY KEY, territory text NOT NULL, match_id uuid NOT NULL,
    contribution_id uuid NOT NULL, request_id uuid NOT NULL, contributor_id uuid NOT NULL,
    beneficiary_id uuid NOT NULL, employer_id uuid, resource_kind text NOT NULL,
    unit text NOT NULL, theme text, quantity bigint NOT NULL, fulfilled_on text,
    note_sealed text, reversed boolean NOT NULL DEFAULT false, reversal_reason_sealed text,
    operator_id text, created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL,
    position bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.history (
    territory text NOT NULL, actor_id uuid NOT NULL, position bigint NOT NULL,
    seq bigint NOT NULL, roles text[] NOT NULL, type text NOT NULL, aggregate_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL, operator_id text, data jsonb NOT NULL,
    PRIMARY KEY (actor_id, position));
CREATE TABLE IF NOT EXISTS {s}.audit (
    territory text NOT NULL, seq bigint NOT NULL, position bigint NOT NULL,
    event_id uuid NOT NULL, type text NOT NULL, aggregate_id uuid NOT NULL,
    occurred_at timestamptz NOT NULL, operator_id text, hash text NOT NULL,
    prev_hash text NOT NULL, record text NOT NULL,
    PRIMARY KEY (territory, seq));

ALTER TABLE {s}.territories ADD COLUMN IF NOT EXISTS required_for text[];
ALTER TABLE {s}.territories ADD COLUMN IF NOT EXISTS approvers int;
ALTER TABLE {s}.actors ADD COLUMN IF NOT EXISTS case_owner_id uuid;
CREATE INDEX IF NOT EXISTS actors_case_owner ON {s}.actors (case_owner_id);
ALTER TABLE {s}.matches ADD COLUMN IF NOT EXISTS approvals_required int NOT NULL DEFAULT 0;
ALTER TABLE {s}.matches ADD COLUMN IF NOT EXISTS approvals text[] NOT NULL DEFAULT '{}';
ALTER TABLE {s}.matches ADD COLUMN IF NOT EXISTS proposed_by text;
ALTER TABLE {s}.matches ADD COLUMN IF NOT EXISTS reject_reason_sealed text;
CREATE INDEX IF NOT EXISTS matches_listing ON {s}.matches (territory, created_position);
CREATE INDEX IF NOT EXISTS matches_request ON {s}.matches (request_id);
CREATE INDEX IF NOT EXISTS requests_created ON {s}.requests (territory, created_at);
ALTER TABLE {s}.actors ADD COLUMN IF NOT EXISTS zone text;
ALTER TABLE {s}.actors ADD COLUMN IF NOT EXISTS vat_number text;
CREATE INDEX IF NOT EXISTS actors_vat ON {s}.actors (vat_number);
ALTER TABLE {s}.contributions ADD COLUMN IF NOT EXISTS cost_eur_cent bigint;
ALTER TABLE {s}.contributions ADD COLUMN IF NOT EXISTS funding_source text;
ALTER TABLE {s}.contributions ADD COLUMN IF NOT EXISTS programme text;
ALTER TABLE {s}.requests ADD COLUMN IF NOT EXISTS programme text;
ALTER TABLE {s}.matches ADD COLUMN IF NOT EXISTS programme text;
ALTER TABLE {s}.fulfilments ADD COLUMN IF NOT EXISTS programme text;
ALTER TABLE {s}.fulfilments ADD COLUMN IF NOT EXISTS satisfaction int;
ALTER TABLE {s}.fulfilments ADD COLUMN IF NOT EXISTS change text;
ALTER TABLE {s}.fulfilments ADD COLUMN IF NOT EXISTS comment_sealed text;
ALTER TABLE {s}.fulfilments ADD COLUMN IF NOT EXISTS created_position bigint;
ALTER TABLE {s}.actors ADD COLUMN IF NOT EXISTS created_position bigint;
CREATE INDEX IF NOT EXISTS fulfilments_listing ON {s}.fulfilments (territory, created_position);
CREATE INDEX IF NOT EXISTS actors_created ON {s}.actors (territory, created_position);
"""

GENERATION_TABLE = """
CREATE TABLE IF NOT EXISTS projection_generation (
    id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), schema_name text NOT NULL,
    switched_at timestamptz NOT NULL DEFAULT now());
"""

FIRST_SCHEMA = "proj_1"
