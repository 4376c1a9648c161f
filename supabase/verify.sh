#!/usr/bin/env bash
# Applies the Supabase migration to a throwaway local PostgreSQL with minimal stand-ins for
# Supabase's auth schema, then checks the row-level rules and RPCs as two different users.
# Prints "N passed, M failed" like the other test steps.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(dirname "$(readlink -f "$(command -v postgres || echo /usr/lib/postgresql/15/bin/postgres)")")"
work="$(mktemp -d)"
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() { as_pg "$bin/pg_ctl -D $work/data -m immediate stop" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
as_pg "$bin/initdb -D $work/data -U postgres --auth=trust" >/dev/null
as_pg "$bin/pg_ctl -D $work/data -o '-k $work -c listen_addresses= -c wal_level=logical' -l $work/log start -w" >/dev/null
psql_run() { psql -h "$work" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

psql_run <<'SQL'
create role anon nologin; create role authenticated nologin;
create schema auth;
create table auth.users (id uuid primary key);
create function auth.jwt() returns jsonb language sql stable
  as $$ select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb $$;
create function auth.uid() returns uuid language sql stable
  as $$ select nullif(auth.jwt() ->> 'sub', '')::uuid $$;
grant usage on schema auth to authenticated;
create publication supabase_realtime;
-- As on Supabase: new tables and functions in public are granted to the API roles, so
-- grants and revokes in the migrations are tested against what a project really has.
alter default privileges in schema public grant all on tables to anon, authenticated;
alter default privileges in schema public grant all on functions to anon, authenticated;
SQL
# The migrations released before canned replies run on an empty project; the fixtures then
# stand for an existing project's data (with the demo orgs' names), and the later migrations
# upgrade it, as `supabase db push` would.
fixtures_after=20261125100000
migrate() { # "up-to" or "after"
  for migration in "$here"/migrations/*.sql; do
    stamp="$(basename "$migration")"; stamp="${stamp%%_*}"
    if { [ "$1" = up-to ] && [ "$stamp" -le "$fixtures_after" ]; } || { [ "$1" = after ] && [ "$stamp" -gt "$fixtures_after" ]; }; then
      psql_run -f "$migration"
    fi
  done
}
migrate up-to

psql_run <<'SQL'
insert into auth.users values ('00000000-0000-0000-0000-0000000000a1'), ('00000000-0000-0000-0000-0000000000b1'),
  ('00000000-0000-0000-0000-0000000000a2'), ('00000000-0000-0000-0000-0000000000c1'),
  ('00000000-0000-0000-0000-0000000000a3'), ('00000000-0000-0000-0000-0000000000b2');
insert into public.orgs values ('00000000-0000-0000-0000-00000000000a', 'Northside EMS'), ('00000000-0000-0000-0000-00000000000b', 'Lakeside Ambulance');
insert into public.users values
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a', 'Ana', 'dispatcher'),
  ('00000000-0000-0000-0000-0000000000a3', '00000000-0000-0000-0000-00000000000a', 'Ben', 'dispatcher'),
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-00000000000a', 'Medic One', 'medic'),
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-00000000000a', 'Medic Two', 'medic'),
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000b', 'Lee', 'dispatcher'),
  ('00000000-0000-0000-0000-0000000000b2', '00000000-0000-0000-0000-00000000000b', 'Lake Medic', 'medic');
insert into public.conversations (id, org_id, medic_id) values
  ('00000000-0000-0000-0000-000000000c01', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a2'),
  ('00000000-0000-0000-0000-000000000c02', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000c1'),
  ('00000000-0000-0000-0000-000000000c03', '00000000-0000-0000-0000-00000000000b', '00000000-0000-0000-0000-0000000000b2');
SQL
migrate after

passed=0; failed=0
check() { # name, claims-json, sql, expected
  local got
  local out
  out="$(psql_run -c "begin; set local role authenticated; set local request.jwt.claims = '$2'; $3; commit;" 2>&1 || true)"
  got="$(printf '%s\n' "$out" | grep -m1 '^ERROR' || printf '%s\n' "$out" | tail -n 1)"
  if [ "$got" = "$4" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected '$4', got '$got'"; fi
}
check_owner() { # name, sql, expected: as the tables' owner (a migration or a definer function)
  local got
  local out
  out="$(psql_run -c "$2" 2>&1 || true)"
  got="$(printf '%s\n' "$out" | grep -m1 '^ERROR' || printf '%s\n' "$out" | tail -n 1)"
  if [ "$got" = "$3" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected '$3', got '$got'"; fi
}
medic='{"sub":"00000000-0000-0000-0000-0000000000a2","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"medic"}}'
ana='{"sub":"00000000-0000-0000-0000-0000000000a1","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"dispatcher"}}'
lee='{"sub":"00000000-0000-0000-0000-0000000000b1","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000b","app_role":"dispatcher"}}'
ben='{"sub":"00000000-0000-0000-0000-0000000000a3","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"dispatcher"}}'
medic2='{"sub":"00000000-0000-0000-0000-0000000000c1","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"medic"}}'
lakemedic='{"sub":"00000000-0000-0000-0000-0000000000b2","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000b","app_role":"medic"}}'
c1=00000000-0000-0000-0000-000000000c01; c2=00000000-0000-0000-0000-000000000c02; c3=00000000-0000-0000-0000-000000000c03
ana_id=00000000-0000-0000-0000-0000000000a1; medic_id=00000000-0000-0000-0000-0000000000a2

check "medic posts; server sets sender and org" "$medic" "insert into public.messages (conversation_id, body) values ('$c1', 'on scene') returning sender_id || ' ' || org_id" \
  "00000000-0000-0000-0000-0000000000a2 00000000-0000-0000-0000-00000000000a"
check "preview updated" "$ana" "select last_message_preview from public.conversations where id = '$c1'" "on scene"
check "dispatcher sees both conversations" "$ana" "select count(*) from public.conversations" "2"
check "medic sees only their own" "$medic" "select count(*) from public.conversations" "1"
check "other org sees nothing" "$lee" "select count(*) from public.messages" "0"
check "dispatcher unread" "$ana" "select unread_total()" "1"
check "medic has no unread from themselves" "$medic" "select unread_total()" "0"
check "mark read clears it" "$ana" "select public.mark_conversation_read('$c1'); select unread_total()" "0"
check "medic cannot post into another medic's conversation" "$medic" "insert into public.messages (conversation_id, body) values ('$c2', 'x') returning id" \
  'ERROR:  new row violates row-level security policy for table "messages"'
check "body length is checked" "$ana" "insert into public.messages (conversation_id, body) values ('$c1', repeat('x', 4001)) returning id" \
  'ERROR:  new row for relation "messages" violates check constraint "messages_body_length"'
check "created_at strictly increases" "$ana" "insert into public.messages (conversation_id, body) select '$c1', 'm' || g from generate_series(1, 20) g; select count(distinct created_at) from public.messages where conversation_id = '$c1'" "21"
check "list newest first with names" "$ana" "select medic_name from conversations_with_unread() limit 1" "Medic One"
# A medic message stamped before the dispatcher's mark but committed after it stays unread.
psql_run -c "begin; set local role authenticated; set local request.jwt.claims = '$medic'; insert into public.messages (conversation_id, body) values ('$c1', 'late'); select pg_sleep(1.5); commit;" >/dev/null &
late=$!
sleep 0.5
check "mark read while a message is uncommitted" "$ana" "select public.mark_conversation_read('$c1'); select 1" "1"
wait "$late"
check "that message is still unread" "$ana" "select unread_total()" "1"

check "mark read of an unseen conversation is a 404 P0002 for PostgREST" "$lee" "select public.mark_conversation_read('$c1')" \
  'ERROR:  {"code":"P0002","message":"conversation not found","details":null,"hint":null}'

# Urgent priority: chosen at insert, checked, never changed.
u1=00000000-0000-0000-0000-00000000e001; u2=00000000-0000-0000-0000-00000000e002; u3=00000000-0000-0000-0000-00000000e003
u4=00000000-0000-0000-0000-00000000e004; u5=00000000-0000-0000-0000-00000000e005; u6=00000000-0000-0000-0000-00000000e006
r1=00000000-0000-0000-0000-00000000e0f1; lake1=00000000-0000-0000-0000-00000000e0b1
check "messages are routine by default" "$medic" "insert into public.messages (id, conversation_id, body) values ('$r1', '$c1', 'routine') returning priority" "routine"
check "priority is checked" "$medic" "insert into public.messages (conversation_id, body, priority) values ('$c1', 'x', 'high') returning id" \
  'ERROR:  new row for relation "messages" violates check constraint "messages_priority_check"'
check "medic sends urgent" "$medic" "insert into public.messages (id, conversation_id, body, priority) values ('$u1', '$c1', 'need backup', 'urgent') returning priority" "urgent"
check "dispatcher sends urgent" "$ana" "insert into public.messages (id, conversation_id, body, priority) values ('$u2', '$c1', 'evacuate', 'urgent') returning priority" "urgent"
check "lakeside medic sends urgent" "$lakemedic" "insert into public.messages (id, conversation_id, body, priority) values ('$lake1', '$c3', 'lake', 'urgent') returning priority" "urgent"
check "the API cannot update a message" "$ana" "update public.messages set priority = 'routine' where id = '$u1'" \
  'ERROR:  permission denied for table messages'
check_owner "not even the owner changes a priority" "update public.messages set priority = 'routine' where id = '$u1'" \
  "ERROR:  a message's priority is fixed when it is sent"
check_owner "other columns stay updatable by the owner" "update public.messages set body = body where id = '$u1'; select priority from public.messages where id = '$u1'" "urgent"

# Acknowledgements: the receiving side only, urgent only, one row per message.
not_found='ERROR:  {"code":"P0002","message":"message not found","details":null,"hint":null}'
not_receiver='ERROR:  only the receiving side acknowledges an urgent message'
check "the sender cannot acknowledge" "$medic" "select user_id from public.acknowledge_message('$u1')" "$not_receiver"
check "another medic cannot see it" "$medic2" "select user_id from public.acknowledge_message('$u1')" "$not_found"
check "another org cannot see it" "$lee" "select user_id from public.acknowledge_message('$u1')" "$not_found"
check "a missing message is not found" "$ana" "select user_id from public.acknowledge_message('00000000-0000-0000-0000-00000000dead')" "$not_found"
check "routine messages are not acknowledged" "$ana" "select user_id from public.acknowledge_message('$r1')" \
  'ERROR:  only urgent messages are acknowledged'
check "a dispatcher acknowledges a medic's message" "$ana" "select user_id || ' ' || org_id || ' ' || (acked_at = now()) from public.acknowledge_message('$u1')" \
  "$ana_id 00000000-0000-0000-0000-00000000000a true"
check "a second call returns the existing row" "$ben" "select user_id from public.acknowledge_message('$u1')" "$ana_id"
check "and never a second row" "$ana" "select count(*) from public.message_acks where message_id = '$u1'" "1"
check "the medic still cannot acknowledge it" "$medic" "select user_id from public.acknowledge_message('$u1')" "$not_receiver"
check "a dispatcher's message: not by its sender" "$ana" "select user_id from public.acknowledge_message('$u2')" "$not_receiver"
check "a dispatcher's message: not by another dispatcher" "$ben" "select user_id from public.acknowledge_message('$u2')" "$not_receiver"
check "a dispatcher's message: not by another medic" "$medic2" "select user_id from public.acknowledge_message('$u2')" "$not_found"
check "a dispatcher's message: by the conversation's medic" "$medic" "select user_id from public.acknowledge_message('$u2')" "$medic_id"
check "a lakeside dispatcher acknowledges there" "$lee" "select count(*) from public.acknowledge_message('$lake1')" "1"
check "no direct inserts" "$ana" "insert into public.message_acks (message_id, org_id, user_id) values ('$u3', '00000000-0000-0000-0000-00000000000a', '$ana_id')" \
  'ERROR:  permission denied for table message_acks'
check "no direct deletes" "$ana" "delete from public.message_acks" 'ERROR:  permission denied for table message_acks'
check "no direct updates" "$ana" "update public.message_acks set user_id = user_id" 'ERROR:  permission denied for table message_acks'
check "dispatchers read the org's acknowledgements" "$ben" "select count(*) from public.message_acks" "2"
check "the medic reads their conversation's" "$medic" "select count(*) from public.message_acks" "2"
check "another medic reads none" "$medic2" "select count(*) from public.message_acks" "0"
check "another org reads only its own" "$lee" "select count(*) from public.message_acks where org_id = '00000000-0000-0000-0000-00000000000a'" "0"
check "the lakeside medic reads theirs" "$lakemedic" "select count(*) from public.message_acks" "1"
check_owner "anon cannot acknowledge" "begin; set local role anon; select public.acknowledge_message('$u1'); commit;" \
  'ERROR:  permission denied for function acknowledge_message'

# Two sessions acknowledge at once: the second waits for the first's row and returns it.
check "medic sends another urgent" "$medic" "insert into public.messages (id, conversation_id, body, priority) values ('$u3', '$c1', 'second unit?', 'urgent') returning priority" "urgent"
psql_run -c "begin; set local role authenticated; set local request.jwt.claims = '$ana'; select public.acknowledge_message('$u3'); select pg_sleep(1.5); commit;" >/dev/null &
first=$!
sleep 0.5
check "a concurrent second call returns the first's row" "$ben" "select user_id from public.acknowledge_message('$u3')" "$ana_id"
if wait "$first"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL the first concurrent call failed"; fi
check "one row after concurrent calls" "$ana" "select count(*) from public.message_acks where message_id = '$u3'" "1"

# Unacknowledged urgent messages, per conversation and in total.
check "medic sends two more urgent" "$medic" "insert into public.messages (id, conversation_id, body, priority) values ('$u4', '$c1', 'u4', 'urgent'), ('$u5', '$c1', 'u5', 'urgent') returning priority" "urgent"
oldest_is() { echo "select unacked_urgent || ' ' || (oldest_unacked_urgent_at is not distinct from (select created_at from public.messages where id = '$1')) from public.conversations_with_unread() where id = '$c1'"; }
check "dispatcher: two unacknowledged, oldest first" "$ana" "$(oldest_is "$u4")" "2 true"
check "dispatcher total" "$ben" "select unacked_urgent_total()" "2"
check "medic: none from themselves" "$medic" "select unacked_urgent_total()" "0"
check "other org: none" "$lee" "select unacked_urgent_total()" "0"
check "acknowledging the oldest moves it on" "$ben" "select count(*) from public.acknowledge_message('$u4')" "1"
check "dispatcher: one left" "$ana" "$(oldest_is "$u5")" "1 true"
check "dispatcher sends urgent to the medic" "$ana" "insert into public.messages (id, conversation_id, body, priority) values ('$u6', '$c1', 'u6', 'urgent') returning priority" "urgent"
check "medic: one from dispatch" "$medic" "$(oldest_is "$u6")" "1 true"
check "medic total" "$medic" "select unacked_urgent_total()" "1"
check "dispatch's own message is not theirs to count" "$ana" "select unacked_urgent_total()" "1"
check "nothing unacknowledged reads as zero and null" "$medic2" "select unacked_urgent || ' ' || coalesce(oldest_unacked_urgent_at::text, 'null') from public.conversations_with_unread()" "0 null"

# Canned replies: seeded for the demo orgs that existed, dispatchers only, read-only.
check "northside dispatchers read theirs in order" "$ana" "select count(*) || ' ' || string_agg(label, ',' order by position) from public.canned_replies" \
  "8 Copy,Stand by,ETA?,PD en route,Second unit,Channel 2,ED notified,Confirm address"
check "lakeside dispatchers read theirs" "$lee" "select count(*) from public.canned_replies" "7"
check "medics read none" "$medic" "select count(*) from public.canned_replies" "0"
check "lakeside medics read none" "$lakemedic" "select count(*) from public.canned_replies" "0"
check "no writes" "$ana" "insert into public.canned_replies (org_id, label, body, position) values ('00000000-0000-0000-0000-00000000000a', 'x', 'x', 99)" \
  'ERROR:  permission denied for table canned_replies'
check_owner "acknowledgements are published to Realtime" "select count(*) from pg_publication_tables where pubname = 'supabase_realtime' and tablename = 'message_acks'" "1"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
