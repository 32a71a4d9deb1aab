#!/usr/bin/env node
// The `percore` command (src/cli.ts). Needs Node ≥ 22.18 for type stripping; `npx percore` in this
// package runs it on the Node 24 that `npm ci` installs.
import "../src/cli.ts"
