// Opening a signed bundle: check the Ed25519 signature over the exact bytes
// of `payload` with the public key the app was built with, then parse.
// WebCrypto's Ed25519 (Node 20, current browsers); on platforms without it,
// verify `signature.value` over the UTF-8 bytes of `payload` with any Ed25519
// library, then JSON.parse(payload).

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));

/**
 * @param {{payload: string, signature: {alg: string, value: string}}} envelope
 * @param {string} publicKeyHex the 32-byte key, hex (docs/src/offline.md)
 * @returns {Promise<object>} the bundle
 */
export async function openBundle(envelope, publicKeyHex) {
  const { payload, signature } = envelope;
  if (typeof payload !== 'string' || signature?.alg !== 'Ed25519') throw new Error('not a signed bundle');
  const { subtle } = globalThis.crypto;
  const key = await subtle.importKey('raw', fromHex(publicKeyHex), { name: 'Ed25519' }, false, ['verify']);
  const ok = await subtle.verify({ name: 'Ed25519' }, key, fromHex(signature.value), new TextEncoder().encode(payload));
  if (!ok) throw new Error('the bundle signature does not verify with this key');
  return JSON.parse(payload);
}
