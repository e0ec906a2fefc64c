// fast-check arbitraries for hostile input: random bytes, and mutations of a valid encoding (bytes
// flipped, set, cut, inserted, repeated; a 32-bit length field set to a huge value), and
// mutations of a decoded value (a sub-value replaced by a nasty one), so that a parser is reached
// both at its first check and deep inside.

import fc from "fast-check";

/** Values a careless parser mishandles: huge and negative numbers, wrong types, escapes. */
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(-1, 0, 1, 2 ** 31, 2 ** 32, 2 ** 32 - 1, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 0.5, "", "0", "../x", "/etc/passwd", "a\\b", "C:x", "a/../../b", ".", "..", null, true, [], {}, "f".repeat(64), "F".repeat(64)),
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ maxLength: 80 }),
  fc.integer(),
  fc.double({ noNaN: true }),
);

type Mutation = (b: Buffer) => Buffer;

const byteMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]): Mutation => (b) => {
    if (!b.length) return b;
    const c = Buffer.from(b);
    c[at % c.length]! ^= x;
    return c;
  }),
  fc.nat().map((at): Mutation => (b) => b.subarray(0, at % (b.length + 1))),
  fc.tuple(fc.nat(), fc.uint8Array({ maxLength: 16 })).map(([at, ins]): Mutation => (b) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), ins, b.subarray(i)]);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([at, n]): Mutation => (b) => {
    const i = at % (b.length + 1);
    return Buffer.concat([b.subarray(0, i), b.subarray(i, i + n), b.subarray(i)]);
  }),
  // A length or count field claiming far more than there is (the pack trailer is one).
  fc.tuple(fc.nat(), fc.constantFrom(0xffffffff, 0x80000000, 0x7fffffff, 0x10000000, 0)).map(([at, v]): Mutation => (b) => {
    if (b.length < 4) return b;
    const c = Buffer.from(b);
    c.writeUInt32LE(v, at % (c.length - 3));
    return c;
  }),
);

/** A valid encoding with 1 to 4 byte-level mutations. */
export function mutatedBytes(valid: Buffer): fc.Arbitrary<Buffer> {
  return fc.array(byteMutation, { minLength: 1, maxLength: 4 }).map((ms) => ms.reduce((b, m) => m(b), valid));
}

/** Random bytes, sometimes text-like (JSON parsers reject most random bytes at once). */
export const randomInput: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? "null")),
  fc.string({ maxLength: 200 }).map((s) => Buffer.from(s)),
);

/** Replaces the sub-value found by following `steps` (each picks a child) with `replacement`. */
function replaceAt(value: unknown, steps: readonly number[], replacement: unknown): unknown {
  if (steps.length === 0 || value === null || typeof value !== "object") return replacement;
  const [step, ...rest] = steps as [number, ...number[]];
  if (Array.isArray(value)) {
    if (value.length === 0) return replacement;
    const copy = [...value];
    const i = step % copy.length;
    copy[i] = replaceAt(copy[i], rest, replacement);
    return copy;
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return replacement;
  const key = keys[step % keys.length]!;
  return { ...(value as Record<string, unknown>), [key]: replaceAt((value as Record<string, unknown>)[key], rest, replacement) };
}

/** A valid decoded value with 1 to 3 sub-values replaced, or a key deleted, at random depths. */
export function mutatedValue(valid: unknown): fc.Arbitrary<unknown> {
  const one = fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), nastyValue, fc.boolean());
  return fc.array(one, { minLength: 1, maxLength: 3 }).map((edits) =>
    edits.reduce((v, [steps, replacement, drop]) => (drop ? replaceAt(v, steps, undefined) : replaceAt(v, steps, replacement)), valid),
  );
}
