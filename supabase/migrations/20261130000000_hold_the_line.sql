-- Hold the line (issue 12): the write rules the embedded server holds, held here the same
-- way, with the same SQLSTATE codes through PostgREST. ARCHITECTURE.md, "Backend parity",
-- has the table; supabase/verify.sh checks each rule with the inputs server/tests/parity.rs
-- sends to the embedded server.
--
-- U+0000 needs nothing here: PostgreSQL text cannot hold it, so PostgREST's JSON-to-row
-- conversion fails with 22P05 "unsupported Unicode escape sequence" (400), which is what the
-- embedded server answers for it in any string it takes.

-- 1. Blank bodies. A body made only of White_Space, Default_Ignorable_Code_Point, format (Cf)
-- characters or invisible fillers (U+2800 BRAILLE PATTERN BLANK, U+3164 HANGUL FILLER, ...)
-- shows nothing and is refused, under the constraint name and code (23514) it had. The
-- bracket class is switchboard_wire::text::postgres_class() (wire/src/text.rs, the one
-- definition the app's composer and the embedded server use): they must change together;
-- server/tests/parity.rs fails when they differ. NOT VALID: rows stored before stay, every
-- new row is checked.
alter table public.messages drop constraint messages_body_length;
alter table public.messages add constraint messages_body_length
  check (char_length(body) between 1 and 4000
         and body !~ '^[\u0009-\u000D\u0020\u0085\u00A0\u00AD\u034F\u061C\u115F-\u1160\u1680\u17B4-\u17B5\u180B-\u180F\u2000-\u200A\u200B-\u200F\u2028-\u2029\u202A-\u202E\u202F\u205F\u2060-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D159\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]*$')
  not valid;

-- 2. Server-owned columns of a new message. org_id, sender_id and created_at are the
-- server's: a client value other than the one the server sets (the conversation's org, the
-- caller, the clock) is refused with 42501 (PostgREST: 403) and the embedded server's
-- message and detail, instead of being overwritten silently. Absent or null means "let the
-- server set it"; created_at loses its default so that an absent value is null here.
-- A conversation that does not exist is refused the same way, as under row-level security
-- (it was a 23502 on org_id before).
alter table public.messages alter column created_at drop default;

create or replace function public.messages_before_insert() returns trigger
  language plpgsql security definer set search_path = public
  as $$
declare
  conversation_org uuid;
  latest timestamptz;
  forged text;
begin
  select org_id into conversation_org from public.conversations where id = new.conversation_id for update;
  if conversation_org is null then
    raise exception 'new row violates row-level security policy for table "messages"'
      using errcode = '42501';
  end if;
  forged := case
    when new.org_id is not null and new.org_id <> conversation_org then 'org_id'
    when new.sender_id is not null and new.sender_id is distinct from auth.uid() then 'sender_id'
    when new.created_at is not null then 'created_at'
  end;
  if forged is not null then
    raise exception 'new row violates row-level security policy for table "messages"'
      using errcode = '42501', detail = format('column "%s" is set by the server', forged);
  end if;
  new.org_id := conversation_org;
  new.sender_id := auth.uid();
  select max(created_at) into latest from public.messages where conversation_id = new.conversation_id;
  new.created_at := greatest(clock_timestamp(), coalesce(latest + interval '1 microsecond', clock_timestamp()));
  return new;
end $$;

