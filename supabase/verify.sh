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
# UTF8 as on Supabase: the migrations spell characters as \u escapes.
as_pg "$bin/initdb -D $work/data -U postgres --auth=trust -E UTF8 --no-locale" >/dev/null
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

# Hold the line (20261130000000): the write rules of ARCHITECTURE.md, "Backend parity", with
# the inputs server/tests/parity.rs sends to the embedded server.
lakeside_org=00000000-0000-0000-0000-00000000000b
rls_messages='ERROR:  new row violates row-level security policy for table "messages"'
body_check='ERROR:  new row for relation "messages" violates check constraint "messages_body_length"'
for blank in "E'\\u200B'" "E'\\u2800'" "E'\\u200C\\u200D\\u2060\\uFEFF'" "E'\\u200E\\u200F'" "E'\\u3164'" "E'\\n'" "E' \\t'" "''"; do
  check "blank body $blank is refused" "$medic" "insert into public.messages (conversation_id, body) values ('$c1', $blank) returning id" "$body_check"
done
for visible in "E'\\u200Bx'" "'5 mg'" "E'\\U0001F691'"; do
  check "visible body $visible is stored" "$medic" "insert into public.messages (conversation_id, body) values ('$c1', $visible) returning body = $visible" "t"
done
# PostgREST turns the JSON body into a row; U+0000 cannot become text (22P05, 400).
nul='ERROR:  unsupported Unicode escape sequence'
check "NUL alone in a body" "$medic" "insert into public.messages (conversation_id, body) select x.c, x.b from json_to_record('{\"c\":\"$c1\",\"b\":\"\\u0000\"}') as x (c uuid, b text) returning id" "$nul"
check "NUL inside a body" "$medic" "insert into public.messages (conversation_id, body) select x.c, x.b from json_to_record('{\"c\":\"$c1\",\"b\":\"5 mg\\u0000 (not 50)\"}') as x (c uuid, b text) returning id" "$nul"
check "NUL in a read marker" "$medic" "update public.read_state set last_read_at = x.t from json_to_record('{\"t\":\"2026-01-01T00:00:00Z\\u0000\"}') as x (t timestamptz)" "$nul"
check "NUL in an RPC argument" "$medic" "select public.mark_conversation_read(x.c) from json_to_record('{\"c\":\"$c1\\u0000\"}') as x (c uuid)" "$nul"
# A filter value from the URL reaches Postgres as a text parameter, whose encoding check
# refuses a NUL byte before any cast (22021, 400): convert_from runs that check on the byte,
# which psql cannot send as a parameter.
nul_param='ERROR:  invalid byte sequence for encoding "UTF8": 0x00'
check "NUL in a text filter value" "$medic" "select count(*) from public.messages where body = convert_from('\\x00'::bytea, 'UTF8')" "$nul_param"
check "NUL in a uuid filter value" "$medic" "select count(*) from public.messages where id = convert_from('\\x00'::bytea, 'UTF8')::uuid" "$nul_param"

# The preview: flattened, cut at 139 characters and an ellipsis, never inside a cluster.
x138="repeat('x', 138)"
check "preview drops a ZWJ family cut in half" "$ana" "select public.message_preview($x138 || E'\\U0001F468\\u200D\\U0001F469\\u200D\\U0001F467\\u200D\\U0001F466 arrived') = $x138 || '…'" "t"
check "preview drops a flag cut in half" "$ana" "select public.message_preview($x138 || E'\\U0001F1EB\\U0001F1F7 unit') = $x138 || '…'" "t"
check "preview drops a letter cut from its accent" "$ana" "select public.message_preview($x138 || E'e\\u0301tat stable') = $x138 || '…'" "t"
check "preview keeps a whole cluster" "$ana" "select public.message_preview(repeat('x', 130) || E'\\U0001F468\\u200D\\U0001F469 yyyyyyyy') = repeat('x', 130) || E'\\U0001F468\\u200D\\U0001F469 yyyyy…'" "t"
check "preview flattens White_Space" "$ana" "select public.message_preview(E'  a\\n\\u00A0 b\\u3000') = 'a b'" "t"
check "140 characters fit as they are" "$ana" "select public.message_preview(repeat('y', 140)) = repeat('y', 140)" "t"
check "a message leaves that preview" "$medic" "insert into public.messages (conversation_id, body) values ('$c1', $x138 || E'\\U0001F468\\u200D\\U0001F469\\u200D\\U0001F467\\u200D\\U0001F466 arrived'); select last_message_preview = $x138 || '…' from public.conversations where id = '$c1'" "t"

