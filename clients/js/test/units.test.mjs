// Pieces of the player on values the book pins (docs/src/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bucket, pick, formatNumber, text, number, version, render, negotiate, chain, parseAcceptLanguage, preferredLanguages, servedLocale } from '../player.mjs';
import { sha256 } from '../sha256.mjs';
import { openBundle } from '../verify.mjs';

const hex = (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

test('sha256 of the FIPS examples', () => {
  assert.equal(hex(sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(sha256(new Uint8Array(1000).fill(97))).slice(0, 16), '41edece42d63e8d9');
});

test('bucketing matches the committed vectors of the book', () => {
  const file = fileURLToPath(new URL('../../../tests/fixtures/bucketing_vectors.json', import.meta.url));
  const { cases } = JSON.parse(readFileSync(file, 'utf8'));
  assert.ok(cases.length >= 40);
  for (const c of cases) {
    assert.equal(bucket(c.user_id, c.step, c.condition), c.bucket, JSON.stringify(c));
    const chosen = c.variants[pick(c.bucket, c.variants.map((v) => v.weight))].scene;
    assert.equal(chosen, c.scene, JSON.stringify(c));
  }
  assert.equal(bucket('user-1', 'intro', 'pass_through'), 6935);
});

test('numbers are written as the server writes them', () => {
  assert.equal(formatNumber(1994), '1994');
  assert.equal(formatNumber(62.5), '62.5');
  assert.equal(formatNumber(1e-7), '1e-7');
  assert.equal(formatNumber(0.00001), '0.00001');
  assert.equal(formatNumber(1.5e16), '1.5e+16');
  assert.equal(formatNumber(9007199254740994), '9007199254740994.0');
  assert.equal(formatNumber(-0), '0');
  assert.equal(text([' a ', 1.5, null]), 'a, 1.5, null');
  assert.equal(number(' 1994.0 '), 1994);
  assert.equal(number('0x7C6'), null);
  assert.deepEqual(version('v2.10'), ['2', '10']);
  assert.equal(render('{{nickname|ゲスト}}さん {{oops', new Map()), '{{nickname|ゲスト}}さん {{oops');
  assert.equal(render('{{nickname|ゲスト}}さん', new Map()), 'ゲストさん');
});

test('a bundle whose payload was changed does not open', async () => {
  const { subtle } = globalThis.crypto;
  const keys = await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify']);
  const pub = hex(new Uint8Array(await subtle.exportKey('raw', keys.publicKey)));
  const payload = JSON.stringify({ version: 'v1' });
  const sig = hex(new Uint8Array(await subtle.sign({ name: 'Ed25519' }, keys.privateKey, new TextEncoder().encode(payload))));
  const envelope = { payload, signature: { alg: 'Ed25519', value: sig } };
  assert.deepEqual(await openBundle(envelope, pub), { version: 'v1' });
  await assert.rejects(openBundle({ ...envelope, payload: payload.replace('v1', 'v2') }, pub));
});

test('languages are negotiated as the server does (docs/src/mobile-api.md "Languages")', () => {
  assert.deepEqual(parseAcceptLanguage('fr;q=0.5, ja-JP, en;q=0.8, de;q=0, *;q=0.1, x;q=2'), ['ja-JP', 'en', 'fr']);
  assert.deepEqual(parseAcceptLanguage('en;foo, ja;q=.5, de;q=1e-1'), ['ja', 'de']);
  assert.deepEqual(preferredLanguages([' ja-JP ', '', '*', 'en', 'x'.repeat(65)]), ['ja-JP', 'en']);
  const available = ['en', 'en-US', 'ja'];
  const n = (header) => negotiate(available, parseAcceptLanguage(header));
  assert.equal(n('en-US'), 'en-US');
  assert.equal(n('en-us'), 'en-US');
  assert.equal(n('en-GB'), 'en');
  assert.equal(n('ja-JP-x-phone'), 'ja');
  assert.equal(n('fr, en-GB;q=0.5'), 'en');
  assert.equal(n('fr'), null);
  assert.equal(negotiate(['en-US'], ['en']), null);
  assert.equal(negotiate(['ko'], ['\u212Ao']), null);
  assert.deepEqual(chain(available, 'en-US'), ['en-US', 'en']);
  assert.deepEqual(chain(available, null), []);
  const attrs = (locale) => new Map(locale === undefined ? [] : [['locale', locale]]);
  assert.equal(servedLocale(available, attrs('ja_JP'), ['en']), 'ja');
  assert.equal(servedLocale(available, attrs('fr'), ['en']), null);
  assert.equal(servedLocale(available, attrs(' '), ['en']), 'en');
  assert.equal(servedLocale([], attrs('en'), ['en']), null);
});
