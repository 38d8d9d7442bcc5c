export { Player, PlayerError, bucket, pick, evaluate, render, text, number, normalise, formatNumber, version, compareVersions, trim, canonicalTag, negotiate, chain, servedLocale, preferredLanguages, parseAcceptLanguage } from './player.mjs';
export { openBundle } from './verify.mjs';
export { sha256 } from './sha256.mjs';