-- 3. The list preview, as server/src/rest/write.rs::preview makes it: White_Space runs
-- (the class below is Unicode's White_Space, spelled out so no locale changes it) become one
-- space and the ends are trimmed; over 140 characters, it is cut to at most 139 and '…'.
-- The embedded server cuts at an extended grapheme cluster boundary (UAX #29). PostgreSQL has
-- no grapheme segmentation, so this cut is the closest SQL allows: when the 140th character
-- continues the cluster the cut would split (a combining mark of the generic combining
-- blocks, ZWNJ/ZWJ, a variation selector, an emoji skin-tone modifier, a tag character, a
-- keycap mark) or the head ends in ZWJ, the whole trailing cluster (base, marks, ZWJ links)
-- is dropped; a regional-indicator flag cut in half drops its lone first half. Where it
-- differs: script-specific marks outside those blocks (Indic vowel signs and viramas, Thai,
-- ...) and Hangul conjoining jamo may still be split here, and prepended concatenation marks
-- are not kept with what follows.
create function public.message_preview(body text) returns text
  language plpgsql immutable
  as $$
declare
  flat text := regexp_replace(
    regexp_replace(body, '[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+', ' ', 'g'),
    '^ | $', '', 'g');
  head text;
  next_char text;
begin
  if char_length(flat) <= 140 then
    return flat;
  end if;
  head := left(flat, 139);
  next_char := substr(flat, 140, 1);
  if next_char ~ '^[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u200C\u200D\u20D0-\u20FF\uFE00-\uFE0F\uFE20-\uFE2F\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\U000E0100-\U000E01EF]'
     or head ~ '\u200D$' then
    head := regexp_replace(head,
      '[^\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u200C\u200D\u20D0-\u20FF\uFE00-\uFE0F\uFE20-\uFE2F\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\U000E0100-\U000E01EF]'
      '(?:[\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u200C\u20D0-\u20FF\uFE00-\uFE0F\uFE20-\uFE2F\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\U000E0100-\U000E01EF]'
      '|\u200D[^\u0300-\u036F\u1AB0-\u1AFF\u1DC0-\u1DFF\u200C\u200D\u20D0-\u20FF\uFE00-\uFE0F\uFE20-\uFE2F\U0001F3FB-\U0001F3FF\U000E0020-\U000E007F\U000E0100-\U000E01EF]?)*$',
      '');
  elsif next_char ~ '^[\U0001F1E6-\U0001F1FF]'
        and char_length(substring(head from '[\U0001F1E6-\U0001F1FF]*$')) % 2 = 1 then
    head := left(head, -1);
  end if;
  return head || '…';
end $$;

create or replace function public.messages_after_insert() returns trigger
  language plpgsql security definer set search_path = public
  as $$
begin
  update public.conversations
     set last_message_at = new.created_at,
         last_message_preview = public.message_preview(new.body)
   where id = new.conversation_id;
  return new;
end $$;

-- 4. Read markers. On every path that writes one (PATCH, the mark_conversation_read RPC,
-- anything later), as server/src/rest/write.rs::set_read_marker:
-- - never ahead: at most the conversation's newest committed message (without messages, the
--   clock), so a message stamped later always counts unread; this wins over the next rule;
-- - never backwards: otherwise an update keeps the later of the old and new values. Issue
--   15's mark-as-unread RPC will have to lift this rule explicitly (this trigger is its one
--   home).
-- A null is left to the NOT NULL constraint (23502), as the embedded server answers it.
create function public.read_state_before_write() returns trigger
  language plpgsql security definer set search_path = public
  as $$
declare
  newest timestamptz;
begin
  if new.last_read_at is null then
    return new;
  end if;
  if tg_op = 'UPDATE' then
    new.last_read_at := greatest(old.last_read_at, new.last_read_at);
  end if;
  select max(m.created_at) into newest from public.messages m
   where m.conversation_id = new.conversation_id;
  new.last_read_at := least(new.last_read_at, coalesce(newest, now()));
  return new;
end $$;

create trigger read_state_before_write before insert or update on public.read_state
  for each row execute function public.read_state_before_write();

-- Markers written before this rule are pulled back (the trigger clamps them).
update public.read_state rs
   set last_read_at = rs.last_read_at
 where rs.last_read_at > coalesce((select max(m.created_at) from public.messages m
                                    where m.conversation_id = rs.conversation_id), now());

-- Who writes markers, as on the embedded server: the caller reads their own; PATCH moves
-- last_read_at of their own marker in a conversation they can see; there is no insert or
-- delete over the API (mark_conversation_read creates a marker, as a definer function). The
-- old read_state_own policy allowed all four, and Supabase's default privileges granted them.
drop policy read_state_own on public.read_state;
create policy read_state_read on public.read_state for select to authenticated
  using (user_id = auth.uid());
create policy read_state_update on public.read_state for update to authenticated
  using (user_id = auth.uid()
         and exists (select 1 from public.conversations c
                     where c.id = conversation_id and public.can_see_conversation(c)))
  with check (user_id = auth.uid()
              and exists (select 1 from public.conversations c
                          where c.id = conversation_id and public.can_see_conversation(c)));
revoke all on public.read_state from anon, authenticated;
grant select on public.read_state to authenticated;
grant update (last_read_at) on public.read_state to authenticated;

-- The RPC now writes a table its caller may not insert into: it runs as definer, checks
-- visibility itself and writes only the caller's own marker.
create or replace function public.mark_conversation_read(conversation_id uuid) returns void
  language plpgsql security definer set search_path = public
  as $$
declare
  newest timestamptz;
begin
  if not exists (select 1 from public.conversations c
                  where c.id = mark_conversation_read.conversation_id and public.can_see_conversation(c)) then
    raise sqlstate 'PGRST' using
      message = '{"code":"P0002","message":"conversation not found","details":null,"hint":null}',
      detail = '{"status":404,"headers":{}}';
  end if;
  select max(m.created_at) into newest from public.messages m
   where m.conversation_id = mark_conversation_read.conversation_id;
  insert into public.read_state as rs (user_id, conversation_id, last_read_at)
  values (auth.uid(), mark_conversation_read.conversation_id, coalesce(newest, now()))
  on conflict on constraint read_state_pkey
  do update set last_read_at = excluded.last_read_at;
end $$;
revoke execute on function public.mark_conversation_read(uuid) from public, anon;
grant execute on function public.mark_conversation_read(uuid) to authenticated;

-- 5. Tables the API only reads, as on the embedded server (which answers any write there
-- with 42501 "permission denied"): Supabase's default privileges granted every write, which
-- row-level security then turned into a silent no-op for updates and deletes.
revoke insert, update, delete, truncate on public.orgs, public.users, public.conversations
  from anon, authenticated;
