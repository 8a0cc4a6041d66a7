#!/usr/bin/env node
// Validate Amazon States Language definitions offline with the two validators AWS users have:
//   the AWS Toolkit's language service (npm amazon-states-language-service) and asl-validator.
// Usage: node asl_validate.mjs FILE.json [FILE.json ...]
// Prints one JSON object per finding: {"file", "validator", "line"?, "message"}.
// Exit: 0 no finding, 1 findings, 2 usage or I/O error.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, 'package.json'));
const asl = require('amazon-states-language-service');
const { TextDocument } = require('vscode-languageserver-textdocument');
const aslValidator = require('asl-validator');

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: asl_validate.mjs FILE.json...\n');
  process.exit(2);
}
const service = asl.getLanguageService({});
let findings = 0;
const report = (finding) => {
  findings += 1;
  process.stdout.write(JSON.stringify(finding) + '\n');
};
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    process.stderr.write(`${file}: ${error.message}\n`);
    process.exit(2);
  }
  // Read as written: JSON.parse would turn 100.0 into 100, which only the language service then sees.
  const document = TextDocument.create(`file://${path.resolve(file)}`, 'asl', 1, text);
  for (const diagnostic of await service.doValidation(document, service.parseJSONDocument(document))) {
    report({ file, validator: 'amazon-states-language-service', line: diagnostic.range.start.line + 1,
             message: diagnostic.message });
  }
  // Its CLI ignores --no-arn-check in 4.0.0; the API's options work.
  const { errors } = aslValidator(JSON.parse(text), { checkArn: true, checkPaths: true });
  const seen = new Set();
  for (const error of errors) {
    const message = `${error['Error code']}: ${error.Message}`;
    if (!seen.has(message)) {  // oneOf branches repeat one error
      seen.add(message);
      report({ file, validator: 'asl-validator', message });
    }
  }
}
process.exit(findings > 0 ? 1 : 0);
