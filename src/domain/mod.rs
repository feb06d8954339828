//! Pure, synchronous logic: no I/O, no clock, no environment. Everything it needs arrives as
//! arguments, which is what keeps its tests small and exhaustive.

pub mod annotations;
pub mod argo;
pub mod audit;
pub mod certificates;
pub mod consumers;
pub mod cron;
pub mod diff;
pub mod drift;
pub mod edit_file;
pub mod env;
pub mod env_file;
pub mod external;
pub mod fleet;
mod fuzz;
pub mod generate;
pub mod gitops;
pub mod history;
pub mod inventory;
pub mod issuer;
pub mod journal;
pub mod key_changes;
pub mod manifest;
pub mod model;
pub mod multi;
pub mod not_generated;
pub mod plan;
pub mod propagate;
pub mod restart_budget;
pub mod rollout;
pub mod seal;
pub mod sealed_file;
pub mod secret_value;
pub mod selector;
pub mod tls;
pub mod versioned;
pub mod waves;
