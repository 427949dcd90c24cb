// Can I email's data (caniemail.com) on each mail file named on the command line, for every client it knows:
// prints {file: {errors, warnings, notes}} as JSON for tests/test_mail_clients.py.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { doIUseEmail } from "@jsx-email/doiuse-email";

const reports = {};
for (const file of process.argv.slice(2)) {
  const { errors = [], warnings = [], notes = [] } = doIUseEmail(readFileSync(file, "utf8"), { emailClients: ["*"] });
  reports[basename(file)] = { errors, warnings, notes };
}
process.stdout.write(JSON.stringify(reports));