# Server-owned columns: a value the server would not set is refused (42501, 403), not
# overwritten; the server's own value or null is accepted.
check "forged org_id is refused" "$medic" "insert into public.messages (conversation_id, body, org_id) values ('$c1', 'forged', '$lakeside_org') returning id" "$rls_messages"
check "forged sender_id is refused" "$medic" "insert into public.messages (conversation_id, body, sender_id) values ('$c1', 'forged', '$ana_id') returning id" "$rls_messages"
check "created_at is refused" "$medic" "insert into public.messages (conversation_id, body, created_at) values ('$c1', 'forged', '2001-01-01T00:00:00Z') returning id" "$rls_messages"
check "a missing conversation is refused as unseen" "$medic" "insert into public.messages (conversation_id, body) values ('00000000-0000-0000-0000-00000000dead', 'x') returning id" "$rls_messages"
check "the server's own values are accepted" "$medic" "insert into public.messages (conversation_id, body, org_id, sender_id, created_at) values ('$c1', 'mine', '00000000-0000-0000-0000-00000000000a', '$medic_id', null) returning sender_id = '$medic_id' and created_at > now() - interval '1 minute'" "t"
check "conversations are read-only" "$ana" "update public.conversations set last_message_preview = 'edited'" 'ERROR:  permission denied for table conversations'
check "orgs are read-only" "$ana" "insert into public.orgs (name) values ('x')" 'ERROR:  permission denied for table orgs'
check "users are read-only" "$ana" "delete from public.users" 'ERROR:  permission denied for table users'

# Read markers: never ahead of the newest message, never backwards, PATCH of last_read_at only.
newest_c1="(select max(created_at) from public.messages where conversation_id = '$c1')"
check "mark read before the clamp checks" "$ana" "select public.mark_conversation_read('$c1'); select unread_count from public.conversations_with_unread() where id = '$c1'" "0"
check "a marker five minutes ahead is clamped" "$ana" "update public.read_state set last_read_at = now() + interval '5 minutes' where conversation_id = '$c1' returning last_read_at = $newest_c1" "t"
check "so the medic's next message is unread" "$medic" "insert into public.messages (conversation_id, body) values ('$c1', 'pt conscious, BP 90/60') returning priority" "routine"
check "unread count 1" "$ana" "select unread_count from public.conversations_with_unread() where id = '$c1'" "1"
check "a marker moved back keeps its value" "$ana" "update public.read_state set last_read_at = '2000-01-01T00:00:00Z' where conversation_id = '$c1' returning last_read_at > '2001-01-01'" "t"
check "still unread" "$ana" "select unread_total()" "1"
check "a null marker is refused" "$ana" "update public.read_state set last_read_at = null where conversation_id = '$c1'" \
  'ERROR:  null value in column "last_read_at" of relation "read_state" violates not-null constraint'
check "markers are not inserted over the API" "$ana" "insert into public.read_state (user_id, conversation_id, last_read_at) values ('$ana_id', '$c2', now())" \
  'ERROR:  permission denied for table read_state'
check "nor deleted" "$ana" "delete from public.read_state" 'ERROR:  permission denied for table read_state'
check "nor moved to another user" "$ana" "update public.read_state set user_id = '$medic_id'" 'ERROR:  permission denied for table read_state'
check "others' markers are not seen" "$ben" "select count(*) from public.read_state where user_id = '$ana_id'" "0"
check "mark read reaches the new message, no further" "$ana" "select public.mark_conversation_read('$c1'); select (select last_read_at from public.read_state where user_id = '$ana_id' and conversation_id = '$c1') = $newest_c1" "t"

