-- Artifact markers moved out of the artifact folder (issue 13 item 2): a marker names the artifact it
-- announced, so the artifact route finds an artifact by id; retention and "the version announced last"
-- read markers by when they were written.
ALTER TABLE markers ADD COLUMN artifact_id TEXT;
CREATE INDEX markers_artifact ON markers (artifact_id);
CREATE INDEX markers_created ON markers (created_ms);
CREATE INDEX markers_order_file ON markers (vendor, account, order_id, file, created_ms);
