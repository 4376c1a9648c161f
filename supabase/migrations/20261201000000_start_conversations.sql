-- Start conversations, subjects, mark as unread (issue 15): the embedded server's schema
-- version 5 and its rules (server/src/rest/write.rs: parse_new_conversation,
-- insert_conversations, mark_conversation_unread; server/src/schema/policy.rs:
-- may_start_conversation), with the same answers through PostgREST: statuses, SQLSTATE
-- codes and messages. ARCHITECTURE.md, "Backend parity", has the table; supabase/verify.sh
-- checks each rule with the inputs server/tests/conversations.rs sends to the embedded server.

-- 1. A conversation's subject: for EMS the unit and incident, e.g. 'Medic 6 · Inc 26-0412'.
-- Trimmed of White_Space at both ends (the class below is Unicode's White_Space, as in
-- message_preview; Rust's str::trim on the embedded server), then 1 to 120 characters and
-- not blank (the class of messages_body_length, switchboard_wire::text::postgres_class()).
-- Conversations stored before keep '' and stay writable (a new message updates their
-- preview), so the rule is checked when a conversation is inserted, not as a CHECK
-- constraint (even NOT VALID, one would refuse every later update of an old row). It runs
-- after row-level security and the primary key, in an AFTER trigger, and answers as a check
-- constraint would: 23514 (PostgREST: 400) naming conversations_subject_length, with the
-- embedded server's detail.
alter table public.conversations add column subject text not null default '';

create function public.conversations_before_insert() returns trigger
  language plpgsql
  as $$
begin
  new.subject := regexp_replace(new.subject,
    '^[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+|[\u0009-\u000D\u0020\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$',
    '', 'g');
  return new;
end $$;

create function public.conversations_subject_check() returns trigger
  language plpgsql
  as $$
begin
  if not (char_length(new.subject) between 1 and 120
          and new.subject !~ '^[\u0009-\u000D\u0020\u0085\u00A0\u00AD\u034F\u061C\u115F-\u1160\u1680\u17B4-\u17B5\u180B-\u180F\u2000-\u200A\u200B-\u200F\u2028-\u2029\u202A-\u202E\u202F\u205F\u2060-\u206F\u2800\u3000\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFFB\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D159\U0001D173-\U0001D17A\U000E0000-\U000E0FFF]*$') then
    raise exception 'new row for relation "conversations" violates check constraint "conversations_subject_length"'
      using errcode = '23514', constraint = 'conversations_subject_length',
            detail = format('subject must be 1 to 120 characters and not blank; got %s', char_length(new.subject));
  end if;
  return null;
end $$;

create trigger conversations_before_insert before insert on public.conversations
  for each row execute function public.conversations_before_insert();
create trigger conversations_subject_check after insert on public.conversations
  for each row execute function public.conversations_subject_check();
revoke execute on function public.conversations_before_insert(), public.conversations_subject_check()
  from public, anon;

-- 2. Starting a conversation: POST /rest/v1/conversations {id?, medic_id, subject}.
-- The client may send only id, medic_id and subject (column-level grant): org_id,
-- created_at and last_message_* are the server's, and naming any of them, whatever the
-- value, is refused with 42501 "permission denied for table conversations" (PostgREST: 403),
-- as on the embedded server. org_id comes from the token, created_at from the clock.
-- A client-chosen id that is taken is 23505 (409) from the primary key.
alter table public.conversations alter column org_id set default public.current_org();
grant insert (id, medic_id, subject) on public.conversations to authenticated;

-- Who: a dispatcher with any medic of their org, a medic only with themselves. Anyone
-- else (another org's medic, a dispatcher, a user that does not exist) is refused as
-- row-level security refuses (42501, 403). Then, in PostgreSQL's order and the embedded
-- server's: NOT NULL (a null subject, 23502), the primary key (23505), the subject (23514).
create policy conversations_start on public.conversations for insert to authenticated
  with check (org_id = public.current_org()
              and exists (select 1 from public.users u
                           where u.id = conversations.medic_id
                             and u.org_id = public.current_org()
                             and u.role = 'medic')
              and (public.current_app_role() = 'dispatcher' or conversations.medic_id = auth.uid()));

-- Realtime: conversations are already published (20261125000000); a new one reaches every
-- subscriber conversations_read lets see it, as an INSERT.

-- 3. The list gains the subject and when the medic last sent something (for the thread
-- header). The return type changes, so the function is replaced (unread_total and
-- unacked_urgent_total call it by name and keep working).
drop function public.conversations_with_unread();
create function public.conversations_with_unread()
  returns table (id uuid, org_id uuid, medic_id uuid, medic_name text, created_at timestamptz,
                 last_message_at timestamptz, last_message_preview text, unread_count bigint,
                 unacked_urgent bigint, oldest_unacked_urgent_at timestamptz, subject text,
                 medic_last_message_at timestamptz)
  language sql stable
  as $$
  select c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at,
         c.last_message_preview,
         (select count(*) from public.messages m
           where m.conversation_id = c.id
             and (case when public.current_app_role() = 'dispatcher'
                       then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end)
             and (rs.last_read_at is null or m.created_at > rs.last_read_at)),
         urgent.n, urgent.oldest, c.subject,
         (select max(m.created_at) from public.messages m
           where m.conversation_id = c.id and m.sender_id = c.medic_id)
    from public.conversations c
    join public.users u on u.id = c.medic_id
    left join public.read_state rs on rs.conversation_id = c.id and rs.user_id = auth.uid()
    cross join lateral (
      select count(*) as n, min(m.created_at) as oldest
        from public.messages m
       where m.conversation_id = c.id and m.priority = 'urgent'
         and (case when public.current_app_role() = 'dispatcher'
                   then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end)
         and not exists (select 1 from public.message_acks a where a.message_id = m.id)) urgent
   order by c.last_message_at desc nulls last, c.created_at desc, c.id
  $$;
grant execute on function public.conversations_with_unread() to authenticated;

-- 4. Mark as unread: the caller's read marker goes back to just before a message, so that
-- message and every later one from the other side count as unread again.
-- "Just before" is the message's created_at minus one microsecond, which is exact:
-- timestamptz has microsecond resolution and created_at is unique per conversation
-- (unique (conversation_id, created_at)), and unread means created_at > last_read_at.
-- Never forwards: a marker already at or before that point stays, and a caller without a
-- marker (everything unread already) gets none. This is the one lift of read_state's
-- "never backwards" rule: the function sets switchboard.read_marker_back for its own update
-- only. (A client able to set that setting could only move its own marker back, which this
-- function lets it do anyway.)
-- Errors, as the embedded server answers them: a conversation the caller cannot see is 404
-- P0002 "conversation not found", a message the caller cannot see 404 P0002 "message not
-- found" (raised as PGRST so PostgREST answers 404, not the 500 it gives P0002), a visible
-- message of another conversation 400 22023.
create or replace function public.read_state_before_write() returns trigger
  language plpgsql security definer set search_path = public
  as $$
declare
  newest timestamptz;
begin
  if new.last_read_at is null then
    return new;
  end if;
  if tg_op = 'UPDATE' and current_setting('switchboard.read_marker_back', true) is distinct from 'on' then
    new.last_read_at := greatest(old.last_read_at, new.last_read_at);
  end if;
  select max(m.created_at) into newest from public.messages m
   where m.conversation_id = new.conversation_id;
  new.last_read_at := least(new.last_read_at, coalesce(newest, now()));
  return new;
end $$;

create function public.mark_conversation_unread(conversation_id uuid, message_id uuid) returns void
  language plpgsql security definer set search_path = public
  as $$
declare
  msg record;
begin
  if not exists (select 1 from public.conversations c
                  where c.id = mark_conversation_unread.conversation_id and public.can_see_conversation(c)) then
    raise sqlstate 'PGRST' using
      message = '{"code":"P0002","message":"conversation not found","details":null,"hint":null}',
      detail = '{"status":404,"headers":{}}';
  end if;
  select m.conversation_id, m.created_at into msg
    from public.messages m join public.conversations c on c.id = m.conversation_id
   where m.id = mark_conversation_unread.message_id and public.can_see_conversation(c);
  if not found then
    raise sqlstate 'PGRST' using
      message = '{"code":"P0002","message":"message not found","details":null,"hint":null}',
      detail = '{"status":404,"headers":{}}';
  end if;
  if msg.conversation_id <> mark_conversation_unread.conversation_id then
    raise exception 'message is not in this conversation'
      using errcode = '22023',
            detail = format('message %s belongs to another conversation', mark_conversation_unread.message_id);
  end if;
  perform set_config('switchboard.read_marker_back', 'on', true);
  update public.read_state rs
     set last_read_at = msg.created_at - interval '1 microsecond'
   where rs.user_id = auth.uid()
     and rs.conversation_id = mark_conversation_unread.conversation_id
     and rs.last_read_at > msg.created_at - interval '1 microsecond';
  perform set_config('switchboard.read_marker_back', 'off', true);
end $$;
revoke execute on function public.mark_conversation_unread(uuid, uuid) from public, anon;
grant execute on function public.mark_conversation_unread(uuid, uuid) to authenticated;
