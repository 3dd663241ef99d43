// Checks an Envoy bootstrap configuration (YAML) against Envoy's own API definitions: the
// envoy/config/bootstrap/v3 protos and those they use, as the npm package @grpc/grpc-js-xds ships
// them (gRPC's xDS client reads the same API), loaded with protobufjs. Envoy is not packaged for
// Debian, so `envoy --mode validate` cannot run here; this is the part of it that needs only the
// schema:
//   - every field exists in its message (proto field name or its JSON name), with a value of the
//     field's type (numbers, booleans, strings, durations as "1s", enums by name, wrappers, lists,
//     maps, google.protobuf.Any by its "@type", which must be a message these protos define);
//   - at most one field of each oneof, and one when the oneof is (validate.required);
//   - the protoc-gen-validate rules Envoy enforces at load that are read here: required messages
//     and durations, string min_len, enum defined_only, and numeric gt/gte/lt/lte bounds;
//   - no deprecated field (Envoy refuses deprecated fields unless told to allow them).
// Not checked: what needs Envoy's code (that a cluster a route names exists is checked below by
// hand, but not extension names, file paths or regex syntax).
//
// Usage: node check-envoy.mjs CONFIG.yaml...
//        node check-envoy.mjs --self-test CONFIG.yaml   (each mistake of `mistakes` below, made in
//        CONFIG, must be refused with its message: the check can fail)
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const deps = join(here, 'node_modules', '@grpc', 'grpc-js-xds', 'deps');
const loaded = await Promise.all([import('protobufjs'), import('yaml')]).catch((error) => {
  throw new Error(`the npm packages of tests/deploy are missing: run scripts/install-deps (${error})`);
});
const protobuf = loaded[0].default;
const { parseAllDocuments } = loaded[1];
if (!existsSync(deps)) throw new Error('@grpc/grpc-js-xds is missing: run scripts/install-deps');

// The protos: the bootstrap and the extensions a jambad router uses (the Any types below must be
// among what is loaded; an unknown @type is an error).
const includeDirs = ['envoy-api', 'xds', 'protoc-gen-validate', 'googleapis']
  .map((d) => join(deps, d))
  .concat([join(here, 'node_modules', 'protobufjs')]);
const root = new protobuf.Root();
root.resolvePath = (origin, target) => {
  if (target in protobuf.common) return target;
  for (const dir of includeDirs) {
    if (existsSync(join(dir, target))) return join(dir, target);
  }
  return target;
};
root.loadSync([
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
], { keepCase: true });
root.resolveAll();

