-- Switchboard schema for a hosted Supabase project (Postgres + Realtime).
-- Mirrors the embedded server's SQLite schema and its row-level rules, so the same client
-- runs against either. Users sign in through Supabase Auth; each user's app_metadata must
-- carry org_id, org_name and app_role ('dispatcher' | 'medic'), set with the admin API.

create table public.orgs (
  id uuid primary key default gen_random_uuid(),
  name text not null
);

create table public.users (
  id uuid primary key references auth.users (id) on delete cascade,
  org_id uuid not null references public.orgs (id),
  display_name text not null,
  role text not null check (role in ('dispatcher', 'medic'))
);
create index users_org on public.users (org_id);

create table public.conversations (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.orgs (id),
  medic_id uuid not null references public.users (id),
  created_at timestamptz not null default now(),
  last_message_at timestamptz,
  last_message_preview text
);
create index conversations_org on public.conversations (org_id, last_message_at desc);
create index conversations_medic on public.conversations (medic_id);

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  org_id uuid not null references public.orgs (id),
  conversation_id uuid not null references public.conversations (id),
  sender_id uuid not null references public.users (id),
  body text not null constraint messages_body_length check (char_length(body) between 1 and 4000 and btrim(body) <> ''),
  created_at timestamptz not null default now(),
  unique (conversation_id, created_at)
);
create index messages_org_time on public.messages (org_id, created_at);

create table public.read_state (
  user_id uuid not null references public.users (id),
  conversation_id uuid not null references public.conversations (id),
  last_read_at timestamptz not null,
  primary key (user_id, conversation_id)
);

-- Claims helpers: authorization reads the signed token, never the request body.
create function public.current_org() returns uuid
  language sql stable
  as $$ select nullif(auth.jwt() -> 'app_metadata' ->> 'org_id', '')::uuid $$;

create function public.current_app_role() returns text
  language sql stable
  as $$ select auth.jwt() -> 'app_metadata' ->> 'app_role' $$;

create function public.can_see_conversation(conv public.conversations) returns boolean
  language sql stable
  as $$ select conv.org_id = public.current_org()
              and (public.current_app_role() = 'dispatcher' or conv.medic_id = auth.uid()) $$;

alter table public.orgs enable row level security;
alter table public.users enable row level security;
alter table public.conversations enable row level security;
alter table public.messages enable row level security;
alter table public.read_state enable row level security;

create policy orgs_read on public.orgs for select to authenticated
  using (id = public.current_org());
create policy users_read on public.users for select to authenticated
  using (org_id = public.current_org());
create policy conversations_read on public.conversations for select to authenticated
  using (public.can_see_conversation(conversations));
create policy messages_read on public.messages for select to authenticated
  using (exists (select 1 from public.conversations c
                 where c.id = conversation_id and public.can_see_conversation(c)));
create policy messages_write on public.messages for insert to authenticated
  with check (sender_id = auth.uid()
              and exists (select 1 from public.conversations c
                          where c.id = conversation_id and public.can_see_conversation(c)));
create policy read_state_own on public.read_state for all to authenticated
  using (user_id = auth.uid()) with check (user_id = auth.uid());

grant select on public.orgs, public.users, public.conversations, public.messages, public.read_state to authenticated;
grant insert (id, conversation_id, body) on public.messages to authenticated;
grant insert, update (last_read_at) on public.read_state to authenticated;

-- Server-owned columns of a new message: org and sender from the token, time from the
-- server clock, strictly increasing per conversation.
create function public.messages_before_insert() returns trigger
  language plpgsql security definer set search_path = public
  as $$
declare
  latest timestamptz;
begin
  select org_id into new.org_id from public.conversations where id = new.conversation_id for update;
  new.sender_id := auth.uid();
  select max(created_at) into latest from public.messages where conversation_id = new.conversation_id;
  new.created_at := greatest(clock_timestamp(), coalesce(latest + interval '1 microsecond', clock_timestamp()));
  return new;
end $$;

create function public.messages_after_insert() returns trigger
  language plpgsql security definer set search_path = public
  as $$
begin
  update public.conversations
     set last_message_at = new.created_at,
         last_message_preview = left(regexp_replace(new.body, '\s+', ' ', 'g'), 140)
   where id = new.conversation_id;
  return new;
end $$;

create trigger messages_before_insert before insert on public.messages
  for each row execute function public.messages_before_insert();
create trigger messages_after_insert after insert on public.messages
  for each row execute function public.messages_after_insert();

-- Unread: messages from the other side newer than my read marker.
create function public.conversations_with_unread()
  returns table (id uuid, org_id uuid, medic_id uuid, medic_name text, created_at timestamptz,
                 last_message_at timestamptz, last_message_preview text, unread_count bigint)
  language sql stable
  as $$
  select c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at,
         c.last_message_preview,
         (select count(*) from public.messages m
           where m.conversation_id = c.id
             and (case when public.current_app_role() = 'dispatcher'
                       then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end)
             and (rs.last_read_at is null or m.created_at > rs.last_read_at))
    from public.conversations c
    join public.users u on u.id = c.medic_id
    left join public.read_state rs on rs.conversation_id = c.id and rs.user_id = auth.uid()
   order by c.last_message_at desc nulls last, c.created_at desc, c.id
  $$;

create function public.unread_total() returns bigint
  language sql stable
  as $$ select coalesce(sum(unread_count), 0)::bigint from public.conversations_with_unread() $$;

create function public.mark_conversation_read(conversation_id uuid) returns void
  language plpgsql
  as $$
declare
  newest timestamptz;
begin
  if not exists (select 1 from public.conversations c
                  where c.id = mark_conversation_read.conversation_id and public.can_see_conversation(c)) then
    raise exception 'conversation not found' using errcode = 'P0002';
  end if;
  select max(m.created_at) into newest from public.messages m
   where m.conversation_id = mark_conversation_read.conversation_id;
  insert into public.read_state as rs (user_id, conversation_id, last_read_at)
  values (auth.uid(), mark_conversation_read.conversation_id, greatest(now(), coalesce(newest, now())))
  on conflict on constraint read_state_pkey
  do update set last_read_at = greatest(rs.last_read_at, excluded.last_read_at);
end $$;

grant execute on function public.conversations_with_unread(), public.unread_total(),
  public.mark_conversation_read(uuid) to authenticated;

-- Realtime: the tables the client subscribes to.
alter publication supabase_realtime add table public.messages, public.conversations, public.read_state;