# Start conversations, subjects, mark as unread (20261201000000), with the inputs
# server/tests/conversations.rs sends to the embedded server.
rls_conversations='ERROR:  new row violates row-level security policy for table "conversations"'
subject_check='ERROR:  new row for relation "conversations" violates check constraint "conversations_subject_length"'
no_grant='ERROR:  permission denied for table conversations'
northside_org=00000000-0000-0000-0000-00000000000a
medic2_id=00000000-0000-0000-0000-0000000000c1; lakemedic_id=00000000-0000-0000-0000-0000000000b2; ben_id=00000000-0000-0000-0000-0000000000a3
n1=00000000-0000-0000-0000-000000000d01; n2=00000000-0000-0000-0000-000000000d02; n3=00000000-0000-0000-0000-000000000d03
start() { echo "insert into public.conversations (medic_id, subject) values ('$1', $2) returning id"; }
check_owner "conversations from before keep an empty subject" "select count(*) from public.conversations where subject = ''" "3"
check "and still take messages" "$medic2" "insert into public.messages (conversation_id, body) values ('$c2', 'en route') returning body" "en route"
check_owner "the fixtures get subjects" "update public.conversations set subject = case id when '$c1' then 'Medic 6 · Inc 26-0412' when '$c2' then 'Medic 3 · Inc 26-0409' else 'Ambulance 41 · Inc 26-0091' end; select count(*) from public.conversations where subject = ''" "0"
check "a dispatcher starts one with a medic of the org; org and time are the server's" "$ana" \
  "insert into public.conversations (id, medic_id, subject) values ('$n1', '$medic2_id', 'Medic 3 · Inc 26-0415') returning org_id || ' ' || medic_id || ' ' || subject || ' ' || (created_at = now()) || ' ' || coalesce(last_message_at::text, 'null')" \
  "$northside_org $medic2_id Medic 3 · Inc 26-0415 true null"
check "a medic starts one with themself" "$medic" "insert into public.conversations (id, medic_id, subject) values ('$n2', '$medic_id', 'Medic 6 · Inc 26-0416') returning medic_id || ' ' || org_id" "$medic_id $northside_org"
check "a medic cannot name another medic" "$medic" "$(start "$medic2_id" "'Medic 3 · Inc 26-0417'")" "$rls_conversations"
check "another org's medic is refused" "$ana" "$(start "$lakemedic_id" "'Ambulance 41 · Inc 26-0417'")" "$rls_conversations"
check "a dispatcher is no medic to start one with" "$ana" "$(start "$ben_id" "'Dispatch · Inc 26-0417'")" "$rls_conversations"
check "a missing user is refused as unseen" "$ana" "$(start 00000000-0000-0000-0000-00000000dead "'Medic 1 · Inc 26-0417'")" "$rls_conversations"
check "a refused caller hears of the policy before the subject" "$medic" "$(start "$medic2_id" "''")" "$rls_conversations"
for owned in "org_id:'$northside_org'" "org_id:'$lakeside_org'" "org_id:null" "created_at:now()" "last_message_at:now()" "last_message_preview:'x'"; do
  check "${owned%%:*} is the server's (${owned#*:})" "$ana" \
    "insert into public.conversations (medic_id, subject, ${owned%%:*}) values ('$medic2_id', 'Medic 3 · Inc 26-0417', ${owned#*:}) returning id" "$no_grant"
done
for blank in "''" "'   '" "E'\\u200B'" "E' \\u2800 \\u3164 '" "repeat('x', 121)"; do
  check "subject $blank is refused" "$ana" "$(start "$medic2_id" "$blank")" "$subject_check"
done
check "a missing subject is blank" "$ana" "insert into public.conversations (medic_id) values ('$medic2_id') returning id" "$subject_check"
check "a null subject is refused" "$ana" "$(start "$medic2_id" null)" \
  'ERROR:  null value in column "subject" of relation "conversations" violates not-null constraint'
check "120 characters after trimming fit, stored trimmed" "$ana" \
  "insert into public.conversations (id, medic_id, subject) values ('$n3', '$medic2_id', E' \\u00A0' || repeat('x', 120) || E'\\n') returning char_length(subject)" "120"
check "a taken id is a conflict" "$ana" "insert into public.conversations (id, medic_id, subject) values ('$n1', '$medic2_id', 'Medic 3 · Inc 26-0415') returning id" \
  'ERROR:  duplicate key value violates unique constraint "conversations_pkey"'
