-- Issue 17: every cost bounded by what is on screen, as on the embedded server
-- (ARCHITECTURE.md, "The conversation list: pages and rows"; server/src/rest/rpc.rs).

-- 1. Thread history pages by a (created_at, id) cursor, newest first:
--    conversation_id=eq.X&created_at=lte.T&or=(created_at.lt.T,and(created_at.eq.T,id.lt.I))
--    &order=created_at.desc,id.desc&limit=50. This index serves the filter and the order
--    together (scanned backward); the unique (conversation_id, created_at) one leaves `id` to
--    a sort. The `created_at=lte.T` term is what makes the scan start at the cursor: the
--    planner draws no range from an OR.
create index messages_conversation_history on public.messages (conversation_id, created_at, id);

-- 2. The list, whole (no arguments, as before), by page, or one row. Unread is a range on
--    created_at from the read marker, which the index serves: `last_read_at is null or
--    created_at > last_read_at` made every call read every message of the org. Without a
--    marker every message from the other side counts, in a branch of its own: under row-level
--    security only leakproof conditions become index conditions, and COALESCE (what the
--    embedded server writes) is not one.
--    Arguments (all optional; PostgREST finds the function by their names):
--    - page_size (1..1000): the newest page_size conversations, then every older one with
--      unread or unacknowledged urgent messages (the first page);
--    - before {"last_message_at", "created_at", "id"} (with page_size): the next page_size
--      strictly after that row in the list's order (last_message_at desc nulls last,
--      created_at desc, id), whatever their counts;
--    - conversation_id: that conversation's row alone (no row when the caller cannot see it).
--    The return type is the same, the arguments change: the function is replaced
--    (unacked_urgent_total calls it without arguments and keeps working).
drop function public.conversations_with_unread();
create function public.conversations_with_unread(page_size integer default null,
                                                 before jsonb default null,
                                                 conversation_id uuid default null)
  returns table (id uuid, org_id uuid, medic_id uuid, medic_name text, created_at timestamptz,
                 last_message_at timestamptz, last_message_preview text, unread_count bigint,
                 unacked_urgent bigint, oldest_unacked_urgent_at timestamptz, subject text,
                 medic_last_message_at timestamptz)
  language plpgsql stable
  as $$
#variable_conflict use_column
declare
  dispatcher boolean := public.current_app_role() = 'dispatcher';
  b_last timestamptz;
  b_created timestamptz;
  b_id uuid;
begin
  if page_size is not null and (page_size < 1 or page_size > 1000) then
    raise exception 'page_size must be between 1 and 1000' using errcode = '22023';
  end if;
  if before is not null and page_size is null then
    raise exception 'before needs page_size' using errcode = '22023';
  end if;
  if conversations_with_unread.conversation_id is not null and page_size is not null then
    raise exception 'conversation_id asks for one row: no page_size or before' using errcode = '22023';
  end if;
  if before is not null then
    if jsonb_typeof(before) is distinct from 'object'
       or coalesce(jsonb_typeof(before -> 'last_message_at'), 'absent') not in ('string', 'null')
       or jsonb_typeof(before -> 'created_at') is distinct from 'string'
       or jsonb_typeof(before -> 'id') is distinct from 'string' then
      raise exception 'before must be {"last_message_at", "created_at", "id"} of the last row'
        using errcode = '22023';
    end if;
    b_last := (before ->> 'last_message_at')::timestamptz;
    b_created := (before ->> 'created_at')::timestamptz;
    b_id := (before ->> 'id')::uuid;
  end if;
  return query
  select c.id, c.org_id, c.medic_id, u.display_name, c.created_at, c.last_message_at,
         c.last_message_preview,
         case when rs.last_read_at is null
              then (select count(*) from public.messages m
                     where m.conversation_id = c.id
                       and (case when dispatcher then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end))
              else (select count(*) from public.messages m
                     where m.conversation_id = c.id and m.created_at > rs.last_read_at
                       and (case when dispatcher then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end))
         end,
         urgent.n, urgent.oldest, c.subject,
         (select m.created_at from public.messages m
           where m.conversation_id = c.id and m.sender_id = c.medic_id
           order by m.created_at desc limit 1)
    from public.conversations c
    join public.users u on u.id = c.medic_id
    left join public.read_state rs on rs.conversation_id = c.id and rs.user_id = auth.uid()
    cross join lateral (
      select count(*) as n, min(m.created_at) as oldest
        from public.messages m
       where m.conversation_id = c.id and m.priority = 'urgent'
         and (case when dispatcher then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end)
         and not exists (select 1 from public.message_acks a where a.message_id = m.id)) urgent
   where (conversations_with_unread.conversation_id is null
          or c.id = conversations_with_unread.conversation_id)
     and (page_size is null
          or c.id in (select x.id from public.conversations x
                       where before is null
                          or (b_last is not null
                              and (x.last_message_at < b_last or x.last_message_at is null
                                   or (x.last_message_at = b_last
                                       and (x.created_at < b_created
                                            or (x.created_at = b_created and x.id > b_id)))))
                          or (b_last is null and x.last_message_at is null
                              and (x.created_at < b_created
                                   or (x.created_at = b_created and x.id > b_id)))
                       order by x.last_message_at desc nulls last, x.created_at desc, x.id
                       limit page_size)
          or (before is null
              and (urgent.n > 0
                   or exists (select 1 from public.messages m
                               where m.conversation_id = c.id
                                 and m.created_at > rs.last_read_at
                                 and (case when dispatcher then m.sender_id = c.medic_id
                                           else m.sender_id <> c.medic_id end))
                   or (rs.last_read_at is null
                       and exists (select 1 from public.messages m
                                    where m.conversation_id = c.id
                                      and (case when dispatcher then m.sender_id = c.medic_id
                                                else m.sender_id <> c.medic_id end))))))
   order by c.last_message_at desc nulls last, c.created_at desc, c.id;
end $$;
grant execute on function public.conversations_with_unread(integer, jsonb, uuid) to authenticated;

-- 3. The unread total counts by the same range, without building the list.
create or replace function public.unread_total() returns bigint
  language sql stable
  as $$
  select coalesce(sum(case when rs.last_read_at is null
                           then (select count(*) from public.messages m
                                  where m.conversation_id = c.id
                                    and (case when public.current_app_role() = 'dispatcher'
                                              then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end))
                           else (select count(*) from public.messages m
                                  where m.conversation_id = c.id and m.created_at > rs.last_read_at
                                    and (case when public.current_app_role() = 'dispatcher'
                                              then m.sender_id = c.medic_id else m.sender_id <> c.medic_id end))
                      end), 0)::bigint
    from public.conversations c
    left join public.read_state rs on rs.conversation_id = c.id and rs.user_id = auth.uid()
  $$;

-- 4. Realtime: every change a client refetches one row for names it. messages and
--    conversations rows carry the conversation (conversation_id, id), read_state rows too
--    (conversation_id); message_acks rows name the message only, and an unacknowledged urgent
--    message's conversation is always on the list's first page, so an acknowledgement
--    refetches that page (no column added: the acks table stays as both backends have it).
