// The reference offline player of sceneflow: given a bundle (GET
// /v1/onboarding/bundle), the user's attributes and answers, it produces the
// states the server would, byte for byte. The server's book (docs/src/offline.md)
// is the specification; conformance/ holds the cases this file
// must pass (`node --test clients/js`). Plain ES2020, no dependencies.

import { sha256 } from './sha256.mjs';

// ---------------------------------------------------------------- values
// Attribute values are normalised once, like the server's (docs/src/workbook.md, "How
// attribute values are compared").

// Unicode White_Space, which the server trims (JavaScript's trim() differs:
// it trims U+FEFF and keeps U+0085).
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const EDGES = new RegExp(`^[${SPACE}]+|[${SPACE}]+$`, 'g');
/** @param {string} s */
export const trim = (s) => s.replace(EDGES, '');

const KEY = /^[a-z0-9_]{1,64}$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Booleans become "true"/"false", strings are trimmed, lists item by item. */
export function normalise(value) {
  if (typeof value === 'string') return trim(value);
  if (typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map(normalise);
  return value;
}

/**
 * A number as the server writes it: whole numbers up to 2^53 as integers,
 * others in shortest round-trip digits, in exponent form outside 1e-5..1e16.
 * @param {number} n
 */
export function formatNumber(n) {
  if (Number.isInteger(n) && Math.abs(n) <= 2 ** 53) return String(n === 0 ? 0 : n);
  const [mantissa, exp] = Math.abs(n).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const e = Number(exp);
  let body;
  if (e >= -5 && e <= 15) {
    if (digits.length - 1 <= e) body = `${digits}${'0'.repeat(e + 1 - digits.length)}.0`;
    else if (e >= 0) body = `${digits.slice(0, e + 1)}.${digits.slice(e + 1)}`;
    else body = `0.${'0'.repeat(-e - 1)}${digits}`;
  } else {
    const lead = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    body = `${lead}e${e < 0 ? '-' : '+'}${Math.abs(e)}`;
  }
  return (n < 0 ? '-' : '') + body;
}

function jsonText(value) {
  if (typeof value === 'number') return formatNumber(value);
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${jsonText(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The text form of a value; null when missing, null, an object or blank. */
export function text(value) {
  const v = normalise(value);
  let t;
  if (typeof v === 'string') t = v;
  else if (typeof v === 'number') t = formatNumber(v);
  else if (Array.isArray(v)) t = v.map((i) => (typeof i === 'string' ? i : jsonText(i))).join(', ');
  else return null;
  return t === '' ? null : t;
}

/** A value read as a number: JSON numbers and decimal strings. */
export function number(value) {
  let n = null;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && DECIMAL.test(trim(value))) n = Number(trim(value));
  return n !== null && Number.isFinite(n) ? n : null;
}

const U64_MAX = '18446744073709551615';

/** A dotted version (`2`, `2.1`, `v2.1.0`) as its parts, or null. */
export function version(raw) {
  const t = trim(raw);
  const parts = (t[0] === 'v' || t[0] === 'V' ? t.slice(1) : t).split('.').map(trim);
  const out = [];
  for (const p of parts) {
    if (!/^\+?\d+$/.test(p)) return null;
    const digits = p.replace(/^\+?0*/, '') || '0';
    if (digits.length > 20 || (digits.length === 20 && digits > U64_MAX)) return null;
    out.push(digits);
  }
  return out;
}

/** Part by part, missing parts as zero. */
export function compareVersions(a, b) {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '0';
    const y = b[i] ?? '0';
    if (x.length !== y.length) return x.length < y.length ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

// ------------------------------------------------------------ conditions
// The expression language of `bundle.conditions[name].expr` (docs/src/offline.md,
// "Conditions as data").

/**
 * @param {object} expr
 * @param {Map<string, unknown>} attrs
 * @param {string} today YYYY-MM-DD (UTC)
 * @returns {boolean}
 */
export function evaluate(expr, attrs, today) {
  const attr = (name) => text(attrs.get(name));
  switch (expr.op) {
    case 'always': return true;
    case 'eq': return attr(expr.attribute) === expr.value;
    case 'in': return expr.values.includes(attr(expr.attribute));
    case 'present': return attr(expr.attribute) !== null;
    case 'range': {
      const n = number(attrs.get(expr.attribute));
      return n !== null && (expr.min === null || n >= expr.min) && (expr.max === null || n < expr.max);
    }
    case 'age': {
      const year = number(attrs.get('birth_year'));
      if (year === null || !Number.isInteger(year) || Math.abs(year) >= 1e6) return false;
      const age = Number(today.slice(0, 4)) - year;
      return (expr.min === null || age >= expr.min) && (expr.max === null || age <= expr.max);
    }
    case 'version_at_least': {
      const t = attr(expr.attribute);
      const have = t === null ? null : version(t);
      const want = version(expr.version);
      return have !== null && want !== null && compareVersions(have, want) >= 0;
    }
    case 'not': return !evaluate(expr.of, attrs, today);
    case 'all': return expr.of.every((e) => evaluate(e, attrs, today));
    case 'any': return expr.of.some((e) => evaluate(e, attrs, today));
    default: return false; // an operator this player does not know never matches
  }
}

// ------------------------------------------------------------- templates

/** `{{name}}` and `{{name|fallback}}`; a malformed template is shown as written. */
export function render(template, attrs) {
  let out = '';
  let rest = template;
  for (let open = rest.indexOf('{{'); open >= 0; open = rest.indexOf('{{')) {
    const after = rest.slice(open + 2);
    const close = after.indexOf('}}');
    if (close < 0) return template;
    const inner = after.slice(0, close);
    const bar = inner.indexOf('|');
    const name = trim(bar < 0 ? inner : inner.slice(0, bar));
    if (!KEY.test(name)) return template;
    const value = text(attrs.get(name));
    out += rest.slice(0, open) + (value ?? (bar < 0 ? '' : inner.slice(bar + 1)));
    rest = after.slice(close + 2);
  }
  return out + rest;
}

// ------------------------------------------------------------- languages
// docs/src/mobile-api.md "Languages" and docs/src/offline.md "Languages
// offline": the language served is
// negotiated from the attribute `locale`, else the app's preferred
// languages; each text falls back along the chain en-US → en → default.

const asciiLower = (s) => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
/** Tags compare ASCII-case-insensitively (not toLowerCase: 'K' (U+212A) is no 'k'). */
const sameTag = (a, b) => asciiLower(a) === asciiLower(b);
const utf8Length = (s) => new TextEncoder().encode(s).length;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
/** A range worth looking up: not blank, not `*`, at most 64 UTF-8 bytes. */
const usable = (r) => r !== '' && r !== '*' && utf8Length(r) <= 64;

/**
 * The ranges of an `Accept-Language` value, best first: by q-value (stable
 * for equal q), `q=0` and `*` dropped, and an entry with a malformed
 * parameter dropped whole. Only the first 32 entries are read.
 * @param {string} header
 * @returns {string[]}
 */
export function parseAcceptLanguage(header) {
  const ranked = [];
  for (const item of header.split(',').slice(0, 32)) {
    const [rawRange, ...params] = item.split(';');
    const range = trim(rawRange);
    let q = 1000;
    let ok = true;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0) { ok = false; break; }
      if (sameTag(trim(param.slice(0, eq)), 'q')) {
        const v = trim(param.slice(eq + 1));
        const n = DECIMAL.test(v) ? Number(v) : NaN;
        if (!(n >= 0 && n <= 1)) { ok = false; break; }
        q = Math.round(n * 1000);
      }
    }
    if (ok && q > 0 && usable(range)) ranked.push({ q, range });
  }
  return ranked.sort((a, b) => b.q - a.q).map((r) => r.range);
}

/**
 * The app's preferred languages as the player reads them: a list (best
 * first; entries trimmed, blanks, `*` and ranges over 64 bytes dropped,
 * the first 32 only) or an `Accept-Language` value.
 * @param {string[] | string | undefined} languages
 * @returns {string[]}
 */
export function preferredLanguages(languages) {
  if (typeof languages === 'string') return parseAcceptLanguage(languages);
  if (!Array.isArray(languages)) return [];
  return languages.slice(0, 32).filter((r) => typeof r === 'string').map(trim).filter(usable);
}

/**
 * A language range in its canonical form by UTS #35 (the server's ICU4X
 * canonicaliser; here `Intl.getCanonicalLocales`): `iw` → `he`, `in` → `id`,
 * `ji` → `yi`, `_` read as `-`; a range that does not parse is kept as given.
 * @param {string} range
 * @returns {string}
 */
export function canonicalTag(range) {
  const tag = trim(range).replace(/_/g, '-');
  try {
    return Intl.getCanonicalLocales(tag)[0] ?? tag;
  } catch {
    return tag;
  }
}

/**
 * The language of `available` served for `wanted`: for each range in order,
 * canonical, the first tag (canonical too) equal to it or to it with
 * trailing subtags dropped (`en-US` → `en`; a single-letter subtag never
 * stands alone); null: the default language.
 * @param {string[]} available
 * @param {string[]} wanted
 * @returns {string | null}
 */
export function negotiate(available, wanted) {
  const canonicalAvailable = available.map(canonicalTag);
  for (const range of wanted) {
    let candidate = canonicalTag(range);
    for (;;) {
      const at = canonicalAvailable.findIndex((a) => sameTag(a, candidate));
      if (at >= 0) return available[at];
      const cut = candidate.lastIndexOf('-');
      if (cut < 0) break;
      candidate = candidate.slice(0, cut);
      const n = candidate.length;
      if (n >= 2 && candidate[n - 2] === '-' && candidate.charCodeAt(n - 1) < 0x80) candidate = candidate.slice(0, n - 2);
    }
  }
  return null;
}

/** The languages a text is looked up in for `served`, best first (`en-US`, then `en`). */
export function chain(available, served) {
  const out = [];
  if (served === null) return out;
  for (let tag = served; ; tag = tag.slice(0, tag.lastIndexOf('-'))) {
    const found = available.find((a) => sameTag(a, tag));
    if (found !== undefined) out.push(found);
    if (tag.lastIndexOf('-') < 0) return out;
  }
}

/**
 * The language served: the attribute `locale` when it is non-blank text
 * (`ja_JP` read as `ja-JP`), else the preferred languages.
 * @param {string[]} available
 * @param {Map<string, unknown>} attrs normalised
 * @param {string[]} wanted
 */
export function servedLocale(available, attrs, wanted) {
  if (available.length === 0) return null;
  const raw = attrs.get('locale');
  if (typeof raw === 'string' && trim(raw) !== '') return negotiate(available, [trim(raw).replace(/_/g, '-')]);
  return negotiate(available, wanted);
}

/** A text of a bundle in the languages `langs` (best first), else `fallback`. */
function lookUp(translations, langs, pickText, fallback) {
  for (const l of langs) {
    if (!Object.hasOwn(translations ?? {}, l)) continue;
    const t = pickText(translations[l]);
    if (t !== null && t !== undefined) return t;
  }
  return fallback;
}

// ------------------------------------------------------------- bucketing

/** The bucket (0..9999) of a user in a step's group: docs/src/mobile-api.md, "A/B assignment, byte for byte". */
export function bucket(userId, step, condition) {
  const h = sha256(new TextEncoder().encode(`${userId}:${step}:${condition}`));
  const view = new DataView(h.buffer);
  // (hi * 2^32 + lo) mod 10000, exactly, without BigInt: 2^32 mod 10000 = 7296.
  const hi = view.getUint32(0) % 10000;
  const lo = view.getUint32(4) % 10000;
  return (hi * 7296 + lo) % 10000;
}

/** The index of the weight that owns `b`. */
export function pick(b, weights) {
  const total = weights.reduce((a, w) => a + w, 0);
  let cumulative = 0;
  for (let i = 0; i < weights.length; i++) {
    cumulative += weights[i];
    const bound = i + 1 === weights.length ? 10000 : Math.floor((10000 * cumulative) / total);
    if (b < bound) return i;
  }
  return weights.length - 1;
}

// --------------------------------------------------------------- answers

/** An answer the server would refuse: `code` and `details` as its error body has them. */
export class PlayerError extends Error {
  constructor(code, details = null, message = code) {
    super(message);
    this.code = code;
    this.details = details;
  }
}

const invalid = (details) => new PlayerError('invalid_answer', details);
const wrongType = (expected) => invalid({ rule: 'type', expected });
const countBound = (b, fallback) => (typeof b === 'number' && b >= 0 ? Math.trunc(b) : fallback);

function isDate(raw) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw);
  if (!m) return false;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo - 1];
  return days !== undefined && d >= 1 && d <= days;
}

