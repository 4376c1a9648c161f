// The official supabase-js client, unchanged, against the embedded switchboard-server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@supabase/supabase-js';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const serverBin = process.env.SWITCHBOARD_SERVER_BIN
  ?? path.resolve(here, '../../target/debug/switchboard-server');
const PASSWORD = 'switchboard-demo';

let server;
let dir;
let baseUrl;
let anonKey;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'switchboard-peer-'));
  server = spawn(serverBin, ['--addr', '127.0.0.1:0', '--db', path.join(dir, 'peer.db'), '--seed', 'demo'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  baseUrl = await new Promise((resolve, reject) => {
    let out = '';
    server.on('error', reject);
    server.on('exit', (code) => reject(new Error(`server exited early (${code}); built? ${serverBin}`)));
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/running at (http:\/\/[\d.:]+)/);
      if (m) resolve(m[1]);
    });
  });
  const config = await (await fetch(`${baseUrl}/config.json`)).json();
  anonKey = config.anon_key;
});

after(() => {
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client() {
  return createClient(baseUrl, anonKey, {
    auth: { persistSession: false, autoRefreshToken: false },
    realtime: { transport: WebSocket },
  });
}

async function signedIn(email) {
  const sb = client();
  const { data, error } = await sb.auth.signInWithPassword({ email, password: PASSWORD });
  assert.equal(error, null);
  return { sb, user: data.user, session: data.session };
}

function subscribed(channel) {
  return new Promise((resolve) => {
    channel.subscribe((status, err) => {
      if (status !== 'SUBSCRIBED' && status !== 'CHANNEL_ERROR' && status !== 'TIMED_OUT') return;
      resolve({ status, err });
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms); }),
  ]);
}

test('sign in, subscribe, insert, receive the row, remove the channel', async () => {
  const { sb, user, session } = await signedIn('ana@northside.test');
  assert.equal(session.token_type, 'bearer');
  const org = user.app_metadata.org_id;
  const { data: convs, error: rpcError } = await sb.rpc('conversations_with_unread');
  assert.equal(rpcError, null);
  assert.equal(convs.length, 40);

  let onInsert;
  const received = new Promise((resolve) => { onInsert = resolve; });
  const channel = sb
    .channel(`web-messages:org_${org}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `org_id=eq.${org}` }, (p) => onInsert(p));
  const { status, err } = await withTimeout(subscribed(channel), 10_000, 'SUBSCRIBED');
  assert.equal(status, 'SUBSCRIBED', String(err));

  const { data: rows, error } = await sb
    .from('messages')
    .insert({ conversation_id: convs[0].id, body: 'Copy, Mercy ED notified.' })
    .select();
  assert.equal(error, null);
  assert.equal(rows.length, 1);

  const event = await withTimeout(received, 10_000, 'the postgres_changes event');
  assert.equal(event.eventType, 'INSERT');
  assert.equal(event.schema, 'public');
  assert.equal(event.table, 'messages');
  assert.deepEqual(event.new, rows[0]);
  assert.equal(event.new.sender_id, user.id);

  assert.equal(await sb.removeChannel(channel), 'ok');
  await sb.realtime.disconnect();
});

test("a Lakeside subscription to Northside's org gets an error and no rows", async () => {
  const north = await signedIn('ana@northside.test');
  const northOrg = north.user.app_metadata.org_id;
  const lake = await signedIn('lee@lakeside.test');
  const rows = [];
  const channel = lake.sb
    .channel(`web-messages:org_${northOrg}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'messages', filter: `org_id=eq.${northOrg}` }, (p) => rows.push(p));
  const { status, err } = await withTimeout(subscribed(channel), 10_000, 'the join answer');
  assert.equal(status, 'CHANNEL_ERROR');
  assert.match(String(err?.message ?? err), /Unauthorized/);

  const { data: convs } = await north.sb.rpc('conversations_with_unread');
  const { error } = await north.sb.from('messages').insert({ conversation_id: convs[0].id, body: 'northside only' });
  assert.equal(error, null);
  // Lakeside reads over REST see nothing of Northside either.
  const { data: seen } = await lake.sb.from('messages').select('id').eq('conversation_id', convs[0].id);
  assert.deepEqual(seen, []);
  assert.deepEqual(rows, []);
  await lake.sb.removeAllChannels();
  await lake.sb.realtime.disconnect();
  await north.sb.realtime.disconnect();
});

test('an urgent message is acknowledged once over RPC, embedded as one object, and announced', async () => {
  const ana = await signedIn('ana@northside.test');
  const ben = await signedIn('ben@northside.test');
  const medic = await signedIn('medic01@northside.test');
  const org = ana.user.app_metadata.org_id;
  const { data: convs } = await medic.sb.rpc('conversations_with_unread');
  const conv = convs[0].id;

  let onAck;
  const announced = new Promise((resolve) => { onAck = resolve; });
  const channel = ana.sb
    .channel(`acks:org_${org}`)
    .on('postgres_changes', { event: 'INSERT', schema: 'public', table: 'message_acks', filter: `org_id=eq.${org}` }, (p) => onAck(p));
  const { status, err } = await withTimeout(subscribed(channel), 10_000, 'SUBSCRIBED');
  assert.equal(status, 'SUBSCRIBED', String(err));

  const { data: sent, error: sendError } = await medic.sb
    .from('messages')
    .insert({ conversation_id: conv, body: 'Patient coding, need ALS now', priority: 'urgent' })
    .select();
  assert.equal(sendError, null);
  assert.equal(sent[0].priority, 'urgent');

  const { data: row, error } = await ana.sb.rpc('acknowledge_message', { message_id: sent[0].id });
  assert.equal(error, null);
  assert.deepEqual(Object.keys(row).sort(), ['acked_at', 'message_id', 'org_id', 'user_id']);
  assert.equal(row.user_id, ana.user.id);
  const { data: again } = await ben.sb.rpc('acknowledge_message', { message_id: sent[0].id });
  assert.deepEqual(again, row);
  const { error: own } = await medic.sb.rpc('acknowledge_message', { message_id: sent[0].id });
  assert.equal(own.code, '42501');

  const event = await withTimeout(announced, 10_000, 'the acknowledgement event');
  assert.deepEqual(event.new, row);

  const { data: thread } = await medic.sb
    .from('messages')
    .select('id,priority,ack:message_acks(user_id,acked_at,user:users(display_name))')
    .eq('id', sent[0].id);
  assert.deepEqual(thread[0].ack, { user_id: row.user_id, acked_at: row.acked_at, user: { display_name: 'Ana Okafor' } });

  await ana.sb.removeAllChannels();
  await ana.sb.realtime.disconnect();
});
