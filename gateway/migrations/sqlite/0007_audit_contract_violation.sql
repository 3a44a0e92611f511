-- The contract and JSON pointers of an upstream answer that broke its
-- contract (CONTRACT_VIOLATION): pointers and schema keywords only, never
-- the offending values, which could be personal data. NULL otherwise.
-- It joins the hashed canonical encoding only when set, so records written
-- before this column existed keep their hashes.
ALTER TABLE audit_records ADD COLUMN contract_violation TEXT;
