// Validate an AsyncAPI document with the official parser (@asyncapi/parser, which runs its Spectral rules).
// Usage: node validate.mjs <document.json>. Prints a JSON report; exit 0 valid, 1 invalid, 2 usage.
import { Parser, fromFile } from '@asyncapi/parser';

const path = process.argv[2];
if (!path) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}
const severities = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await fromFile(new Parser(), path).parse();
const report = {
  valid: document !== undefined && !diagnostics.some((d) => d.severity === 0),
  version: document?.version(),
  channels: document ? document.channels().all().map((c) => c.address()) : [],
  messages: document ? document.messages().all().map((m) => m.name()) : [],
  diagnostics: diagnostics.map((d) => ({
    severity: severities[d.severity] ?? String(d.severity),
    code: d.code,
    message: d.message,
    path: d.path.join('/'),
  })),
};
console.log(JSON.stringify(report, null, 2));
process.exit(report.valid ? 0 : 1);
