-- AlterTable
ALTER TABLE "users" ADD COLUMN     "deactivated_at" TIMESTAMPTZ(3),
ADD COLUMN     "token_version" INTEGER NOT NULL DEFAULT 0;

-- Every change that alters what a user may do signs them out everywhere: their tokens carry
-- token_version, and the API refuses a token whose version is no longer the user's. A trigger
-- (rather than application code) so that every path — the API, scripts, plain SQL — revokes.
CREATE FUNCTION "users_bump_token_version"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."role" IS DISTINCT FROM OLD."role"
     OR NEW."client_id" IS DISTINCT FROM OLD."client_id"
     OR NEW."password_hash" IS DISTINCT FROM OLD."password_hash"
     OR NEW."deactivated_at" IS DISTINCT FROM OLD."deactivated_at" THEN
    NEW."token_version" := GREATEST(NEW."token_version", OLD."token_version" + 1);
  END IF;
  -- A version never goes back: that would bring revoked tokens back to life.
  IF NEW."token_version" < OLD."token_version" THEN
    NEW."token_version" := OLD."token_version";
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER "users_bump_token_version"
  BEFORE UPDATE ON "users"
  FOR EACH ROW EXECUTE FUNCTION "users_bump_token_version"();
