-- Message search (issue 15): search_messages(query, max), the embedded server's
-- server/src/rest/search.rs with the same rows and snippets for the same data (ARCHITECTURE.md,
-- "Message search"; server/tests/search_cases.json is checked against both, by
-- server/tests/parity.rs and supabase/verify.sh).
--
-- Words, as the embedded server defines them: runs of letters (L*) and decimal digits (Nd) of
-- the body folded to lower case, 'ς' as 'σ', each cut to 256 characters. The ICU root
-- collation makes both locale-free: lower() maps with ICU's u_strToLower and [[:alnum:]] is
-- ICU's u_isalnum (letters and Nd), whatever the database's own locale (the default parser
-- and [[:alnum:]] under a libc locale see only ASCII under C, and other sets elsewhere). A
-- character newer than the server's ICU (Unicode 15 for ICU 72) is a separator here and may be
-- a letter on the embedded server. After an ICU upgrade, REINDEX INDEX messages_search.

-- The words of a text, in order (repeats kept).
create function public.search_words(body text) returns text[]
  language sql immutable strict parallel safe
  as $$
  select coalesce(array_agg(left(w, 256) order by n), '{}')
    from regexp_split_to_table(
           replace(lower(body collate "und-x-icu"), 'ς', 'σ') collate "und-x-icu",
           '[^[:alnum:]]+') with ordinality as t (w, n)
   where w <> ''
  $$;

-- The words as lexemes, taken as they are: array_to_tsvector runs no parser or dictionary,
-- so '26-0412' is the words 26 and 0412 (the default parser would read '-0412' as a signed
-- integer) and nothing depends on the text search configuration.
create function public.message_search_vector(body text) returns tsvector
  language sql immutable strict parallel safe
  as $$ select array_to_tsvector(public.search_words(body)) $$;

-- Existing messages are indexed as the index is built.
create index messages_search on public.messages using gin (public.message_search_vector(body));

-- The snippet: the body cut into runs of word and of other characters, a word marked when one
-- of its own words starts with a query word; a body over 160 characters cut to 160 of them
-- starting 40 before the first marked word (earlier when that would pass the end, at 0
-- without one), with a '…' on each cut side; adjacent pieces with the same mark merged.
-- A JSON array of {"text", "match"}. server/src/rest/search.rs::snippet is the same algorithm.
create function public.message_snippet(body text, query_words text[]) returns jsonb
  language plpgsql immutable parallel safe
  as $$
declare
  run record;
  runs text[] := '{}';
  marks boolean[] := '{}';
  starts integer[] := '{}';
  total integer := 0;
  first_match integer;
  lo integer := 0;
  hi integer;
  piece_texts text[] := '{}';
  piece_marks boolean[] := '{}';
  s integer;
  e integer;
  current_text text;
  current_mark boolean;
  out jsonb := '[]';
begin
  for run in
    select m[1] as word, m[2] as gap
      from regexp_matches(body collate "und-x-icu", '([[:alnum:]]+)|([^[:alnum:]]+)', 'g')
           with ordinality as t (m, n)
     order by n
  loop
    runs := runs || coalesce(run.word, run.gap);
    starts := starts || total;
    marks := marks || (run.word is not null and exists (
      select 1 from unnest(public.search_words(run.word)) as w (word), unnest(query_words) as q (word)
       where starts_with(w.word, q.word)));
    if first_match is null and marks[cardinality(marks)] then
      first_match := total;
    end if;
    total := total + char_length(coalesce(run.word, run.gap));
  end loop;
  hi := total;
  if total > 160 then
    lo := greatest(0, least(coalesce(first_match, 0) - 40, total - 160));
    hi := lo + 160;
  end if;
  if lo > 0 then
    piece_texts := piece_texts || '…'::text;
    piece_marks := piece_marks || false;
  end if;
  for i in 1 .. cardinality(runs) loop
    s := greatest(starts[i], lo);
    e := least(starts[i] + char_length(runs[i]), hi);
    if s < e then
      piece_texts := piece_texts || substr(runs[i], s - starts[i] + 1, e - s);
      piece_marks := piece_marks || marks[i];
    end if;
  end loop;
  if hi < total then
    piece_texts := piece_texts || '…'::text;
    piece_marks := piece_marks || false;
  end if;
  for i in 1 .. cardinality(piece_texts) loop
    if current_text is not null and current_mark = piece_marks[i] then
      current_text := current_text || piece_texts[i];
    else
      if current_text is not null then
        out := out || jsonb_build_array(jsonb_build_object('text', current_text, 'match', current_mark));
      end if;
      current_text := piece_texts[i];
      current_mark := piece_marks[i];
    end if;
  end loop;
  if current_text is not null then
    out := out || jsonb_build_array(jsonb_build_object('text', current_text, 'match', current_mark));
  end if;
  return out;
end $$;

-- The caller's visible messages whose words hold every query word as a prefix, newest first,
-- at most max (1..100, default 20). Errors (22023, which PostgREST answers 400), checked in
-- this order as on the embedded server: max null or out of range; a query without words; more
-- than 16 words.
--
-- Security definer that applies messages_read itself (can_see_conversation, the policy's own
-- test) rather than invoker under RLS: the @@ operator is not leakproof, so under RLS Postgres
-- must run the policy's test before it on every row and never uses the GIN index for it.
-- Names come from the users of the caller's org only (a visible message's sender and medic are
-- in its conversation's org).
create function public.search_messages(query text, max integer default 20)
  returns table (id uuid, conversation_id uuid, sender_id uuid, sender_name text,
                 medic_name text, subject text, body text, priority text,
                 created_at timestamptz, snippet jsonb)
  language plpgsql stable security definer set search_path = public
  as $$
declare
  query_words text[] := coalesce(public.search_words(search_messages.query), '{}');
  matching tsquery;
begin
  if search_messages.max is null or search_messages.max not between 1 and 100 then
    raise exception 'max must be between 1 and 100' using errcode = '22023',
      detail = format('max is %s', coalesce(search_messages.max::text, 'null'));
  end if;
  if cardinality(query_words) = 0 then
    raise exception 'search query has no words' using errcode = '22023',
      detail = 'a word is a run of letters or digits';
  end if;
  if cardinality(query_words) > 16 then
    raise exception 'search query has too many words' using errcode = '22023',
      detail = format('%s words, at most 16', cardinality(query_words));
  end if;
  -- Each word quoted as a lexeme and marked as a prefix: the input function takes the quoted
  -- text as it is (the words hold only letters and digits), nothing is parsed as tsquery syntax.
  select string_agg(quote_literal(w.word) || ':*', ' & ')::tsquery into matching
    from unnest(query_words) as w (word);
  return query
    select hit.id, hit.conversation_id, hit.sender_id, hit.sender_name, hit.medic_name,
           hit.subject, hit.body, hit.priority, hit.created_at,
           public.message_snippet(hit.body, query_words)
      from (select m.id, m.conversation_id, m.sender_id, su.display_name as sender_name,
                   mu.display_name as medic_name, c.subject, m.body, m.priority, m.created_at
              from public.messages m
              join public.conversations c on c.id = m.conversation_id
              join public.users su on su.id = m.sender_id
              join public.users mu on mu.id = c.medic_id
             where public.message_search_vector(m.body) @@ matching
               and public.can_see_conversation(c)
             order by m.created_at desc, m.id desc
             limit search_messages.max) as hit
     order by hit.created_at desc, hit.id desc;
end $$;

revoke execute on function public.search_messages(text, integer) from public, anon;
grant execute on function public.search_messages(text, integer) to authenticated;
