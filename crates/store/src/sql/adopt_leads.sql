-- Adopting the host's `public.leads` (see `crates/store/src/adopt.rs`). This text replaces the
-- `CREATE TABLE public.leads …` block of migration 20261126000002 when that migration runs on a
-- database that already has a `public.leads` of its own; the migration is recorded with its
-- original checksum. The host's columns, rows, constraints, indexes, triggers, grants and policies
-- are kept as they are: we add only what is missing, and no CHECK to a column we did not create
-- (an UPDATE of an old row would have to pass it too). `adopt.rs` has refused already any table
-- this cannot work on (no `id uuid` key, no `user_id uuid`, a colliding column of another type,
-- two leads of one owner with the same phone, RLS off, a name we need taken).
DO $adopt$
DECLARE
    v_column record;
BEGIN
    FOR v_column IN
        SELECT * FROM (VALUES
            (1, 'name', 'text CONSTRAINT leads_name_check CHECK (char_length(btrim(name)) BETWEEN 1 AND 200)'),
            (2, 'phone', 'text CONSTRAINT leads_phone_check CHECK (phone ~ ''^\+[1-9][0-9]{7,14}$'')'),
            (3, 'company', 'text CONSTRAINT leads_company_check CHECK (char_length(company) <= 200)'),
            (4, 'email', 'text CONSTRAINT leads_email_check CHECK (char_length(email) <= 254)'),
            (5, 'status', 'text NOT NULL DEFAULT ''new'' CONSTRAINT leads_status_check CHECK (status IN (''new'', ''contacted'', ''qualified'', ''won'', ''lost''))'),
            (6, 'source', 'text CONSTRAINT leads_source_check CHECK (char_length(source) <= 100)'),
            (7, 'campaign', 'text CONSTRAINT leads_campaign_check CHECK (char_length(campaign) <= 100)'),
            (8, 'created_at', 'timestamptz NOT NULL DEFAULT now()'),
            (9, 'updated_at', 'timestamptz NOT NULL DEFAULT now()')
        ) AS c (ord, name, definition)
        WHERE NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = 'public.leads'::regclass AND a.attname = c.name AND NOT a.attisdropped)
        ORDER BY ord
    LOOP
        -- A constant default: existing rows get it without the table being rewritten.
        EXECUTE format('ALTER TABLE public.leads ADD COLUMN %I %s', v_column.name, v_column.definition);
        IF v_column.name = 'updated_at' THEN
            -- Only for a column we created: the host's own `updated_at` is the host's business.
            CREATE TRIGGER leads_set_updated_at BEFORE UPDATE ON public.leads
                FOR EACH ROW EXECUTE FUNCTION public.rarity_set_updated_at();
        END IF;
    END LOOP;

    -- One lead per number per owner: the engine's "find or create the lead" relies on it
    -- (ON CONFLICT ON CONSTRAINT). A host that already has UNIQUE (user_id, phone) under this
    -- name (PostgreSQL's default name for it) keeps its own.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                   WHERE c.conrelid = 'public.leads'::regclass AND c.conname = 'leads_user_id_phone_key') THEN
        ALTER TABLE public.leads ADD CONSTRAINT leads_user_id_phone_key UNIQUE (user_id, phone);
    END IF;

    -- Both policies of ours apply only in our store's transactions: `rarity.own_leads_only` is
    -- set by `act_as` (every store transaction acting as a user). The host's own clients do not
    -- set it, so for them the table's policies are exactly the host's, neither wider nor
    -- narrower. (Anyone who did set it would gain nothing: both ask `user_id = auth.uid()`.)
    -- The permissive one gives the store the user's own rows (PostgreSQL ORs permissive
    -- policies, so unconditionally it would widen a host whose owners may, say, only read);
    -- the restrictive one ANDs, keeping the store to those rows even where the host's policies
    -- share leads with a team or a manager.
    CREATE POLICY "Rarity WhatsApp: users manage their own leads in the store"
        ON public.leads AS PERMISSIVE FOR ALL TO authenticated
        USING (pg_catalog.current_setting('rarity.own_leads_only', true) = 'on'
               AND user_id = (SELECT auth.uid()))
        WITH CHECK (pg_catalog.current_setting('rarity.own_leads_only', true) = 'on'
                    AND user_id = (SELECT auth.uid()));
    CREATE POLICY "Rarity WhatsApp: own leads only in the store"
        ON public.leads AS RESTRICTIVE FOR ALL TO authenticated
        USING (pg_catalog.current_setting('rarity.own_leads_only', true) IS DISTINCT FROM 'on'
               OR user_id = (SELECT auth.uid()))
        WITH CHECK (pg_catalog.current_setting('rarity.own_leads_only', true) IS DISTINCT FROM 'on'
                    OR user_id = (SELECT auth.uid()));
END
$adopt$;
CREATE INDEX IF NOT EXISTS leads_user_id_created_at_idx ON public.leads (user_id, created_at DESC);
