-- Urgent priority, acknowledgements and canned replies: the embedded server's schema
-- version 3 and its rules (server/src/schema/tables.rs and policy.rs), with the same
-- answers through PostgREST: statuses, SQLSTATE codes and messages.

-- A message's priority: chosen by its sender at insert, never changed after.
alter table public.messages
  add column priority text not null default 'routine'
  constraint messages_priority_check check (priority in ('routine', 'urgent'));
create index messages_urgent on public.messages (conversation_id, created_at)
  where priority = 'urgent';
grant insert (priority) on public.messages to authenticated;
-- Messages are never edited through the API (the embedded server has no such path either);
-- Supabase's default privileges would otherwise grant it, leaving RLS to filter it to nothing.
revoke update, delete, truncate on public.messages from anon, authenticated;

-- Even for roles that may update messages (owners, security-definer code), priority stays.
create function public.messages_priority_fixed() returns trigger
  language plpgsql
  as $$
begin
  raise exception 'a message''s priority is fixed when it is sent' using errcode = '42501';
end $$;

create trigger messages_priority_fixed before update of priority on public.messages
  for each row when (new.priority is distinct from old.priority)
  execute function public.messages_priority_fixed();

-- At most one acknowledgement per message: its key is the message's id, so PostgREST embeds
-- it in a message as one object or null (`ack:message_acks(...)`).
create table public.message_acks (
  message_id uuid primary key references public.messages (id),
  org_id uuid not null references public.orgs (id),
  user_id uuid not null references public.users (id),
  acked_at timestamptz not null default now()
);
create index message_acks_org on public.message_acks (org_id);

-- One-click dispatcher replies of an organisation, in position order.
create table public.canned_replies (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.orgs (id),
  label text not null,
  body text not null,
  position integer not null,
  unique (org_id, position)
);

alter table public.message_acks enable row level security;
alter table public.canned_replies enable row level security;

-- Whoever sees the message sees its acknowledgement: the org's dispatchers and the
-- conversation's own medic.
create policy message_acks_read on public.message_acks for select to authenticated
  using (org_id = public.current_org()
         and exists (select 1 from public.messages m
                       join public.conversations c on c.id = m.conversation_id
                      where m.id = message_acks.message_id and public.can_see_conversation(c)));
-- The org's dispatchers only; medics and other orgs see none.
create policy canned_replies_read on public.canned_replies for select to authenticated
  using (org_id = public.current_org() and public.current_app_role() = 'dispatcher');

-- Read-only over the API: acknowledgements are written only by acknowledge_message below.
revoke all on public.message_acks, public.canned_replies from anon, authenticated;
grant select on public.message_acks, public.canned_replies to authenticated;

-- The demo organisations' replies, for a project that has them (the same set the embedded
-- server seeds); an org that already has replies keeps its own.
insert into public.canned_replies (org_id, label, body, position)
select o.id, r.label, r.body, r.position
  from (values
        ('Northside EMS', 1, 'Copy', 'Copy.'),
        ('Northside EMS', 2, 'Stand by', 'Stand by.'),
        ('Northside EMS', 3, 'ETA?', 'What is your ETA?'),
        ('Northside EMS', 4, 'PD en route', 'PD is en route, stage until the scene is secure.'),
        ('Northside EMS', 5, 'Second unit', 'Second unit en route.'),
        ('Northside EMS', 6, 'Channel 2', 'Go to channel 2.'),
        ('Northside EMS', 7, 'ED notified', 'Receiving ED has been notified.'),
        ('Northside EMS', 8, 'Confirm address', 'Please confirm the address and cross street.'),
        ('Lakeside Ambulance', 1, 'Copy', 'Copy.'),
        ('Lakeside Ambulance', 2, 'Stand by', 'Stand by.'),
        ('Lakeside Ambulance', 3, 'ETA?', 'What is your ETA?'),
        ('Lakeside Ambulance', 4, 'PD en route', 'PD is en route, stage until the scene is secure.'),
        ('Lakeside Ambulance', 5, 'Fire for lift assist', 'Fire is en route for lift assist.'),
        ('Lakeside Ambulance', 6, 'Channel 2', 'Go to channel 2.'),
        ('Lakeside Ambulance', 7, 'Call landline', 'Call dispatch on the landline when able.')
       ) as r (org_name, position, label, body)
  join public.orgs o on o.name = r.org_name
 where not exists (select 1 from public.canned_replies c where c.org_id = o.id);

