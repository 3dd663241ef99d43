// Checks the Kubernetes manifests of deploy/ against Kubernetes' API schemas and against what
// jambad needs, so that a broken manifest fails CI:
//   1. every document of every file given parses and validates against its kind's OpenAPI schema
//      (the validators of the npm package kubernetes-models, generated from Kubernetes' own
//      schemas: types, enums, required fields);
//   2. strictly: a field the schema does not know (a typo such as `readinesProbe`) is an error,
//      found from the package's type declarations (the schemas allow unknown fields, as kubectl
//      without --validate=strict does);
//   3. across objects (with --kustomization): every file the kustomization names exists; the
//      ConfigMaps, Secrets and claims the pods mount exist; selectors match their pod labels;
//      probes name ports the container declares; the termination grace period outlasts the
//      preStop pause plus jambad's drain_timeout, and the liveness probe outlasts both;
//   4. (with --jambad) the real jambad starts with the jambad.conf of every ConfigMap and the
//      api-keys of every Secret (the paths, addresses and model overridden by flags for loopback),
//      so every key and value in them is one jambad accepts; then it drains on SIGTERM and exits 0.
//
// Usage: node check-kubernetes.mjs [--kustomization FILE] [--jambad BINARY --model DIR]
//                                  MANIFEST.yaml...
//        node check-kubernetes.mjs --expect-failures BAD.yaml...   (each BAD file's first line is
//        "# expect: TEXT": the check must fail with an error containing TEXT)
// Exit 0 when everything is valid (or every bad file fails as expected), 1 otherwise.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const modelsDir = join(here, 'node_modules', 'kubernetes-models');
const { parseAllDocuments } = await import('yaml').catch((error) => {
  throw new Error(`the npm packages of tests/deploy are missing: run scripts/install-deps (${error})`);
});
if (!existsSync(modelsDir)) {
  throw new Error('kubernetes-models is missing from tests/deploy: run scripts/install-deps');
}

