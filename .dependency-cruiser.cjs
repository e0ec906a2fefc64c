// The import rules of clawback, checked by `npm test` (npm run lint:deps). docs/architecture.md
// draws the same picture; change both together.
//
// Layers, lowest first. A module may import its own layer and any lower one, never a higher one.
// errors.ts is below everything (every layer names its failures with it); lib.ts is the public
// surface over the engine; cli and openclaw sit on top, and openclaw sees only lib.ts.
const LAYERS = [
  ["errors", "^src/errors\\.ts$"],
  ["chunker", "^src/chunker/"],
  ["crypto", "^src/crypto/"],
  ["storage", "^src/storage/"],
  ["repo", "^src/repo/"],
  ["index", "^src/index/"],
  ["engine", "^src/engine/"],
  ["lib", "^src/lib\\.ts$"],
  ["cli", "^src/cli/"],
  ["openclaw", "^src/openclaw/"],
];
// chunker, crypto and storage are peers at the bottom: none imports another.
const PEERS = ["chunker", "crypto", "storage"];
// cli and openclaw are peers at the top.
const TOP = ["cli", "openclaw"];

const layerRules = LAYERS.flatMap(([name, from], i) => {
  const higher = LAYERS.slice(i + 1)
    .filter(([other]) => !(TOP.includes(name) && TOP.includes(other)))
    .map(([, p]) => p);
  const peers = PEERS.includes(name) ? PEERS.filter((p) => p !== name).map((p) => LAYERS.find(([n]) => n === p)[1]) : [];
  const forbidden = [...higher, ...peers, ...(TOP.includes(name) ? TOP.filter((t) => t !== name).map((t) => LAYERS.find(([n]) => n === t)[1]) : [])];
  return forbidden.length === 0 ? [] : [{
    name: `layer-${name}`,
    comment: `${name} imports only lower layers (see docs/architecture.md)`,
    severity: "error",
    from: { path: from },
    to: { path: forbidden },
  }];
});

// Inside src/engine/: the shared files at its top, then one folder per flow. "may import" lists
// the engine folders each may use besides its own (lower layers are always allowed).
//   codec/        worker threads that seal, open, write and verify blobs,
//                 and hash a captured database's page groups                  sqlite/ (reading pages)
//   sqlite/       consistent capture, restore and checks of SQLite files      (none)
//   shared files  context, types, snapshots, listing, blob-reader, ranges,
//                 excludes, references                                       codec/
//   commit/       walk, read, chunk and store a folder                        shared, codec/, sqlite/
//   checkout/     materialize a snapshot into a folder and swap it in         shared, codec/, sqlite/, commit/ (safety snapshot)
//   maintenance/  forget, prune, check, stats, diff                           shared, codec/, sqlite/, commit/
//   repository.ts the facade: opens a repository, one method per command     everything
const ENGINE = "^src/engine/";
const SHARED = "^src/engine/[^/]+\\.ts$";
const REPOSITORY = "^src/engine/repository\\.ts$";
const sub = (name) => `^src/engine/${name}/`;
const SUBS = ["codec", "sqlite", "commit", "checkout", "maintenance"];
const ALLOWED = {
  codec: ["sqlite"],
  sqlite: [],
  commit: ["shared", "codec", "sqlite"],
  checkout: ["shared", "codec", "sqlite", "commit"],
  maintenance: ["shared", "codec", "sqlite", "commit"],
};
const engineRules = [
  ...SUBS.map((name) => {
    const others = SUBS.filter((s) => s !== name && !ALLOWED[name].includes(s)).map(sub);
    const forbidden = ALLOWED[name].includes("shared") ? others : [...others, SHARED];
    return {
      name: `engine-${name}`,
      comment: `engine/${name}/ may import ${ALLOWED[name].length ? ALLOWED[name].join(", ") : "no other engine file"} (see docs/architecture.md)`,
      severity: "error",
      from: { path: sub(name) },
      to: { path: [...forbidden, REPOSITORY] },
    };
  }),
  {
    name: "engine-shared",
    comment: "the shared engine files import codec/ only; a type-only import may name what a flow defines (CommitOptions.scan is a SourceScan)",
    severity: "error",
    from: { path: SHARED, pathNot: REPOSITORY },
    to: { path: [sub("sqlite"), sub("commit"), sub("checkout"), sub("maintenance"), REPOSITORY], dependencyTypesNot: ["type-only"] },
  },
];

module.exports = {
  forbidden: [
    ...layerRules,
    ...engineRules,
    {
      name: "openclaw-public-surface",
      comment:
        "the plugin uses the library as any other user would: through src/lib.ts only; and src/errors.ts (which lib.ts re-exports), " +
        "so that the plugin's gateway side can name the error classes without loading the engine into the gateway's process (invariant 7)",
      severity: "error",
      from: { path: "^src/openclaw/" },
      to: { path: "^src/", pathNot: ["^src/lib\\.ts$", "^src/errors\\.ts$", "^src/openclaw/"] },
    },
    {
      name: "no-circular",
      comment: "no import cycles (type-only imports are erased at compile time and may close one)",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "src-not-to-tests",
      comment: "the library never imports test or benchmark code",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(test|bench)/" },
    },
    {
      name: "not-to-unresolvable",
      comment: "every import resolves",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsConfig: { fileName: "tsconfig.json" },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"] },
  },
};