check "a medic has several conversations" "$ana" "select count(*) from public.conversations where medic_id = '$medic2_id'" "3"
check "another dispatcher sees the new one" "$ben" "select subject from public.conversations where id = '$n1'" "Medic 3 · Inc 26-0415"
check "its medic sees it" "$medic2" "select count(*) from public.conversations where id = '$n1'" "1"
check "another medic does not" "$medic" "select count(*) from public.conversations where id = '$n1'" "0"
check "nor another org" "$lee" "select count(*) from public.conversations where id = '$n1'" "0"
check_owner "new conversations go out over Realtime" "select count(*) from pg_publication_tables where pubname = 'supabase_realtime' and tablename in ('conversations', 'read_state')" "2"

# The list: the subject, and when the medic last sent something.
list_of() { echo "select subject || ' ' || coalesce(medic_last_message_at::text, 'null') from public.conversations_with_unread() where id = '$1'"; }
check "the list has the subject, no medic message yet" "$ana" "$(list_of "$n1")" "Medic 3 · Inc 26-0415 null"
check "a dispatcher's message is not the medic's" "$ana" "insert into public.messages (conversation_id, body) values ('$n1', 'Confirm your unit') returning body" "Confirm your unit"
check "still null" "$ben" "$(list_of "$n1")" "Medic 3 · Inc 26-0415 null"
k1=00000000-0000-0000-0000-00000000f001; k2=00000000-0000-0000-0000-00000000f002; k3=00000000-0000-0000-0000-00000000f003
check "the medic sends three" "$medic2" "insert into public.messages (id, conversation_id, body) values ('$k1', '$n1', 'On scene'), ('$k2', '$n1', 'Pt stable'), ('$k3', '$n1', 'Transporting') returning body" "Transporting"
check "medic_last_message_at is the medic's newest" "$ana" \
  "select medic_last_message_at = (select created_at from public.messages where id = '$k3') from public.conversations_with_unread() where id = '$n1'" "t"

# Mark as unread: back to just before the message, never forward, the caller's own marker.
unread_n1="select unread_count from public.conversations_with_unread() where id = '$n1'"
marker_n1="(select last_read_at from public.read_state where user_id = '$ana_id' and conversation_id = '$n1')"
check "marked read" "$ana" "select public.mark_conversation_read('$n1'); $unread_n1" "0"
check "mark unread at the second: it and the third count" "$ana" \
  "create temp table before as select unread_total() as n; select public.mark_conversation_unread('$n1', '$k2'); select ($unread_n1) || ' ' || (unread_total() - (select n from before))" "2 2"
check "the marker is one microsecond before it" "$ana" "select $marker_n1 = (select created_at from public.messages where id = '$k2') - interval '1 microsecond'" "t"
check "marking a later message unread moves nothing forward" "$ana" "select public.mark_conversation_unread('$n1', '$k3'); $unread_n1" "2"
check "the first: all three" "$ana" "select public.mark_conversation_unread('$n1', '$k1'); $unread_n1" "3"
check "PATCH still never moves back, even after marking unread" "$ana" \
  "select public.mark_conversation_unread('$n1', '$k2'); update public.read_state set last_read_at = '2000-01-01T00:00:00Z' where conversation_id = '$n1' returning last_read_at = (select created_at from public.messages where id = '$k1') - interval '1 microsecond'" "t"
check "another dispatcher's marker is untouched" "$ben" "select public.mark_conversation_read('$n1'); select public.mark_conversation_unread('$n1', '$k3'); select count(*) from public.read_state where conversation_id = '$n1' and last_read_at = (select created_at from public.messages where id = '$k3') - interval '1 microsecond'" "1"
check "and ana's stays where it was" "$ana" "$unread_n1" "3"
check "without a marker none is made" "$medic2" "select public.mark_conversation_unread('$n1', '$k2'); select count(*) from public.read_state where conversation_id = '$n1'" "0"
check "mark read after: all read" "$ana" "select public.mark_conversation_read('$n1'); $unread_n1" "0"
check "a message of another conversation is refused" "$ana" "select public.mark_conversation_unread('$n1', '$u1')" 'ERROR:  message is not in this conversation'
check "an unseen message is not found" "$medic" "select public.mark_conversation_unread('$n2', '$k1')" "$not_found"
check "a missing message is not found" "$ana" "select public.mark_conversation_unread('$n1', '00000000-0000-0000-0000-00000000dead')" "$not_found"
check "an unseen conversation is not found" "$lee" "select public.mark_conversation_unread('$n1', '$k1')" \
  'ERROR:  {"code":"P0002","message":"conversation not found","details":null,"hint":null}'