// ---- YAML ----
function readDocuments(file) {
  const errors = [];
  const objects = [];
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    for (const error of doc.errors) errors.push(`${file}: YAML: ${error.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) objects.push(value);
  }
  return { objects, errors };
}

// ---- 1. the OpenAPI schema (kubernetes-models' validators) ----
function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^\w+$/.test(kind)) {
    return null;
  }
  const path = join(modelsDir, ...apiVersion.split("/"), `${kind}.mjs`);
  return existsSync(path) ? path : null;
}

async function validateSchema(object, where) {
  const path = modelModule(object.apiVersion, object.kind);
  if (path === null) return [`${where}: unknown apiVersion/kind ${object.apiVersion}/${object.kind}`];
  const module = await import(path);
  const Model = module[object.kind];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [`${where}: ${error.message}`];
  }
}

// ---- 2. unknown fields, from the type declarations (.d.ts) of kubernetes-models ----
const interfaces = new Map();  // .d.ts path -> {fields: Map(name -> type text), imports}

function resolveImport(fromFile, spec) {
  if (spec.startsWith('.')) return resolve(dirname(fromFile), spec.replace(/\.js$/, '') + '.d.ts');
  return join(here, 'node_modules', spec.replace(/\.js$/, '') + '.d.ts');
}

function loadInterface(file) {
  if (interfaces.has(file)) return interfaces.get(file);
  const text = readFileSync(file, 'utf8');
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    imports.set(m[1], resolveImport(file, m[2]));
  }
  let result = null;  // a type alias (Quantity, IntOrString, Time): a leaf
  const lines = text.split('\n');
  const start = lines.findIndex((line) => /^export interface I\w+( extends [\w, ]+)? \{$/.test(line));
  if (start >= 0) {
    const fields = new Map();
    for (let i = start + 1; i < lines.length && lines[i] !== '}'; ++i) {
      const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
      if (!m) continue;
      let type = m[2];
      while (type.endsWith('{')) {  // a map type spans lines until its closing "};"
        for (++i; !/^ {4}\};?$/.test(lines[i]); ++i) type += ' ' + lines[i].trim();
        type += ' }';
      }
      fields.set(m[1], type.replace(/;$/, '').trim());
    }
    result = { fields, imports };
  }
  interfaces.set(file, result);
  return result;
}

function checkFields(value, type, context, where, errors) {
  if (value === null || value === undefined) return;
  let m;
  if ((m = /^Array<(.+)>$/.exec(type))) {
    if (Array.isArray(value)) value.forEach((v, i) => checkFields(v, m[1], context, `${where}[${i}]`, errors));
  } else if ((m = /^\{ \[key: string\]: (.+?);? \}$/.exec(type))) {
    if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) checkFields(v, m[1], context, `${where}.${k}`, errors);
    }
  } else if (/^I\w+$/.test(type) && context.imports.has(type)) {
    const target = loadInterface(context.imports.get(type));
    if (target !== null) checkObject(value, target, where, errors);
  }
}

function checkObject(value, iface, where, errors) {
  if (typeof value !== 'object' || Array.isArray(value)) return;  // the schema check reports it
  for (const [key, v] of Object.entries(value)) {
    if (!iface.fields.has(key)) {
      errors.push(`${where}: unknown field "${key}"`);
      continue;
    }
    checkFields(v, iface.fields.get(key), iface, `${where}.${key}`, errors);
  }
}

function validateStrict(object, where) {
  const path = modelModule(object.apiVersion, object.kind);
  if (path === null) return [];
  const iface = loadInterface(path.replace(/\.mjs$/, ".d.ts"));
  const errors = [];
  if (iface === null) return [`${where}: no type declaration for ${object.kind}`];
  checkObject(object, iface, where, errors);
  return errors;
}

// ---- 3. across objects ----
const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);

// jambad's duration syntax (docs/jambad.md): 250ms, 30s, 5m, 2h, 1h30m, 7d.
function seconds(duration) {
  const units = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };
  let total = 0;
  const text = duration.trim();
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.map((p) => p[0]).join('') !== text || parts.length === 0) {
    throw new Error(`not a duration: "${duration}"`);
  }
  for (const p of parts) total += Number(p[1]) * units[p[2]];
  return total;
}

// The value of `key` in a jambad config file's text (the last line wins), or undefined.
function configValue(text, key) {
  let value;
  for (const line of text.split('\n')) {
    const m = /^\s*([\w-]+)\s*=\s*(.*)$/.exec(line.replace(/#.*/, ''));
    if (m && m[1].replace(/-/g, '_') === key) value = m[2].trim().replace(/^"(.*)"$/, '$1');
  }
  return value;
}

function checkAcross(objects, generatedConfigMaps) {
  const errors = [];
  const named = (kind, name) => objects.some((o) => o.kind === kind && o.metadata?.name === name);
  const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
  for (const workload of objects.filter((o) => o.kind === 'Deployment')) {
    const where = `Deployment ${workload.metadata?.name}`;
    const pod = workload.spec?.template ?? {};
    const podLabels = pod.metadata?.labels ?? {};
    if (!matches(workload.spec?.selector?.matchLabels, podLabels)) {
      errors.push(`${where}: spec.selector does not match the pod template's labels`);
    }
    for (const volume of pod.spec?.volumes ?? []) {
      if (volume.configMap && !named('ConfigMap', volume.configMap.name) &&
          !generatedConfigMaps.includes(volume.configMap.name)) {
        errors.push(`${where}: volume ${volume.name}: no ConfigMap ${volume.configMap.name}`);
      }
      if (volume.secret && !named('Secret', volume.secret.secretName)) {
        errors.push(`${where}: volume ${volume.name}: no Secret ${volume.secret.secretName}`);
      }
      if (volume.persistentVolumeClaim &&
          !named('PersistentVolumeClaim', volume.persistentVolumeClaim.claimName)) {
        errors.push(`${where}: volume ${volume.name}: no PersistentVolumeClaim ` +
                    volume.persistentVolumeClaim.claimName);
      }
    }
    const volumeNames = new Set((pod.spec?.volumes ?? []).map((v) => v.name));
    for (const container of pod.spec?.containers ?? []) {
      const cwhere = `${where}: container ${container.name}`;
      for (const mount of container.volumeMounts ?? []) {
        if (!volumeNames.has(mount.name)) errors.push(`${cwhere}: mounts unknown volume ${mount.name}`);
      }
      const ports = (container.ports ?? []).map((p) => p.containerPort);
      for (const probeName of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const probe = container[probeName];
        const port = probe?.grpc?.port ?? probe?.tcpSocket?.port ?? probe?.httpGet?.port;
        if (probe && typeof port === 'number' && !ports.includes(port)) {
          errors.push(`${cwhere}: ${probeName} probes port ${port}, which the container does not declare`);
        }
      }
      // jambad's drain: the grace period must cover the preStop pause and drain_timeout.
      const configVolume = (pod.spec?.volumes ?? []).find((v) =>
        (container.volumeMounts ?? []).some((m) => m.name === v.name && m.mountPath === '/etc/jambad/jambad.conf'));
      if (!configVolume?.configMap) continue;
      const configMap = configMaps.find((c) => c.metadata?.name === configVolume.configMap.name);
      const conf = configMap?.data?.['jambad.conf'];
      if (conf === undefined) {
        errors.push(`${cwhere}: its ConfigMap has no jambad.conf`);
        continue;
      }
      const drain = seconds(configValue(conf, 'drain_timeout') ?? '30s');
      const pause = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      const grace = pod.spec?.terminationGracePeriodSeconds ?? 30;
      if (!(grace > pause + drain)) {
        errors.push(`${cwhere}: terminationGracePeriodSeconds ${grace} does not exceed the preStop ` +
                    `pause ${pause}s plus drain_timeout ${drain}s`);
      }
      const liveness = container.livenessProbe;
      if (liveness) {
        const window = (liveness.periodSeconds ?? 10) * (liveness.failureThreshold ?? 3);
        if (window < grace) {
          errors.push(`${cwhere}: livenessProbe gives up after ${window}s, within the termination ` +
                      `grace period (${grace}s): a drain (NOT_SERVING) would be cut short`);
        }
      }
    }
  }
  for (const service of objects.filter((o) => o.kind === 'Service' || o.kind === 'PodDisruptionBudget' ||
                                              o.kind === 'NetworkPolicy')) {
    const selector = service.kind === 'Service' ? service.spec?.selector
                   : service.kind === 'NetworkPolicy' ? service.spec?.podSelector?.matchLabels
                   : service.spec?.selector?.matchLabels;
    const pods = objects.filter((o) => o.kind === 'Deployment' && matches(selector, o.spec?.template?.metadata?.labels));
    if (pods.length === 0) {
      errors.push(`${service.kind} ${service.metadata?.name}: its selector matches no pod template`);
      continue;
    }
    if (service.kind !== 'Service') continue;
    for (const port of service.spec?.ports ?? []) {
      if (typeof port.targetPort !== 'string') continue;
      const declared = pods.every((d) => d.spec.template.spec.containers.some((c) =>
        (c.ports ?? []).some((p) => p.name === port.targetPort)));
      if (!declared) errors.push(`Service ${service.metadata?.name}: targetPort ${port.targetPort} is not a container port name`);
    }
  }
  return errors;
}

