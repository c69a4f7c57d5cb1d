export * from './errors.js';
export * from './clock.js';
export * from './logger.js';
export * from './tensor.js';
export * from './signature.js';
export * from './config.js';
export * from './model-ref.js';
export * from './card.js';