/** Check `answer` against `scene`: the stored value and the choice keys picked. */
function accept(scene, answer) {
  const keyOf = (k) => scene.choices.find((c) => c.key === k);
  switch (scene.input) {
    case 'none':
      if (answer !== null) throw wrongType('null');
      return { value: null, picked: [] };
    case 'choice': {
      if (typeof answer !== 'string') throw wrongType('a choice key (string)');
      const choice = keyOf(answer);
      if (!choice) throw invalid({ rule: 'unknown_choice', choice: answer });
      return { value: choice.value, picked: [answer] };
    }
    case 'multi_choice': {
      const wrong = wrongType('a list of choice keys');
      if (!Array.isArray(answer)) throw wrong;
      const seen = new Set();
      for (const k of answer) {
        if (typeof k !== 'string') throw wrong;
        if (seen.has(k)) throw invalid({ rule: 'repeated_choice', choice: k });
        seen.add(k);
      }
      const min = countBound(scene.min, 1);
      const max = countBound(scene.max, scene.choices.length);
      if (answer.length < min || answer.length > max) {
        throw invalid({ rule: 'count', min, max, got: answer.length });
      }
      const values = answer.map((k) => {
        const choice = keyOf(k);
        if (!choice) throw invalid({ rule: 'unknown_choice', choice: k });
        return choice.value;
      });
      return { value: values, picked: answer };
    }
    case 'text': {
      if (typeof answer !== 'string') throw wrongType('text (string)');
      const t = trim(answer);
      // Characters as people count them: extended grapheme clusters (UAX #29).
      const got = [...graphemes.segment(t)].length;
      const min = countBound(scene.min, 1);
      const max = countBound(scene.max, 1000);
      if (got < min || got > max) throw invalid({ rule: 'length', min, max, got });
      return { value: t, picked: [] };
    }
    case 'number': {
      if (typeof answer !== 'number' || !Number.isFinite(answer)) throw wrongType('a number');
      const min = typeof scene.min === 'number' ? scene.min : null;
      const max = typeof scene.max === 'number' ? scene.max : null;
      if ((min !== null && answer < min) || (max !== null && answer > max)) {
        throw invalid({ rule: 'range', min, max, got: answer });
      }
      return { value: answer, picked: [] };
    }
    case 'date': {
      if (typeof answer !== 'string') throw wrongType('a date (string YYYY-MM-DD)');
      if (!isDate(answer)) throw invalid({ rule: 'date_format', got: answer });
      const min = typeof scene.min === 'string' ? scene.min : null;
      const max = typeof scene.max === 'string' ? scene.max : null;
      if ((min !== null && answer < min) || (max !== null && answer > max)) {
        throw invalid({ rule: 'date_range', min, max, got: answer });
      }
      return { value: answer, picked: [] };
    }
    default:
      throw wrongType('an input this player does not know');
  }
}

