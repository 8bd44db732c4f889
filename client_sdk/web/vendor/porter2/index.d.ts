// written by tools/vendor.js: the types porter2 publishes in its index.d.ts
export function stem(word: string): string;
