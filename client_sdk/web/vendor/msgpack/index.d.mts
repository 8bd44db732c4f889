// written by tools/vendor.js: lets TypeScript find the types published beside index.mjs
export * from "./index.ts";