// ---------------------------------------------------------------- player

const END = -1;
const utcDate = (at) => new Date(at).toISOString().slice(0, 10);

/** One onboarding run played offline from a bundle. */
export class Player {
  /**
   * @param {object} bundle the bundle document (the signed `payload`, parsed)
   * @param {{attributes?: object, languages?: string[]|string, runId?: string, startedAt?: Date|string, clock?: () => Date}} [options]
   *   `languages`: the app's preferred languages, best first, or an
   *   `Accept-Language` value (used when the attribute `locale` is not set)
   */
  constructor(bundle, { attributes = {}, languages, runId = 'offline', startedAt, clock = () => new Date() } = {}) {
    this.bundle = bundle;
    this.languages = preferredLanguages(languages);
    this.runId = runId;
    this.clock = clock;
    this.startedAt = new Date(startedAt ?? clock()).toISOString();
    this.sent = attributes;
    this.start = new Map(Object.entries(attributes).map(([k, v]) => [k, normalise(v)]));
    this.answers = new Map();
    this.accepted = [];
    this.assignments = new Map(bundle.assignments.map((a) => [`${a.step}:${a.condition}`, a.scene]));
    this.steps = bundle.steps.map((s) => s.key);
    this.shown = 0;
    this.answered = 0;
    this.scene = null;
    this.advance(0, this.startedAt);
  }

