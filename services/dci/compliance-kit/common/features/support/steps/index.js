/**
 * Common Step Definitions Index
 *
 * Re-exports all step definitions for easy importing.
 * These step definitions are domain-agnostic and use the World context
 * for domain-specific configuration.
 */

// Import all step definitions to register them with Cucumber
import './registry-search.js';
import './registry-subscribe.js';
import './registry-txn-status.js';
import './registry-callbacks.js';
import './registry-async-workflow.js';
import './registry-query-types.js';
import './registry-security.js';
import './registry-negative.js';

// Re-export helpers for use in domain-specific step definitions
export * from './helpers.js';
