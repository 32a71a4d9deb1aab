// An empty TypeScript module: importing it in a fresh worker loads Node's type stripper and nothing else
// (bench/startup.ts uses it to separate type stripping from what percore/core itself costs).
export {}