// ---- 4. jambad itself reads the ConfigMap ----
function runJambad(jambad, model, conf, apiKeys) {
  const work = mkdtempSync(join(tmpdir(), 'jamba-deploy-config-'));
  writeFileSync(join(work, 'jambad.conf'), conf);
  const args = ['--config', join(work, 'jambad.conf'), '--model', model,
                '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
                '--metrics-listen', '127.0.0.1:0', '--session-dir', join(work, 'sessions')];
  if (apiKeys !== undefined) {
    writeFileSync(join(work, 'api-keys'), apiKeys);
    args.push('--api-key-file', join(work, 'api-keys'));
  }
  return new Promise((resolvePromise) => {
    const child = spawn(jambad, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let listening = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 120000);
    child.stdout.on('data', (data) => {
      stdout += data;
      if (!listening && stdout.includes('"event":"listening"')) {
        listening = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr.on('data', (data) => { stderr += data; });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      rmSync(work, { recursive: true, force: true });
      if (listening && code === 0) resolvePromise([]);
      else resolvePromise([`jambad with this jambad.conf: ${listening ? 'listened, then ' : 'did not listen, '}` +
                           `exit ${code ?? signal}:\n${stderr.trim()}`]);
    });
  });
}

// ---- main ----
async function checkFiles(files, kustomization) {
  const errors = [];
  const objects = [];
  let generated = [];
  if (kustomization !== undefined) {
    const { objects: [k], errors: yamlErrors } = readDocuments(kustomization);
    errors.push(...yamlErrors);
    const base = dirname(kustomization);
    for (const resource of k?.resources ?? []) {
      if (!existsSync(join(base, resource))) errors.push(`${kustomization}: no file ${resource}`);
    }
    for (const generator of k?.configMapGenerator ?? []) {
      generated.push(generator.name);
      for (const file of generator.files ?? []) {
        const path = file.includes('=') ? file.split('=')[1] : file;
        if (!existsSync(join(base, path))) errors.push(`${kustomization}: no file ${path}`);
      }
    }
  }
  for (const file of files) {
    const { objects: docs, errors: yamlErrors } = readDocuments(file);
    errors.push(...yamlErrors);
    for (const object of docs) {
      const where = `${file}: ${object.kind} ${object.metadata?.name}`;
      errors.push(...(await validateSchema(object, where)));
      errors.push(...validateStrict(object, where));
      objects.push(object);
    }
  }
  errors.push(...checkAcross(objects, generated));
  return { errors, objects };
}

const args = process.argv.slice(2);
let failed = false;
if (args[0] === '--expect-failures') {
  for (const file of args.slice(1)) {
    const expected = /^# expect: (.*)$/m.exec(readFileSync(file, 'utf8'))?.[1];
    const { errors } = await checkFiles([file]);
    if (expected === undefined) {
      console.log(`FAIL ${file}: no "# expect:" line`);
      failed = true;
    } else if (errors.some((e) => e.includes(expected))) {
      console.log(`ok   ${file}: refused (${expected})`);
    } else {
      console.log(`FAIL ${file}: expected an error containing "${expected}", got:\n  ${errors.join('\n  ') || '(none)'}`);
      failed = true;
    }
  }
} else {
  const option = (name) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args.splice(i, 2)[1];
  };
  const kustomization = option('--kustomization');
  const jambad = option('--jambad');
  const model = option('--model');
  const { errors, objects } = await checkFiles(args, kustomization);
  if (jambad !== undefined) {
    const apiKeys = objects.find((o) => o.kind === 'Secret' && o.stringData?.['api-keys'] !== undefined)
      ?.stringData['api-keys'];
    for (const configMap of objects.filter((o) => o.kind === 'ConfigMap' && o.data?.['jambad.conf'])) {
      const found = await runJambad(jambad, model, configMap.data['jambad.conf'], apiKeys);
      errors.push(...found.map((e) => `ConfigMap ${configMap.metadata.name}: ${e}`));
      if (found.length === 0) console.log(`ConfigMap ${configMap.metadata.name}: jambad started with its jambad.conf and drained`);
    }
  }
  for (const error of errors) console.log(`error: ${error}`);
  failed = errors.length > 0;
  console.log(`${objects.length} Kubernetes objects in ${args.length} files: ` +
              (failed ? `${errors.length} errors` : 'valid'));
}
process.exit(failed ? 1 : 0);
