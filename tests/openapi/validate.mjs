// validate.mjs: checks the responses an API test process received (the harness's NDJSON log)
// against docs/openapi.yaml, so that the description cannot drift from the server (issue 13).
//
//   node validate.mjs docs/openapi.yaml responses.ndjson
//
// Each line: {method, path (raw, with query), status, content_type, bytes, json_invalid, body?}.
// A response is matched to its operation by method and path template (as src/http/router.c
// matches: literal segments equal, a {param} one non-empty segment), then to its status, and:
//   - a status the operation does not list fails;
//   - a content type the response does not list fails (a response without content must have
//     no body); HEAD responses are checked by status only (they carry no body);
//   - a JSON body is validated against the response's schema (JSON Schema 2020-12, ajv);
//   - non-JSON bodies (record values, NDJSON exports) are checked by content type only;
//   - a path no template matches, or a method the path does not serve, must be answered with a
//     4xx error whose body is the Error schema (the server's 404 and 405): anything else means a
//     route is served that the description does not have.
// Exit 0 when every response matches; 1 with one message per mismatch (at most 25 shown); 2 on
// bad usage or an unreadable file.
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const METHODS = ['get', 'put', 'post', 'delete', 'head', 'patch', 'options', 'trace'];
const SPEC_ID = 'openapi.json';
const MAX_SHOWN = 25;

function usage(msg) {
  console.error(`validate.mjs: ${msg}\nusage: node validate.mjs OPENAPI.yaml RESPONSES.ndjson`);
  process.exit(2);
}

function pointerEscape(s) {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

function pointerGet(doc, ptr) {
  let node = doc;
  for (const raw of ptr.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in node)) return undefined;
    node = node[key];
  }
  return node;
}

// Follows local $refs (responses are often '#/components/responses/X'); returns [node, pointer].
function deref(doc, node, ptr) {
  for (let hops = 0; node && typeof node.$ref === 'string' && hops < 16; hops++) {
    if (!node.$ref.startsWith('#/')) throw new Error(`${ptr}: only local $refs are supported`);
    ptr = node.$ref.slice(1);
    node = pointerGet(doc, ptr);
  }
  if (node === undefined) throw new Error(`${ptr}: dangling $ref`);
  return [node, ptr];
}

function templates(spec) {
  return Object.keys(spec.paths || {}).map((tpl) => {
    const segs = tpl.split('/').slice(1);
    return { tpl, segs, literals: segs.filter((s) => !/^\{[^}]+\}$/.test(s)).length };
  });
}

function matchPath(tpls, rawPath) {
  const path = rawPath.split('?')[0].split('#')[0];
  const segs = path.split('/');
  if (segs[0] !== '') return null;
  const want = segs.slice(1);
  let best = null;
  for (const t of tpls) {
    if (t.segs.length !== want.length) continue;
    const ok = t.segs.every((s, i) => (/^\{[^}]+\}$/.test(s) ? want[i].length > 0 : s === want[i]));
    if (ok && (!best || t.literals > best.literals)) best = t;
  }
  return best;
}

function mediaMatches(listed, actual) {
  const [type, sub] = listed.toLowerCase().split('/');
  const [atype, asub] = actual.split('/');
  return (type === '*' || type === atype) && (sub === '*' || sub === asub);
}

function main() {
  const [specFile, logFile] = process.argv.slice(2);
  if (!specFile || !logFile) usage('two arguments needed');
  let spec, lines;
  try {
    spec = YAML.parse(readFileSync(specFile, 'utf8'));
    lines = readFileSync(logFile, 'utf8').split('\n').filter((l) => l.length > 0);
  } catch (e) {
    usage(e.message);
  }
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ ...spec, $id: SPEC_ID });
  const compiled = new Map();
  const validatorAt = (ptr) => {
    if (!compiled.has(ptr)) compiled.set(ptr, ajv.compile({ $ref: `${SPEC_ID}#${ptr}` }));
    return compiled.get(ptr);
  };
  const tpls = templates(spec);
  const problems = [];
  const seen = new Set();

  lines.forEach((text, i) => {
    let r;
    try {
      r = JSON.parse(text);
    } catch (e) {
      problems.push(`line ${i + 1}: not JSON (${e.message})`);
      return;
    }
    const method = String(r.method).toLowerCase();
    const status = String(r.status);
    const ctype = String(r.content_type || '').split(';')[0].trim().toLowerCase();
    const where = `request #${i + 1} ${r.method} ${r.path} -> ${status}`;
    const fail = (msg) => problems.push(`${where}: ${msg}`);
    const checkBody = (ptr, what) => {
      if (r.json_invalid) return fail(`the body is not the JSON its Content-Type says`);
      if (!('body' in r)) return fail(`no JSON body, expected ${what}`);
      const v = validatorAt(ptr);
      if (v(r.body)) return;
      const errs = v.errors
        .slice(0, 5)
        .map((e) => `${e.instancePath || '(body)'} ${e.message} [schema ${e.schemaPath}]`);
      fail(`the body does not match ${what}: ${errs.join('; ')}`);
    };

    const t = matchPath(tpls, String(r.path));
    const op = t && spec.paths[t.tpl][method];
    if (!op) {
      // Not an operation of the description: only the server's refusals may answer it.
      const name = t ? `${r.method} is not an operation of ${t.tpl}` : 'no path template matches';
      if (!(r.status >= 400 && r.status < 500))
        return fail(`${name}, yet the server answered ${status}: a route the description lacks?`);
      if (method === 'head') return;
      if (ctype !== 'application/json') return fail(`${name}; the error is not application/json`);
      return checkBody('/components/schemas/Error', '#/components/schemas/Error');
    }
    const opName = op.operationId || `${method} ${t.tpl}`;
    seen.add(opName);
    const opPtr = `/paths/${pointerEscape(t.tpl)}/${method}`;
    const listed = op.responses && op.responses[status];
    if (!listed)
      return fail(`${opName} does not list status ${status} (it lists ${Object.keys(op.responses || {}).join(', ')})`);
    const [resp, respPtr] = deref(spec, listed, `${opPtr}/responses/${status}`);
    if (method === 'head') return; // headers only
    const content = resp.content || {};
    const types = Object.keys(content);
    if (types.length === 0) {
      if (r.bytes > 0) fail(`${opName} ${status} has no content in the description, yet ${r.bytes} bytes came`);
      return;
    }
    const type = types.find((m) => mediaMatches(m, ctype));
    if (!type) return fail(`${opName} ${status}: Content-Type "${ctype}" is not one of ${types.join(', ')}`);
    if (ctype !== 'application/json') return; // record values, exports: the type is the check
    const schemaPtr = `${respPtr}/content/${pointerEscape(type)}/schema`;
    const schema = content[type].schema;
    const what = schema && schema.$ref ? schema.$ref : `#${schemaPtr}`;
    checkBody(schemaPtr, `${opName} ${status} ${what}`);
  });

  const file = basename(logFile);
  if (problems.length === 0) {
    console.error(`openapi: ${file}: ${lines.length} responses of ${seen.size} operations match docs/openapi.yaml`);
    return 0;
  }
  console.error(`openapi: ${file}: ${problems.length} of ${lines.length} responses do not match ${specFile}:`);
  for (const p of problems.slice(0, MAX_SHOWN)) console.error(`  ${p}`);
  if (problems.length > MAX_SHOWN) console.error(`  ... and ${problems.length - MAX_SHOWN} more`);
  return 1;
}

process.exit(main());
