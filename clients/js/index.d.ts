// Types of the reference offline player (hand-written: the player is plain
// JavaScript with JSDoc, so it runs without a build step).

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type InputKind = 'none' | 'choice' | 'multi_choice' | 'text' | 'number' | 'date';

/** The expression language of `Bundle.conditions[name].expr`. */
export type Expr =
  | { op: 'always' }
  | { op: 'eq'; attribute: string; value: string }
  | { op: 'in'; attribute: string; values: string[] }
  | { op: 'present'; attribute: string }
  | { op: 'range'; attribute: string; min: number | null; max: number | null }
  | { op: 'age'; min: number | null; max: number | null }
  | { op: 'version_at_least'; attribute: string; version: string }
  | { op: 'not'; of: Expr }
  | { op: 'all'; of: Expr[] }
  | { op: 'any'; of: Expr[] };

/** A choice; `translations`: the label by BCP 47 tag (absent tag: not translated). */
export interface BundleChoice {
  key: string; label: string; value: string; next_step: string | null;
  translations: Record<string, string>;
}
/** A scene's text in one language: `messages[i]` translates bubble `i`; null: not translated. */
export interface SceneText { messages: (string | null)[]; placeholder: string | null }
export interface BundleScene {
  key: string; step: string; condition: string; weight: number; messages: string[];
  input: InputKind; save_as: string | null; min: number | string | null; max: number | string | null;
  placeholder: string | null; next_step: string | null; choices: BundleChoice[];
  translations: Record<string, SceneText>;
}
export interface Bundle {
  format: 1; version: string; channel: 'staging' | 'production'; user_id: string;
  /** The workbook's languages besides the default (BCP 47, sorted). */
  locales: string[];
  steps: { key: string; remaining_estimate: number }[];
  scenes: BundleScene[];
  conditions: Record<string, { description: string; expr: Expr }>;
  bucketing: { hash: 'sha256'; input: string; prefix_bytes: 8; buckets: 10000 };
  assignments: { step: string; condition: string; scene: string }[];
  overrides: Record<string, Json>;
}
export interface SignedBundle {
  payload: string;
  signature: { alg: 'Ed25519'; key_id: string; public_key: string; value: string };
}

export interface SceneView {
  id: string; step: string; key: string; messages: { text: string }[];
  input: { kind: InputKind; choices: { key: string; label: string }[]; min: Json; max: Json; placeholder: string | null; previous: Json };
}
export interface State {
  status: 'in_progress' | 'completed'; version: string; scene: SceneView | null;
  progress: { answered: number; remaining_estimate: number };
  /** BCP 47 tag of the language served; null: the default columns. */
  locale: string | null;
}
export interface SyncRequest {
  sync_id: string; version: string; started_at: string; attributes: Record<string, Json>;
  /** The preferred languages the player negotiated with, best first. */
  languages: string[];
  answers: { scene_key: string; answer: Json; answered_at: string }[];
}

export class PlayerError extends Error {
  code: 'invalid_answer' | 'already_completed';
  details: Record<string, Json> | null;
}

export class Player {
  constructor(bundle: Bundle, options?: {
    attributes?: Record<string, Json>;
    /** The app's preferred languages, best first, or an `Accept-Language` value; the attribute `locale` wins. */
    languages?: string[] | string;
    runId?: string; startedAt?: Date | string; clock?: () => Date;
  });
  readonly state: State;
  /** The next state; throws PlayerError where the server would refuse. */
  answer(answer: Json, at?: Date | string): State;
  syncRequest(syncId: string): SyncRequest;
}

export function openBundle(envelope: SignedBundle, publicKeyHex: string): Promise<Bundle>;
export function bucket(userId: string, step: string, condition: string): number;
export function pick(bucket: number, weights: number[]): number;
export function evaluate(expr: Expr, attributes: Map<string, Json>, today: string): boolean;
export function render(template: string, attributes: Map<string, Json>): string;
export function text(value: Json | undefined): string | null;
export function number(value: Json | undefined): number | null;
export function normalise(value: Json): Json;
export function formatNumber(n: number): string;
export function version(raw: string): string[] | null;
export function compareVersions(a: string[], b: string[]): number;
export function trim(s: string): string;
export function parseAcceptLanguage(header: string): string[];
export function preferredLanguages(languages: string[] | string | undefined): string[];
/** A language range canonical by UTS #35 (`iw` → `he`, `in_ID` → `id-ID`); kept as given when it does not parse. */
export function canonicalTag(range: string): string;
export function negotiate(available: string[], wanted: string[]): string | null;
export function chain(available: string[], served: string | null): string[];
export function servedLocale(available: string[], attributes: Map<string, Json>, wanted: string[]): string | null;
export function sha256(bytes: Uint8Array): Uint8Array;