check_owner "anon cannot mark unread" "begin; set local role anon; select public.mark_conversation_unread('$n1', '$k1'); commit;" \
  'ERROR:  permission denied for function mark_conversation_unread'

# Message search (20261201100000): the cases of server/tests/search_cases.json, which
# server/tests/parity.rs holds the embedded server to. The messages go in as their senders, in
# order; each search runs as its user; rows are compared by id, snippet, conversation, sender,
# names, subject, body and priority, errors by SQLSTATE.
search_users="{\"ana\": $ana, \"medic\": $medic, \"medic2\": $medic2, \"lee\": $lee, \"lakemedic\": $lakemedic}"
search_convs="{\"c1\": \"$c1\", \"c2\": \"$c2\", \"c3\": \"$c3\"}"
search_out="$(psql_run -v cases="$(cat "$here/../server/tests/search_cases.json")" -v users="$search_users" -v convs="$search_convs" 2>&1 <<'SQL' || true
create temp table search_fixture as
  select :'cases'::jsonb as cases, :'users'::jsonb as users, :'convs'::jsonb as convs;
-- Runs one case as the current user; 'ok' or what differs.
create function pg_temp.search_case(c jsonb, messages jsonb, users jsonb, convs jsonb) returns text
  language plpgsql as $$
declare
  answer jsonb;
  bad text;
begin
  begin
    select coalesce(jsonb_agg(jsonb_build_object('key', m ->> 'key', 'snippet', r.snippet) order by r.ordinality), '[]'),
           string_agg(m ->> 'key', ', ') filter (where not (
             r.conversation_id::text = convs ->> (m ->> 'conversation')
             and r.sender_id::text = users -> (m ->> 'sender') ->> 'sub'
             and r.body = m ->> 'body' and r.priority = m ->> 'priority'
             and r.sender_name = (select u.display_name from public.users u where u.id = r.sender_id)
             and r.medic_name = (select u.display_name from public.users u join public.conversations v
                                   on v.medic_id = u.id where v.id = r.conversation_id)
             and r.subject = (select v.subject from public.conversations v where v.id = r.conversation_id))
             is not false)
      into answer, bad
      from public.search_messages(c ->> 'query', (c ->> 'max')::integer) with ordinality as r
      left join jsonb_array_elements(messages) as m on (m ->> 'id')::uuid = r.id;
    answer := jsonb_build_object('hits', answer);
  exception when others then
    answer := jsonb_build_object('error', sqlstate);
  end;
  if bad is not null then
    return format('FAIL search "%s": rows %s differ from their messages', c ->> 'name', bad);
  elsif answer = c - 'name' - 'as' - 'query' - 'max' then
    return 'ok';
  end if;
  return format('FAIL search "%s": got %s', c ->> 'name', answer);
end $$;
select format('set role authenticated; set request.jwt.claims to %L; '
              'insert into public.messages (id, conversation_id, body, priority) values (%L, %L, %L, %L); reset role',
              f.users -> (m ->> 'sender'), m ->> 'id', f.convs ->> (m ->> 'conversation'), m ->> 'body', m ->> 'priority')
  from search_fixture f, jsonb_array_elements(f.cases -> 'messages') with ordinality as t (m, n)
 order by n
\gexec
select format('set role authenticated; set request.jwt.claims to %L; select pg_temp.search_case(%L, %L, %L, %L); reset role',
              f.users -> (c ->> 'as'), c, f.cases -> 'messages', f.users, f.convs)
  from search_fixture f, jsonb_array_elements(f.cases -> 'searches') with ordinality as t (c, n)
 order by n
\gexec
SQL
)"
search_ok="$(printf '%s\n' "$search_out" | grep -c '^ok$' || true)"
search_cases="$(grep -c '"query"' "$here/../server/tests/search_cases.json")"
if [ "$search_ok" = "$search_cases" ]; then passed=$((passed + search_ok)); else
  failed=$((failed + search_cases - search_ok)); printf '%s\n' "$search_out" | grep -v '^ok$' | sed 's/^/FAIL search: /'; fi
