-- Mark read up to the newest committed message, not up to now(): a message stamped before
-- the call but committed after it (its transaction was still open) must stay unread.
create or replace function public.mark_conversation_read(conversation_id uuid) returns void
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
  values (auth.uid(), mark_conversation_read.conversation_id, coalesce(newest, now()))
  on conflict on constraint read_state_pkey
  do update set last_read_at = greatest(rs.last_read_at, excluded.last_read_at);
end $$;
