// validate.mjs: checks OSCAL documents against a JSON Schema (draft-07), NIST's
// assessment-results schema in practice (tests/oscal/README.md; report.oscal_schema).
//
//   node validate.mjs SCHEMA.json DOCUMENT.json...
//
// ajv and ajv-formats are the ones pinned for the OpenAPI checks (tests/openapi/package-lock.json,
// installed by scripts/install-deps.sh), loaded from there. The schema's patterns use Unicode
// property classes (\p{L}): ajv compiles them with the u flag. Formats (date-time, uri,
// uri-reference) are checked, not ignored. Exit 0 when every document is valid; 1 with one line
// per error (at most 25 per document); 2 on bad usage, an unreadable file or a schema that does
// not compile.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const MAX_SHOWN = 25;
const require = createRequire(new URL('../openapi/package.json', import.meta.url));
const Ajv = require('ajv').default; // draft-07
const addFormats = require('ajv-formats').default;

function readJson(path) {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    console.error(`validate.mjs: ${path}: ${e.message}`);
    process.exit(2);
  }
}

const [schemaPath, ...docs] = process.argv.slice(2);
if (!schemaPath || docs.length === 0) {
  console.error('usage: node validate.mjs SCHEMA.json DOCUMENT.json...');
  process.exit(2);
}
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
let validate;
try {
  validate = ajv.compile(readJson(schemaPath));
} catch (e) {
  console.error(`validate.mjs: ${schemaPath} does not compile: ${e.message}`);
  process.exit(2);
}
let failed = 0;
for (const path of docs) {
  if (validate(readJson(path))) {
    console.log(`ok   ${path}`);
    continue;
  }
  failed++;
  console.error(`FAIL ${path}: ${validate.errors.length} error(s)`);
  for (const err of validate.errors.slice(0, MAX_SHOWN))
    console.error(`  ${err.instancePath || '/'} ${err.message} ${JSON.stringify(err.params)}`);
}
process.exit(failed ? 1 : 0);
