// Validates Strimzi resources against Strimzi's CRD schemas, as compiled into validators by
// @kubernetes-models/strimzi-kafka-operator (MIT, Tommy Chen; generated from the CRDs of Strimzi
// 0.49.0 for v1beta2 and 1.0.0 for v1, Apache-2.0). Reads a JSON array of resources on stdin,
// prints one line per resource, exits 1 if any is invalid or of a kind it does not know.
import { readFileSync } from "node:fs";

const resources = JSON.parse(readFileSync(0, "utf8"));
let failed = 0;
for (const resource of resources) {
  const [group, version] = resource.apiVersion.split("/");
  const where = `${resource.kind} ${resource.metadata?.name}`;
  let Model;
  try {
    Model = (await import(`@kubernetes-models/strimzi-kafka-operator/${group}/${version}/${resource.kind}`))[resource.kind];
  } catch (error) {
    console.log(`${where}: no schema for ${resource.apiVersion} ${resource.kind}`);
    failed++;
    continue;
  }
  try {
    new Model(resource).validate();
    console.log(`${where}: valid`);
  } catch (error) {
    console.log(`${where}: INVALID ${error.message}`);
    failed++;
  }
}
process.exit(failed ? 1 : 0);
