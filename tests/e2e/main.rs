//! End-to-end tests against the real local cluster (scripts/cluster-up.sh): each builds a
//! scenario, runs the real binary, and checks what a user would: exit code, stdout, stderr,
//! the cluster afterwards, and that no secret value was printed.

mod audit;
mod auth;
mod budget;
mod cert_manager;
mod completion;
mod diff;
mod docs;
mod edit;
mod events;
mod external;
mod faults;
mod fleet;
mod gitops;
mod interactive;
mod issuers;
mod jobs;
mod lifecycle;
mod limits;
mod rbac;
mod readme;
mod rollback;
mod rollouts;
mod rotate;
mod rotate_many;
mod rotate_sealed;
mod seal;
mod sealed_upkeep;
mod support;
mod testbed;
mod tls;
mod trust;
mod vault;
mod verify;
