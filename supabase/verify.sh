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
SQL
for migration in "$here"/migrations/*.sql; do psql_run -f "$migration"; done

psql_run <<'SQL'
insert into auth.users values ('00000000-0000-0000-0000-0000000000a1'), ('00000000-0000-0000-0000-0000000000b1'),
  ('00000000-0000-0000-0000-0000000000a2'), ('00000000-0000-0000-0000-0000000000c1');
insert into public.orgs values ('00000000-0000-0000-0000-00000000000a', 'Northside EMS'), ('00000000-0000-0000-0000-00000000000b', 'Lakeside');
insert into public.users values
  ('00000000-0000-0000-0000-0000000000a1', '00000000-0000-0000-0000-00000000000a', 'Ana', 'dispatcher'),
  ('00000000-0000-0000-0000-0000000000a2', '00000000-0000-0000-0000-00000000000a', 'Medic One', 'medic'),
  ('00000000-0000-0000-0000-0000000000c1', '00000000-0000-0000-0000-00000000000a', 'Medic Two', 'medic'),
  ('00000000-0000-0000-0000-0000000000b1', '00000000-0000-0000-0000-00000000000b', 'Lee', 'dispatcher');
insert into public.conversations (id, org_id, medic_id) values
  ('00000000-0000-0000-0000-000000000c01', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000a2'),
  ('00000000-0000-0000-0000-000000000c02', '00000000-0000-0000-0000-00000000000a', '00000000-0000-0000-0000-0000000000c1');
SQL

passed=0; failed=0
check() { # name, claims-json, sql, expected
  local got
  local out
  out="$(psql_run -c "begin; set local role authenticated; set local request.jwt.claims = '$2'; $3; commit;" 2>&1 || true)"
  got="$(printf '%s\n' "$out" | grep -m1 '^ERROR' || printf '%s\n' "$out" | tail -n 1)"
  if [ "$got" = "$4" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1: expected '$4', got '$got'"; fi
}
medic='{"sub":"00000000-0000-0000-0000-0000000000a2","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"medic"}}'
ana='{"sub":"00000000-0000-0000-0000-0000000000a1","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000a","app_role":"dispatcher"}}'
lee='{"sub":"00000000-0000-0000-0000-0000000000b1","role":"authenticated","app_metadata":{"org_id":"00000000-0000-0000-0000-00000000000b","app_role":"dispatcher"}}'
c1=00000000-0000-0000-0000-000000000c01; c2=00000000-0000-0000-0000-000000000c02

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

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
