#!/usr/bin/env node
// Validates Kubernetes manifests offline against the Kubernetes API's OpenAPI
// schema as bundled by the `kubernetes-models` package (types, required
// fields, enums, formats such as quantities), in strict mode: a field the
// schema does not know is an error, as with `kubectl --validate=strict`.
// With --policy it also checks the plugin's least-privilege rules
// (policy.mjs).
//
// Usage: node validate.mjs [--policy] FILE...   ('-' reads standard input)
// Exit status: 0 all valid, 1 a document is invalid, 2 usage or read error.
//
// Strict mode works by watching which properties the compiled schema
// validator reads: it reads every property its schema declares (and every
// key of a map), so a key it never read is unknown to the schema.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { checkPolicy } from "./policy.mjs";

// Kinds that are not Kubernetes API objects: `kubectl kustomize` checks them.
const kSkippedGroups = ["kustomize.config.k8s.io/"];

function readInput(file) {
  return file === "-" ? readFileSync(0, "utf8") : readFileSync(file, "utf8");
}

// Wraps `root` so that every property read is recorded; unknown() lists the
// keys of plain objects that were never read, as JSON-pointer-like paths.
function trackReads(root) {
  const records = new Map();
  const proxies = new WeakMap();
  function wrap(value, path) {
    if (value === null || typeof value !== "object") return value;
    if (proxies.has(value)) return proxies.get(value);
    const seen = new Set();
    records.set(value, { path, seen });
    const proxy = new Proxy(value, {
      get(target, key, receiver) {
        const result = Reflect.get(target, key, receiver);
        if (typeof key !== "string") return result;
        seen.add(key);
        return Object.hasOwn(target, key) ? wrap(result, `${path}/${key}`) : result;
      },
      has(target, key) {
        if (typeof key === "string") seen.add(key);
        return Reflect.has(target, key);
      },
      ownKeys(target) {
        for (const key of Object.keys(target)) seen.add(key);
        return Reflect.ownKeys(target);
      },
    });
    proxies.set(value, proxy);
    return proxy;
  }
  const proxy = wrap(root, "");
  return {
    proxy,
    unknown() {
      const out = [];
      for (const [target, { path, seen }] of records) {
        if (Array.isArray(target)) continue;
        for (const key of Object.keys(target)) {
          if (!seen.has(key)) out.push(`${path}/${key}`);
        }
      }
      return out;
    },
  };
}

async function modelFor(apiVersion, kind) {
  let module;
  try {
    module = await import(`kubernetes-models/${apiVersion}`);
  } catch {
    return null;
  }
  return typeof module[kind] === "function" ? module[kind] : null;
}

// Returns a list of error strings for one parsed document.
async function validateObject(obj) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    return ["not a mapping"];
  }
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return ["missing apiVersion or kind"];
  }
  const Model = await modelFor(apiVersion, kind);
  if (!Model) return [`unknown kind ${kind} in ${apiVersion}`];
  const copy = structuredClone(obj);
  const tracker = trackReads(copy);
  try {
    Model.prototype.validate.call(tracker.proxy);
  } catch (e) {
    return [e.message];
  }
  const errors = tracker.unknown().map((p) => `${p}: unknown field`);
  if (!obj.metadata || typeof obj.metadata.name !== "string" ||
      obj.metadata.name === "") {
    errors.push("/metadata/name: required");
  }
  return errors;
}

async function main(argv) {
  const policy = argv.includes("--policy");
  const files = argv.filter((a) => a !== "--policy");
  if (files.length === 0) {
    console.error("usage: validate.mjs [--policy] FILE...");
    return 2;
  }
  let failed = 0;
  let checked = 0;
  for (const file of files) {
    let docs;
    try {
      docs = parseAllDocuments(readInput(file));
    } catch (e) {
      console.error(`${file}: ${e.message}`);
      return 2;
    }
    for (const [index, doc] of docs.entries()) {
      const where = `${file}: document ${index + 1}`;
      if (doc.errors.length > 0) {
        console.error(`${where}: YAML: ${doc.errors[0].message}`);
        failed++;
        continue;
      }
      const obj = doc.toJS();
      if (obj === null || obj === undefined) continue;
      if (kSkippedGroups.some((g) => String(obj.apiVersion).startsWith(g))) continue;
      const name = `${obj.kind} ${obj.metadata?.name ?? "?"}`;
      const errors = await validateObject(obj);
      if (policy && errors.length === 0) errors.push(...checkPolicy(obj));
      checked++;
      for (const error of errors) console.error(`${where} (${name}): ${error}`);
      if (errors.length > 0) failed++;
    }
  }
  console.log(`validate: ${checked} object(s) checked, ${failed} invalid` +
    (policy ? " (schema, strict fields, policy)" : " (schema, strict fields)"));
  return failed > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
