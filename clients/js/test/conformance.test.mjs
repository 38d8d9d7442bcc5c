// The player against the engine's conformance vectors (conformance/, written
// by `cargo run --example conformance`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Player, PlayerError } from '../player.mjs';

const dir = fileURLToPath(new URL('../../../conformance/', import.meta.url));
const cases = readFileSync(`${dir}cases.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
const bundles = new Map();
const bundleOf = (name) => {
  if (!bundles.has(name)) bundles.set(name, JSON.parse(readFileSync(`${dir}bundles/${name}.json`, 'utf8')));
  return bundles.get(name);
};

/** Play one case: what the player makes of it, in the shape of `expected`. */
function play(c) {
  const bundle = { ...bundleOf(c.bundle), user_id: c.user_id, assignments: c.assignments, overrides: c.overrides };
  const player = new Player(bundle, { attributes: c.attributes, languages: c.languages, runId: c.run_id, startedAt: c.started_at });
  const start = player.state;
  const steps = c.script.map(({ answer, at }) => {
    try {
      return { state: player.answer(answer, at) };
    } catch (e) {
      if (!(e instanceof PlayerError)) throw e;
      return { error: e.details === null ? { code: e.code } : { code: e.code, details: e.details } };
    }
  });
  return { start, steps, answers: Object.fromEntries(player.answers) };
}

test('there are at least a thousand cases', () => {
  assert.ok(cases.length >= 1000, `${cases.length} cases`);
});

test('the player gives the engine\'s states for every conformance case', () => {
  let failed = 0;
  for (const c of cases) {
    try {
      assert.deepStrictEqual(play(c), c.expected);
    } catch (e) {
      if (++failed <= 3) console.error(`case ${c.id} (${c.bundle}):`, e.message.slice(0, 3000));
    }
  }
  assert.equal(failed, 0, `${failed} of ${cases.length} cases differ`);
});
