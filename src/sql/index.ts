export * from './quote.js';
export * from './errors.js';
export * from './connection.js';
export * from './discovery.js';
export * from './preflight.js';
export * from './freeze.js';
export * from './certificate.js';
