// Copies the API's .proto files from the repository's proto/ into this package's proto/
// (gitignored), which the client loads at run time and the package ships.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const from = path.join(__dirname, '..', '..', '..', 'proto');
const to = path.join(__dirname, '..', 'proto');
for (const dir of ['jamba/v1', 'google/rpc']) {
  fs.mkdirSync(path.join(to, dir), { recursive: true });
  for (const name of fs.readdirSync(path.join(from, dir))) {
    if (name.endsWith('.proto')) {
      fs.copyFileSync(path.join(from, dir, name), path.join(to, dir, name));
    }
  }
}
