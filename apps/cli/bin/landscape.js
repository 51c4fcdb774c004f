#!/usr/bin/env node
// Committed shim so `npm ci` can link the bin before the TypeScript build exists.
require('../dist/main.js').main();
