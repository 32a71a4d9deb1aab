#!/usr/bin/env node
// The `percore` command from this repository's sources (src/cli.ts): `npm run percore -- --help`. It needs
// Node ≥ 22.18 for type stripping, which the `node` devDependency supplies. The published package's `percore`
// command is the built dist/cli.js instead.
import "../src/cli.ts"