const scalarChecks = {
  double: (v) => typeof v === 'number' || ['NaN', 'Infinity', '-Infinity'].includes(v),
  float: (v) => typeof v === 'number',
  int32: (v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31,
  sint32: (v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31,
  sfixed32: (v) => Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31,
  uint32: (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32,
  fixed32: (v) => Number.isInteger(v) && v >= 0 && v < 2 ** 32,
  int64: (v) => Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)),
  sint64: (v) => Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)),
  sfixed64: (v) => Number.isInteger(v) || (typeof v === 'string' && /^-?\d+$/.test(v)),
  uint64: (v) => (Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+$/.test(v)),
  fixed64: (v) => (Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+$/.test(v)),
  bool: (v) => typeof v === 'boolean',
  string: (v) => typeof v === 'string',
  bytes: (v) => typeof v === 'string',
};
const wrappers = {
  'google.protobuf.DoubleValue': 'double', 'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64', 'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32', 'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool', 'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};
const durationPattern = /^-?\d+(\.\d{1,9})?s$/;
const durationSeconds = (text) => Number(text.slice(0, -1));

function rule(options, suffix) {
  if (!options) return undefined;
  for (const [key, value] of Object.entries(options)) {
    if (key === `(validate.rules).${suffix}`) return value;
  }
  return undefined;
}

function checkBounds(options, kind, value, where, errors) {
  const n = kind === 'duration' ? durationSeconds(value) : Number(value);
  const bound = (name) => {
    const b = rule(options, `${kind}.${name}`);
    if (b === undefined) return undefined;
    if (kind === 'duration') return typeof b === 'object' ? Number(b.seconds ?? 0) + Number(b.nanos ?? 0) / 1e9 : 0;
    return Number(b);
  };
  const gt = bound('gt'); const gte = bound('gte'); const lt = bound('lt'); const lte = bound('lte');
  if (gt !== undefined && !(n > gt)) errors.push(`${where}: must be greater than ${gt}`);
  if (gte !== undefined && !(n >= gte)) errors.push(`${where}: must be at least ${gte}`);
  if (lt !== undefined && !(n < lt)) errors.push(`${where}: must be less than ${lt}`);
  if (lte !== undefined && !(n <= lte)) errors.push(`${where}: must be at most ${lte}`);
}

function checkValue(field, value, where, errors) {
  const type = field.resolvedType;
  if (type instanceof protobuf.Enum) {
    const known = typeof value === 'string' ? value in type.values
                : Number.isInteger(value) && Object.values(type.values).includes(value);
    if (!known) errors.push(`${where}: "${value}" is not a value of ${type.fullName.slice(1)}`);
    return;
  }
  if (type instanceof protobuf.Type) {
    checkMessage(type, value, where, errors, field.options);
    return;
  }
  if (!scalarChecks[field.type](value)) {
    errors.push(`${where}: expected ${field.type}, got ${JSON.stringify(value)}`);
    return;
  }
  if (field.type === 'string') {
    const minLen = rule(field.options, 'string.min_len');
    if (minLen !== undefined && value.length < Number(minLen)) {
      errors.push(`${where}: shorter than ${minLen} characters`);
    }
  } else if (field.type !== 'bool' && field.type !== 'bytes') {
    checkBounds(field.options, field.type, value, where, errors);
  }
}

function checkMessage(type, value, where, errors, fieldOptions) {
  const name = type.fullName.slice(1);
  if (name in wrappers) {
    if (!scalarChecks[wrappers[name]](value)) errors.push(`${where}: expected ${wrappers[name]}`);
    else if (wrappers[name] !== 'bool' && wrappers[name] !== 'string') {
      checkBounds(fieldOptions, wrappers[name], value, where, errors);
    }
    return;
  }
  if (name === 'google.protobuf.Duration') {
    if (typeof value !== 'string' || !durationPattern.test(value)) {
      errors.push(`${where}: expected a duration such as "1s", got ${JSON.stringify(value)}`);
    } else {
      checkBounds(fieldOptions, 'duration', value, where, errors);
    }
    return;
  }
  if (name === 'google.protobuf.Struct' || name === 'google.protobuf.Value') return;
  if (name === 'google.protobuf.ListValue') {
    if (!Array.isArray(value)) errors.push(`${where}: expected a list`);
    return;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    errors.push(`${where}: expected a ${name} object, got ${JSON.stringify(value)}`);
    return;
  }
  if (name === 'google.protobuf.Any') {
    const url = value['@type'];
    const m = typeof url === 'string' ? /^type\.googleapis\.com\/([\w.]+)$/.exec(url) : null;
    let inner = null;
    try {
      inner = m ? root.lookupType(m[1]) : null;
    } catch {
      inner = null;
    }
    if (inner === null) {
      errors.push(`${where}: unknown @type ${JSON.stringify(url)}`);
      return;
    }
    const rest = { ...value };
    delete rest['@type'];
    checkMessage(inner, rest, `${where}<${m[1].split('.').pop()}>`, errors);
    return;
  }
  const byJsonName = new Map(type.fieldsArray.map((f) => [protobuf.util.camelCase(f.name), f]));
  const set = new Set();
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key] ?? byJsonName.get(key);
    const at = `${where}.${key}`;
    if (field === undefined) {
      errors.push(`${at}: no such field in ${name}`);
      continue;
    }
    set.add(field.name);
    if (field.options?.deprecated) errors.push(`${at}: deprecated in ${name}`);
    if (field.map) {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) errors.push(`${at}: expected a map`);
      else for (const [k, item] of Object.entries(v)) checkValue(field, item, `${at}[${k}]`, errors);
    } else if (field.repeated) {
      if (!Array.isArray(v)) errors.push(`${at}: expected a list`);
      else v.forEach((item, i) => checkValue(field, item, `${at}[${i}]`, errors));
    } else {
      checkValue(field, v, at, errors);
    }
  }
  for (const field of type.fieldsArray) {
    const required = rule(field.options, 'message.required') ?? rule(field.options, 'duration.required');
    // (A oneof member's rule applies only when that member is the one set.)
    if (required && !field.partOf && !set.has(field.name)) errors.push(`${where}: ${field.name} is required in ${name}`);
  }
  for (const oneof of type.oneofsArray) {
    const present = oneof.oneof.filter((f) => set.has(f));
    if (present.length > 1) errors.push(`${where}: ${present.join(' and ')} are one of ${oneof.name}: set one`);
    if (present.length === 0 && oneof.options?.['(validate.required)']) {
      errors.push(`${where}: one of ${oneof.oneof.join(', ')} is required in ${name}`);
    }
  }
}

