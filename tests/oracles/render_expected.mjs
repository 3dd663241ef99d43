// Renders every case of tests/data/chat_templates/cases.json with every template listed in
// templates.json through @huggingface/jinja (the reference), writing expected_<name>.json: one
// output string per case, or {"error": message} where the reference fails.
//
//   node render_expected.mjs            rewrite the expected files
//   node render_expected.mjs --check    exit 1 if a committed file differs from a fresh render
//
// Run from tests/oracles (where node_modules is): ES modules resolve imports from the script's
// folder. scripts/install-deps installs the pinned package with `npm ci`.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const dataDir = join(root, "tests", "data", "chat_templates");
const check = process.argv.includes("--check");

const { cases } = JSON.parse(readFileSync(join(dataDir, "cases.json"), "utf8"));
const { templates } = JSON.parse(readFileSync(join(dataDir, "templates.json"), "utf8"));

let failed = false;
for (const spec of templates) {
  const template = new Template(readFileSync(join(root, spec.path), "utf8"));
  const outputs = cases.map((c) => {
    const variables = { bos_token: spec.bos_token, eos_token: spec.eos_token, messages: c.messages };
    for (const key of ["tools", "documents", "add_generation_prompt", "enable_thinking"]) {
      if (key in c) variables[key] = c[key];
    }
    try {
      return template.render(variables);
    } catch (error) {
      return { error: String(error.message) };
    }
  });
  const errors = outputs.filter((o) => typeof o !== "string").length;
  const file = join(dataDir, `expected_${spec.name}.json`);
  const text = JSON.stringify({ template: spec.name, outputs }, null, 0) + "\n";
  if (check) {
    if (readFileSync(file, "utf8") !== text) {
      console.error(`render_expected: ${file} differs from what @huggingface/jinja renders now`);
      failed = true;
    } else {
      console.log(`render_expected: ${spec.name}: ${outputs.length} outputs match (${errors} errors)`);
    }
  } else {
    writeFileSync(file, text);
    console.log(`render_expected: ${spec.name}: wrote ${outputs.length} outputs (${errors} errors)`);
  }
}
process.exit(failed ? 1 : 0);