# The search reaches messages through the GIN index: auto_explain logs the plan of the
# function's own query. On tables this small the planner would rather read the few
# conversations and their messages, so every other way to messages is switched off: what is
# checked is that the query can use the index (its expression matches, no RLS barrier).
search_plan="$(psql_run 2>&1 <<SQL || true
load 'auto_explain';
set auto_explain.log_min_duration = 0;
set auto_explain.log_nested_statements = on;
set client_min_messages = log;
set enable_seqscan = off;
set enable_nestloop = off;
set enable_indexscan = off;
set enable_indexonlyscan = off;
set role authenticated;
set request.jwt.claims to '$ana';
select count(*) from public.search_messages('kestrel', 20);
SQL
)"
# Here-strings, not pipes: under pipefail a `grep -q` that stops reading early fails printf.
if grep -q 'Bitmap Index Scan on messages_search' <<<"$search_plan"; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL search_messages does not use messages_search:"; printf '%s\n' "$search_plan" | tail -40; fi
check "search is not for anon" "$ana" "set local role anon; select count(*) from public.search_messages('kestrel')" \
  'ERROR:  permission denied for function search_messages'
check "max defaults to 20 and the rules hold outside the cases" "$medic" "select count(*) from public.search_messages('kestrel')" "4"

# Issue 17 (20261201300000): the list by page and by row, as server/tests/scale.rs holds the
# embedded server to it, and the plans that bound each read by what is on screen.
e1=00000000-0000-0000-0000-000000000e01; e2=00000000-0000-0000-0000-000000000e02
check "two conversations without messages" "$ana" \
  "insert into public.conversations (id, medic_id, subject) values ('$e1', '$medic2_id', 'Empty 1'), ('$e2', '$medic2_id', 'Empty 2') returning subject" "Empty 2"
check "an old conversation marked unread" "$ana" \
  "select public.mark_conversation_read('$c2'); select public.mark_conversation_read('$n1'); select public.mark_conversation_unread('$n1', '$k1'); select unread_count from public.conversations_with_unread() where id = '$n1'" "3"
pages_out="$(psql_run 2>&1 <<SQL || true
-- 'ok' when the first page of page_size is the full list's first page_size rows plus every
-- later one with unread or unacknowledged urgent messages, and paging on by the cursor of
-- the page_size-th row (then of each page's last) gives the full list exactly once, in order.
create function pg_temp.pages(size integer) returns text
  language plpgsql as \$\$
declare
  full_list jsonb; first jsonb; expected jsonb; seen jsonb; page jsonb; last jsonb;
begin
  select coalesce(jsonb_agg(to_jsonb(r) - 'ordinality' order by r.ordinality), '[]') into full_list
    from public.conversations_with_unread() with ordinality r;
  select coalesce(jsonb_agg(to_jsonb(r) - 'ordinality' order by r.ordinality), '[]') into first
    from public.conversations_with_unread(page_size => size) with ordinality r;
  select coalesce(jsonb_agg(e order by i), '[]') into expected
    from jsonb_array_elements(full_list) with ordinality t (e, i)
   where i <= size or (e ->> 'unread_count')::int > 0 or (e ->> 'unacked_urgent')::int > 0;
  if first is distinct from expected then
    return format('first page of %s: %s', size, first);
  end if;
  select coalesce(jsonb_agg(e order by i), '[]') into seen
    from jsonb_array_elements(first) with ordinality t (e, i) where i <= size;
  loop
    exit when jsonb_array_length(seen) = 0 or jsonb_array_length(seen) % size <> 0;
    last := seen -> -1;
    select coalesce(jsonb_agg(to_jsonb(r) - 'ordinality' order by r.ordinality), '[]') into page
      from public.conversations_with_unread(page_size => size,
             before => jsonb_build_object('last_message_at', last -> 'last_message_at',
                                          'created_at', last -> 'created_at', 'id', last -> 'id')) with ordinality r;
    exit when jsonb_array_length(page) = 0;
    seen := seen || page;
  end loop;
  if seen = full_list then
    return 'ok';
  end if;
  return format('pages of %s: %s', size, seen);
end \$\$;
-- 'ok' when every row asked for by id is the full list's row.
create function pg_temp.rows() returns text
  language plpgsql as \$\$
declare
  bad text;
begin
  select string_agg(l.id::text, ', ') into bad
    from public.conversations_with_unread() l
   where (select to_jsonb(o) from public.conversations_with_unread(conversation_id => l.id) o) is distinct from to_jsonb(l);
  return coalesce('rows differ: ' || bad, 'ok');
end \$\$;
set role authenticated;
set request.jwt.claims to '$ana';
select pg_temp.pages(1); select pg_temp.pages(2); select pg_temp.pages(3); select pg_temp.pages(50); select pg_temp.rows();
set request.jwt.claims to '$medic2';
select pg_temp.pages(1); select pg_temp.pages(2); select pg_temp.rows();
SQL
)"
pages_ok="$(printf '%s\n' "$pages_out" | grep -c '^ok$' || true)"
if [ "$pages_ok" = 8 ]; then passed=$((passed + 8)); else
  failed=$((failed + 8 - pages_ok)); printf '%s\n' "$pages_out" | grep -v '^ok$' | sed 's/^/FAIL pages: /'; fi