// Routes name clusters that exist.
function checkClusterNames(config, errors) {
  const clusters = new Set((config?.static_resources?.clusters ?? []).map((c) => c.name));
  const walk = (value, where) => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${where}[${i}]`));
    else if (value && typeof value === 'object') {
      if (typeof value.cluster === 'string' && !clusters.has(value.cluster)) {
        errors.push(`${where}.cluster: no cluster named ${value.cluster}`);
      }
      for (const [k, v] of Object.entries(value)) walk(v, `${where}.${k}`);
    }
  };
  walk(config?.static_resources?.listeners, 'static_resources.listeners');
}

// [what to replace, its replacement, the error expected] in deploy/envoy/envoy.yaml.
const mistakes = [
  ['    lb_policy: RING_HASH\n', '    lb_polcy: RING_HASH\n', 'no such field in envoy.config.cluster.v3.Cluster'],
  ['    lb_policy: RING_HASH\n', '    lb_policy: RINGHASH\n', '"RINGHASH" is not a value of'],
  ['    connect_timeout: 2s\n', '    connect_timeout: 2\n', 'expected a duration'],
  ['                  - header:\n', '                  - cookie: { name: jamba }\n                    header:\n',
   'header and cookie are one of'],
  ['filters.http.router.v3.Router', 'filters.http.router.v3.Routr', 'unknown @type'],
  ['                  cluster: jambad_grpc\n', '                  cluster: jambad_grcp\n',
   'no cluster named jambad_grcp'],
  ['                  max_stream_duration:\n', '                  max_grpc_timeout: 0s\n                  max_stream_duration:\n',
   'deprecated in envoy.config.route.v3.RouteAction'],
  ['    - timeout: 2s\n      interval: 5s\n', '    - interval: 5s\n',
   'timeout is required in envoy.config.core.v3.HealthCheck'],
  ['      unhealthy_threshold: 1\n', '      unhealthy_threshold: -1\n', 'expected uint32'],
  ['      unhealthy_threshold: 1\n', '      unhealthy_threshold: [1]\n', 'expected uint32'],
  ['    ring_hash_lb_config: { minimum_ring_size: 1024 }\n',
   '    ring_hash_lb_config: { minimum_ring_size: 1024 }\n    maglev_lb_config: {}\n', 'are one of lb_config'],
];

function checkFile(file, text = readFileSync(file, 'utf8')) {
  const errors = [];
  const docs = parseAllDocuments(text);
  if (docs.length !== 1) return [`${file}: expected one YAML document, found ${docs.length}`];
  for (const error of docs[0].errors) errors.push(`${file}: YAML: ${error.message}`);
  if (errors.length) return errors;
  const config = docs[0].toJS();
  checkMessage(root.lookupType('envoy.config.bootstrap.v3.Bootstrap'), config, file, errors);
  checkClusterNames(config, errors);
  return errors;
}

const args = process.argv.slice(2);
let failed = false;
if (args[0] === '--self-test') {
  const original = readFileSync(args[1], 'utf8');
  for (const [from, to, expected] of mistakes) {
    if (!original.includes(from)) {
      console.log(`FAIL ${args[1]} has no ${JSON.stringify(from)} to change`);
      failed = true;
      continue;
    }
    const errors = checkFile(args[1], original.replace(from, to));
    if (errors.some((e) => e.includes(expected))) {
      console.log(`ok   refused: ${JSON.stringify(to.trim())} (${expected})`);
    } else {
      console.log(`FAIL ${JSON.stringify(to.trim())}: expected an error containing "${expected}", got:\n  ` +
                  `${errors.join('\n  ') || '(none)'}`);
      failed = true;
    }
  }
} else {
  for (const file of args) {
    const errors = checkFile(file);
    for (const error of errors) console.log(`error: ${error}`);
    console.log(`${file}: ${errors.length ? `${errors.length} errors` : 'valid against Envoy\'s v3 API protos'}`);
    failed ||= errors.length > 0;
  }
}
process.exit(failed ? 1 : 0);