  /** Attributes as conditions see them: overrides, then answers, then start attributes. */
  attributes() {
    const all = new Map([...this.start, ...this.answers, ...Object.entries(this.bundle.overrides ?? {})]);
    return new Map([...all].map(([k, v]) => [k, normalise(v)]));
  }

  following(step) {
    return step + 1 < this.steps.length ? step + 1 : END;
  }

  resolve(target) {
    const i = this.steps.indexOf(target);
    return target === 'END' || i < 0 ? END : i;
  }

  select(step, today) {
    const attrs = this.attributes();
    const rows = this.bundle.scenes.filter((s) => s.step === this.steps[step]);
    const matches = (name) => {
      const c = this.bundle.conditions[name];
      return c !== undefined && Object.hasOwn(this.bundle.conditions, name) && evaluate(c.expr, attrs, today);
    };
    const first = rows.find((s) => matches(s.condition));
    if (!first) return null;
    const members = rows.filter((s) => s.condition === first.condition);
    if (members.length === 1) return members[0];
    const id = `${this.steps[step]}:${first.condition}`;
    const stored = members.find((s) => s.key === this.assignments.get(id));
    if (stored) return stored;
    const b = bucket(this.bundle.user_id, this.steps[step], first.condition);
    const chosen = members[pick(b, members.map((s) => s.weight))];
    this.assignments.set(id, chosen.key);
    return chosen;
  }