check "the null group pages too" "$ana" \
  "select string_agg(id::text, ',') from public.conversations_with_unread(page_size => 5, before => (select jsonb_build_object('last_message_at', null, 'created_at', created_at, 'id', id) from public.conversations where id = '$e1'))" "$e2,$n3,$n2"
check "a conversation the caller cannot see has no row" "$medic" "select count(*) from public.conversations_with_unread(conversation_id => '$c2')" "0"
check "nor another org's" "$lee" "select count(*) from public.conversations_with_unread(conversation_id => '$c1')" "0"
check "page_size 0 is refused" "$ana" "select count(*) from public.conversations_with_unread(page_size => 0)" \
  'ERROR:  page_size must be between 1 and 1000'
check "page_size 1001 is refused" "$ana" "select count(*) from public.conversations_with_unread(page_size => 1001)" \
  'ERROR:  page_size must be between 1 and 1000'
check "before needs page_size" "$ana" "select count(*) from public.conversations_with_unread(before => '{\"last_message_at\": null, \"created_at\": \"2026-01-01T00:00:00Z\", \"id\": \"$c1\"}')" \
  'ERROR:  before needs page_size'
check "one row takes no page" "$ana" "select count(*) from public.conversations_with_unread(page_size => 5, conversation_id => '$c1')" \
  'ERROR:  conversation_id asks for one row: no page_size or before'
check "a cursor names all three keys" "$ana" "select count(*) from public.conversations_with_unread(page_size => 5, before => '{\"created_at\": \"2026-01-01T00:00:00Z\", \"id\": \"$c1\"}')" \
  'ERROR:  before must be {"last_message_at", "created_at", "id"} of the last row'
check "the list without arguments is still the whole list" "$ana" "select count(*) = (select count(*) from public.conversations) from public.conversations_with_unread()" "t"
# Plans, with every way that is not an index (or needs a sort) switched off: what is checked
# is that an index can serve the query as written, whatever the tiny fixture makes cheapest.
thread_plan="$(psql_run 2>&1 <<SQL || true
set enable_seqscan = off;
set enable_bitmapscan = off;
set enable_sort = off;
set enable_incremental_sort = off;
set role authenticated;
set request.jwt.claims to '$ana';
explain (costs off) select id from public.messages
 where conversation_id = '$c1' and created_at <= now()
   and (created_at < now() or (created_at = now() and id < '$u1'))
 order by created_at desc, id desc limit 50;
SQL
)"
if grep -Eq 'Index (Only )?Scan Backward using messages_conversation_history on messages' <<<"$thread_plan" \
   && ! grep -q 'Sort' <<<"$thread_plan"; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL thread history is not an index scan in order:"; printf '%s\n' "$thread_plan"; fi
plans="$(psql_run 2>&1 <<SQL || true
load 'auto_explain';
set auto_explain.log_min_duration = 0;
set auto_explain.log_nested_statements = on;
set client_min_messages = log;
set enable_seqscan = off;
set enable_bitmapscan = off;
set role authenticated;
set request.jwt.claims to '$ana';
select unread_total();
select count(*) from public.conversations_with_unread(page_size => 2);
SQL
)"
unread_range="$(grep -c "Index Cond: ((conversation_id = c.id) AND (created_at > rs.last_read_at))" <<<"$plans" || true)"
if [ "$unread_range" -ge 2 ]; then passed=$((passed + 1)); else
  failed=$((failed + 1)); echo "FAIL unread counting is not a range from the marker ($unread_range):"; printf '%s\n' "$plans" | grep -B2 -A2 'last_read_at' | head -40; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
