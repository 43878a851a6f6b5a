// Validates FHIR R4 JSON files with an independent FHIR library, FHIR.js (npm `fhir`, Lantana
// Group), against the R4 core StructureDefinitions: required elements, cardinality, data types and
// formats, required value-set bindings, unknown properties, and every resource inside a Bundle.
// The wallet's own checks (wallet/src/fhir.rs, fhir_facts.rs) are not asked.
//
//   node web/tests/fhir-validate.mjs consents.json events.json export.json ...
//
// Prints one line per file; exits 1 if any file is not valid R4. Warnings other than an unknown
// property (a code outside an extensible value set, say) are printed and allowed.
import { readFileSync } from 'node:fs';
import fhirJs from 'fhir';

const { Fhir, Versions } = fhirJs;
const fhir = new Fhir(Versions.r4);
let failed = 0;
for (const file of process.argv.slice(2)) {
  let resource;
  try {
    resource = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    console.log(`INVALID ${file}: not JSON (${error.message})`);
    failed++;
    continue;
  }
  const { valid, messages } = fhir.validate(resource);
  const errors = messages.filter((m) => m.severity === 'error' || /Unexpected property/.test(m.message));
  const warnings = messages.filter((m) => !errors.includes(m));
  const count = resource.resourceType === 'Bundle' ? `${resource.entry?.length ?? 0} entries` : '1 resource';
  if (!valid || errors.length) {
    failed++;
    console.log(`INVALID ${file} (${resource.resourceType}, ${count}):`);
    for (const m of errors) console.log(`  ${m.resourceId} ${m.location}: ${m.message}`);
  } else {
    console.log(`valid R4: ${file} (${resource.resourceType}, ${count}${warnings.length ? `, ${warnings.length} warning(s)` : ''})`);
  }
  for (const m of warnings) console.log(`  warning ${m.resourceId} ${m.location}: ${m.message}`);
}
process.exit(failed ? 1 : 0);
