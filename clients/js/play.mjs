#!/usr/bin/env node
// Play a signed bundle from the command line: reads
// {"envelope", "public_key", "attributes", "answers": {scene_key: answer},
//  "languages", "started_at", "sync_id"} on stdin, writes {"states", "sync"} on stdout.
// Scenes without a scripted answer get the first choice, the lower bound or
// "ゆき". Used by the server's end-to-end test and the book (docs/src/offline.md "App-side flow").
import { openBundle } from './verify.mjs';
import { Player } from './player.mjs';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'));
const bundle = await openBundle(input.envelope, input.public_key);

const fallback = ({ input: i }) => {
  if (i.kind === 'choice') return i.choices[0].key;
  if (i.kind === 'multi_choice') return [i.choices[0].key];
  if (i.kind === 'text') return 'ゆき';
  if (i.kind === 'number' || i.kind === 'date') return i.min;
  return null;
};
let clock = Date.parse(input.started_at ?? new Date().toISOString());
const player = new Player(bundle, { attributes: input.attributes ?? {}, languages: input.languages, startedAt: new Date(clock), runId: 'offline' });
const states = [player.state];
while (player.state.status === 'in_progress' && states.length < 100) {
  const scene = player.state.scene;
  const answer = Object.hasOwn(input.answers ?? {}, scene.key) ? input.answers[scene.key] : fallback(scene);
  clock += 7000;
  states.push(player.answer(answer, new Date(clock)));
}
process.stdout.write(JSON.stringify({ states, sync: player.syncRequest(input.sync_id ?? 'offline-1') }));