-- Acknowledges an urgent message for the caller and answers the row (an object through
-- PostgREST). Only the receiving side: a dispatcher of the org for a medic's message, the
-- conversation's own medic for a dispatcher's. At most one row per message: a second call by
-- anyone allowed answers the existing row; a concurrent one waits on the first's key and
-- then finds it. Org, user and time come from the token and the server clock.
-- Errors, as the embedded server answers them: a message the caller cannot see is 404
-- P0002 (raised as PGRST so PostgREST answers 404, not the 500 it gives P0002); a routine
-- message 400 22023; a caller of the sending side 403 42501.
create function public.acknowledge_message(message_id uuid) returns public.message_acks
  language plpgsql security definer set search_path = public
  as $$
declare
  msg record;
  ack public.message_acks;
begin
  select m.id, m.org_id, m.sender_id, m.priority, c.medic_id into msg
    from public.messages m join public.conversations c on c.id = m.conversation_id
   where m.id = acknowledge_message.message_id and public.can_see_conversation(c);
  if not found then
    raise sqlstate 'PGRST' using
      message = '{"code":"P0002","message":"message not found","details":null,"hint":null}',
      detail = '{"status":404,"headers":{}}';
  end if;
  if msg.priority <> 'urgent' then
    raise exception 'only urgent messages are acknowledged'
      using errcode = '22023', detail = 'this message is routine';
  end if;
  if not (case when msg.sender_id = msg.medic_id
               then public.current_app_role() = 'dispatcher'
               else public.current_app_role() = 'medic' and msg.medic_id = auth.uid() end)
     or msg.sender_id = auth.uid() then
    raise exception 'only the receiving side acknowledges an urgent message'
      using errcode = '42501',
            detail = 'a medic''s message is acknowledged by a dispatcher, a dispatcher''s by the conversation''s medic';
  end if;
  insert into public.message_acks (message_id, org_id, user_id, acked_at)
  values (msg.id, msg.org_id, auth.uid(), now())
  on conflict on constraint message_acks_pkey do nothing;
  select * into ack from public.message_acks a where a.message_id = msg.id;
  return ack;
end $$;

-- The list gains, for the caller, the conversation's urgent messages from the other side
-- that nobody has acknowledged, and the oldest of their times. The return type changes, so
-- the function is replaced (unread_total calls it by name and keeps working).
drop function public.conversations_with_unread();
create function public.conversations_with_unread()
  returns table (id uuid, org_id uuid, medic_id uuid, medic_name text, created_at timestamptz,
                 last_message_at timestamptz, last_message_preview text, unread_count bigint,
                 unacked_urgent bigint, oldest_unacked_urgent_at timestamptz)
  language sql stable
  as $$
  select c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at,
         c.last_message_preview,
         (select count(*) from public.messages m
           where m.conversation_id = c.id
             and (case when public.current_app_role() = 'dispatcher'
                       then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end)
             and (rs.last_read_at is null or m.created_at > rs.last_read_at)),
         urgent.n, urgent.oldest
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

-- The same count over everything the caller sees.
create function public.unacked_urgent_total() returns bigint
  language sql stable
  as $$ select coalesce(sum(unacked_urgent), 0)::bigint from public.conversations_with_unread() $$;

-- A conversation the caller cannot see is 404 P0002, as on the embedded server (a plain
-- P0002 reaches PostgREST clients as a 500).
create or replace function public.mark_conversation_read(conversation_id uuid) returns void
  language plpgsql
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
  do update set last_read_at = greatest(rs.last_read_at, excluded.last_read_at);
end $$;

revoke execute on function public.acknowledge_message(uuid), public.messages_priority_fixed()
  from public, anon;
grant execute on function public.conversations_with_unread(), public.unacked_urgent_total(),
  public.acknowledge_message(uuid) to authenticated;

-- Realtime: acknowledgements reach the org's dispatchers and the conversation's medic
-- (Realtime re-checks message_acks_read per subscriber).
alter publication supabase_realtime add table public.message_acks;