  advance(from, at) {
    const today = utcDate(at);
    for (let step = from; step !== END; step = this.following(step)) {
      const scene = this.select(step, today);
      if (scene) {
        this.scene = scene;
        this.shown += 1;
        return;
      }
    }
    this.scene = null;
  }

  /** The state as the server would send it. */
  get state() {
    const { version } = this.bundle;
    const s = this.scene;
    const attrs = this.attributes();
    const available = this.bundle.locales ?? [];
    const locale = servedLocale(available, attrs, this.languages);
    // input.previous: offline play has no going back.
    if (!s) return { status: 'completed', version, scene: null, progress: { answered: this.answered, remaining_estimate: 0 }, locale };
    const langs = chain(available, locale);
    const step = this.steps.indexOf(s.step);
    return {
      status: 'in_progress',
      version,
      scene: {
        id: `${this.runId}-${this.shown}`,
        step: s.step,
        key: s.key,
        messages: s.messages.map((m, i) => ({ text: render(lookUp(s.translations, langs, (t) => t.messages[i], m), attrs) })),
        input: {
          kind: s.input,
          choices: s.choices.map((c) => ({ key: c.key, label: lookUp(c.translations, langs, (t) => t, c.label) })),
          min: s.min,
          max: s.max,
          placeholder: lookUp(s.translations, langs, (t) => t.placeholder, s.placeholder),
          previous: null,
        },
      },
      progress: { answered: this.answered, remaining_estimate: this.bundle.steps[step].remaining_estimate },
      locale,
    };
  }

  /**
   * Answer the current scene; the next state. Throws a PlayerError
   * (`invalid_answer`, `already_completed`) and changes nothing when the
   * server would refuse the answer.
   */
  answer(answer, at = this.clock()) {
    const s = this.scene;
    if (!s) throw new PlayerError('already_completed');
    const { value, picked } = accept(s, answer);
    const when = new Date(at).toISOString();
    if (s.save_as !== null) this.answers.set(s.save_as, value);
    this.answered += 1;
    this.accepted.push({ scene_key: s.key, answer, answered_at: when });
    const jump = s.choices.filter((c) => picked.includes(c.key)).find((c) => c.next_step !== null);
    const target = jump ? jump.next_step : s.next_step;
    this.advance(target !== null ? this.resolve(target) : this.following(this.steps.indexOf(s.step)), when);
    return this.state;
  }

  /** The body of POST /v1/onboarding/sync for this run. */
  syncRequest(syncId) {
    return {
      sync_id: syncId,
      version: this.bundle.version,
      started_at: this.startedAt,
      attributes: this.sent,
      languages: this.languages,
      answers: this.accepted,
    };
  }
}
